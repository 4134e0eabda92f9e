package tflite

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func refSoftmax(x []float64, depth int, beta float64) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x); r += depth {
		var sum float64
		for i := r; i < r+depth; i++ {
			out[i] = math.Exp(beta * x[i])
			sum += out[i]
		}
		for i := r; i < r+depth; i++ {
			out[i] /= sum
		}
	}
	return out
}

func TestSoftmaxFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		shape []int
		beta  float32
		scale float32
	}{
		{[]int{1, 10}, 1, 5},
		{[]int{3, 4, 7}, 0.5, 10},
		{[]int{2, 1001}, 1, 20},
		{[]int{5}, 2, 1},
		{[]int{4, 1}, 1, 3},
	} {
		v := randF32(r, numElements(c.shape), c.scale)
		out := tensorF32(nil)
		if err := runOp(t, "SOFTMAX", newSoftmax, mapOptions{0: c.beta}, []*Tensor{tensorF32(c.shape, v...)}, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		checkClose(t, out.Float32s(), refSoftmax(toF64(v), c.shape[len(c.shape)-1], float64(c.beta)), "SOFTMAX")
	}
	// Large inputs overflow exp without the max subtraction.
	out := tensorF32(nil)
	if err := runOp(t, "SOFTMAX", newSoftmax, mapOptions{0: float32(1)}, []*Tensor{tensorF32([]int{3}, 1000, 1000, 999)}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	e := math.Exp(-1)
	checkClose(t, out.Float32s(), []float64{1 / (2 + e), 1 / (2 + e), e / (2 + e)}, "SOFTMAX large")
}

func TestSoftmaxQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, typ := range []DataType{UInt8, Int8} {
		lo, _ := typeRange(typ)
		for _, c := range []struct {
			shape []int
			beta  float32
			scale float32
			zp    int64
		}{
			{[]int{1, 1001}, 1, 0.1, int64(lo) + 128},
			{[]int{4, 10}, 1, 0.2, int64(lo) + 50},
			{[]int{2, 3, 5}, 0.7, 0.05, int64(lo)},
			{[]int{8, 2}, 1, 0.5, int64(lo) + 255},
		} {
			v := randQ(r, typ, numElements(c.shape))
			in := tensorQ(typ, c.shape, c.scale, c.zp, v...)
			out := qOut(typ, 1.0/256, int64(lo))
			if err := runOp(t, "SOFTMAX", newSoftmax, mapOptions{0: c.beta}, []*Tensor{in}, []*Tensor{out}); err != nil {
				t.Fatal(err)
			}
			x := make([]float64, len(v))
			for i, q := range v {
				x[i] = float64(c.scale) * float64(int64(q)-c.zp)
			}
			ref := refSoftmax(x, c.shape[len(c.shape)-1], float64(c.beta))
			want := make([]int32, len(ref))
			for i, p := range ref {
				want[i] = refQuantize(typ, p, 1.0/256, int64(lo))
			}
			checkWithinOne(t, qValues(out), want, "SOFTMAX "+typ.String())
			if !slices.Equal(out.shape, c.shape) {
				t.Fatalf("shape %v", out.shape)
			}
		}
	}
	// Hand-computed: two equal logits -> 0.5 each -> 128.
	out := qOut(UInt8, 1.0/256, 0)
	if err := runOp(t, "SOFTMAX", newSoftmax, mapOptions{0: float32(1)}, []*Tensor{tensorQ(UInt8, []int{1, 2}, 0.1, 0, 77, 77)}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got := qValues(out); got[0] != 128 || got[1] != 128 {
		t.Errorf("SOFTMAX of equal logits = %v", got)
	}
}

func TestSoftmaxErrors(t *testing.T) {
	in := tensorQ(UInt8, []int{1, 4}, 0.1, 128)
	wantErr(t, runOp(t, "SOFTMAX", newSoftmax, mapOptions{0: float32(1)}, []*Tensor{in}, []*Tensor{qOut(UInt8, 1.0/255, 0)}), true)
	wantErr(t, runOp(t, "SOFTMAX", newSoftmax, mapOptions{0: float32(1)}, []*Tensor{in}, []*Tensor{qOut(Int8, 1.0/256, -128)}), true)
	wantErr(t, runOp(t, "SOFTMAX", newSoftmax, mapOptions{0: float32(1)}, []*Tensor{tensorF32([]int{})}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "SOFTMAX", newSoftmax, mapOptions{0: float32(math.NaN())}, []*Tensor{tensorF32([]int{2})}, []*Tensor{tensorF32(nil)}), false)
}
