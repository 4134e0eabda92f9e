package tflite

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPadFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	// Two threads as well: a pad of the last dimension alone (the channels of BlazeFace's
	// [1 64 64 24] -> [1 64 64 28]) writes its rows over the pool.
	p := newPool(2)
	defer p.close()
	for _, c := range []struct {
		shape []int
		pads  []int32
	}{
		{[]int{2, 3}, []int32{1, 0, 2, 1}},
		{[]int{1, 4, 4, 3}, []int32{0, 0, 1, 1, 1, 1, 0, 0}},
		{[]int{1, 2, 1, 2, 1, 2}, []int32{0, 1, 1, 0, 0, 0, 2, 2, 1, 1, 0, 3}},
		{[]int{3}, []int32{0, 0}},
		{[]int{2, 0}, []int32{1, 1, 1, 1}},
		{[]int{1, 64, 64, 24}, []int32{0, 0, 0, 0, 0, 0, 0, 4}},
		{[]int{5, 3}, []int32{0, 0, 2, 1}},
		{[]int{7}, []int32{3, 0}},
	} {
		v := randF32(r, numElements(c.shape), 5)
		rank := len(c.shape)
		out := tensorF32(nil)
		if err := runOp(t, "PAD", newPad, nil, []*Tensor{tensorF32(c.shape, v...), constI32([]int{rank, 2}, c.pads...)}, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		out2 := tensorF32(nil)
		if err := runOpPool(t, "PAD", newPad, nil, p, []*Tensor{tensorF32(c.shape, v...), constI32([]int{rank, 2}, c.pads...)}, []*Tensor{out2}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.data, out2.data) {
			t.Errorf("%v padded %v: two threads differ from one", c.shape, c.pads)
		}
		shape := make([]int, rank)
		for d := range rank {
			shape[d] = c.shape[d] + int(c.pads[2*d]+c.pads[2*d+1])
		}
		if !slices.Equal(out.shape, shape) {
			t.Fatalf("shape %v, want %v", out.shape, shape)
		}
		want := make([]float64, numElements(shape))
		for i := range want {
			idx := unravel(i, shape)
			src, inside := 0, true
			for d := range rank {
				j := idx[d] - int(c.pads[2*d])
				if j < 0 || j >= c.shape[d] {
					inside = false
					break
				}
				src = src*c.shape[d] + j
			}
			if inside {
				want[i] = float64(v[src])
			}
		}
		checkClose(t, out.Float32s(), want, "PAD")
	}
}

func TestPadQuantized(t *testing.T) {
	in := tensorQ(Int8, []int{1, 2}, 0.1, -5, 7, -8)
	pads := newTensor("p", Int64, []int{2, 2}, nil)
	copy(pads.Int64s(), []int64{0, 0, 1, 2})
	pads.constant = true
	out := qOut(Int8, 0.1, -5)
	if err := runOp(t, "PAD", newPad, nil, []*Tensor{in, pads}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := qValues(out), []int32{-5, 7, -8, -5, -5}; !slices.Equal(got, want) {
		t.Errorf("int8 = %v, want %v", got, want)
	}
	in = tensorQ(UInt8, []int{2}, 0.1, 128, 1, 2)
	out = qOut(UInt8, 0.1, 128)
	if err := runOp(t, "PAD", newPad, nil, []*Tensor{in, constI32([]int{1, 2}, 1, 1)}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := qValues(out), []int32{128, 1, 2, 128}; !slices.Equal(got, want) {
		t.Errorf("uint8 = %v, want %v", got, want)
	}
	i64 := newTensor("i", Int64, []int{2}, nil)
	copy(i64.Int64s(), []int64{-1 << 40, 1 << 40})
	o64 := newTensor("o", Int64, nil, nil)
	if err := runOp(t, "PAD", newPad, nil, []*Tensor{i64, constI32([]int{1, 2}, 0, 1)}, []*Tensor{o64}); err != nil {
		t.Fatal(err)
	}
	if got, want := o64.Int64s(), []int64{-1 << 40, 1 << 40, 0}; !slices.Equal(got, want) {
		t.Errorf("int64 = %v, want %v", got, want)
	}
}

func TestPadErrors(t *testing.T) {
	in := tensorF32([]int{2, 3})
	wantErr(t, runOp(t, "PAD", newPad, nil, []*Tensor{in, constI32([]int{2, 2}, 0, -1, 0, 0)}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "PAD", newPad, nil, []*Tensor{in, constI32([]int{1, 2}, 0, 1)}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "PAD", newPad, nil, []*Tensor{in, constI32([]int{2, 2}, 0, 1<<30, 0, 1<<30)}, []*Tensor{tensorF32(nil)}), false)
	notConst := constI32([]int{2, 2}, 0, 0, 0, 0)
	notConst.constant = false
	wantDynamic(t, runOp(t, "PAD", newPad, nil, []*Tensor{in, notConst}, []*Tensor{tensorF32(nil)}))
	floatPads := tensorF32([]int{2, 2})
	floatPads.constant = true
	wantErr(t, runOp(t, "PAD", newPad, nil, []*Tensor{in, floatPads}, []*Tensor{tensorF32(nil)}), true)
	wantErr(t, runOp(t, "PAD", newPad, nil, []*Tensor{in, constI32([]int{2, 2}, 0, 0, 0, 0)}, []*Tensor{constI32(nil)}), true)
}
