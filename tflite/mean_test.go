package tflite

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// refMean averages vals (of shape) over axes (normalised, no duplicates), returning the result
// shape with reduced dimensions kept as 1.
func refMean(vals []float64, shape []int, axes []int) ([]int, []float64) {
	out := slices.Clone(shape)
	for _, a := range axes {
		out[a] = 1
	}
	sum := make([]float64, numElements(out))
	cnt := make([]int, len(sum))
	for i, v := range vals {
		idx := unravel(i, shape)
		for _, a := range axes {
			idx[a] = 0
		}
		flat := 0
		for d := range out {
			flat = flat*out[d] + idx[d]
		}
		sum[flat] += v
		cnt[flat]++
	}
	for i := range sum {
		sum[i] /= float64(cnt[i])
	}
	return out, sum
}

var meanCases = []struct {
	shape    []int
	axes     []int32
	keepDims bool
	want     []int
}{
	{[]int{1, 7, 7, 16}, []int32{1, 2}, true, []int{1, 1, 1, 16}},
	{[]int{2, 3, 5, 4}, []int32{2, 1}, false, []int{2, 4}},
	{[]int{2, 3, 4}, []int32{-1}, false, []int{2, 3}},
	{[]int{2, 3, 4}, []int32{0, -1, 2}, true, []int{1, 3, 1}},
	{[]int{5}, []int32{0}, false, []int{}},
	{[]int{2, 3}, []int32{}, false, []int{2, 3}},
}

func TestMeanFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, c := range meanCases {
		v := randF32(r, numElements(c.shape), 10)
		out := tensorF32(nil)
		in := []*Tensor{tensorF32(c.shape, v...), constI32([]int{len(c.axes)}, c.axes...)}
		if err := runOp(t, "MEAN", newMean, mapOptions{0: c.keepDims}, in, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.shape, c.want) {
			t.Fatalf("%v over %v: shape %v, want %v", c.shape, c.axes, out.shape, c.want)
		}
		_, want := refMean(toF64(v), c.shape, normAxes(c.axes, len(c.shape)))
		checkClose(t, out.Float32s(), want, "MEAN")
	}
}

func normAxes(axes []int32, rank int) []int {
	var out []int
	for _, a := range axes {
		x := int(a)
		if x < 0 {
			x += rank
		}
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func TestMeanQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(63, 64))
	for _, typ := range []DataType{UInt8, Int8} {
		lo, _ := typeRange(typ)
		for _, c := range meanCases {
			for _, q := range [][4]float64{{0.1, 128, 0.1, 128}, {0.1, 100, 0.03, 20}, {0.02, 250, 0.05, 0}} {
				v := randQ(r, typ, numElements(c.shape))
				in := tensorQ(typ, c.shape, float32(q[0]), int64(lo)+int64(q[1]), v...)
				out := qOut(typ, float32(q[2]), int64(lo)+int64(q[3]))
				ins := []*Tensor{in, constI32([]int{len(c.axes)}, c.axes...)}
				if err := runOp(t, "MEAN", newMean, mapOptions{0: c.keepDims}, ins, []*Tensor{out}); err != nil {
					t.Fatal(err)
				}
				real := make([]float64, len(v))
				for i, x := range v {
					real[i] = q[0] * float64(int64(x)-int64(lo)-int64(q[1]))
				}
				_, mean := refMean(real, c.shape, normAxes(c.axes, len(c.shape)))
				want := make([]int32, len(mean))
				for i, m := range mean {
					want[i] = refQuantize(typ, m, float32(q[2]), int64(lo)+int64(q[3]))
				}
				checkWithinOne(t, qValues(out), want, "MEAN "+typ.String())
			}
		}
	}
	// Hand-computed: mean of 1, 2, 3, 6 is 3, same quantization in and out.
	out := qOut(UInt8, 0.5, 10)
	in := []*Tensor{tensorQ(UInt8, []int{1, 2, 2, 1}, 0.5, 10, 11, 12, 13, 16), constI32([]int{2}, 1, 2)}
	if err := runOp(t, "MEAN", newMean, mapOptions{0: true}, in, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got := qValues(out); len(got) != 1 || got[0] != 13 {
		t.Errorf("MEAN = %v, want [13]", got)
	}
}

func TestMeanErrors(t *testing.T) {
	in := tensorF32([]int{2, 3})
	wantErr(t, runOp(t, "MEAN", newMean, nil, []*Tensor{in, constI32([]int{1}, 2)}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "MEAN", newMean, nil, []*Tensor{in, constI32([]int{1}, -3)}, []*Tensor{tensorF32(nil)}), false)
	notConst := constI32([]int{1}, 0)
	notConst.constant = false
	wantDynamic(t, runOp(t, "MEAN", newMean, nil, []*Tensor{in, notConst}, []*Tensor{tensorF32(nil)}))
	wantErr(t, runOp(t, "MEAN", newMean, nil, []*Tensor{constI32([]int{2}), constI32([]int{1}, 0)}, []*Tensor{newTensor("o", Int32, nil, nil)}), true)
	wantErr(t, runOp(t, "MEAN", newMean, nil, []*Tensor{tensorF32([]int{0, 3}), constI32([]int{1}, 0)}, []*Tensor{tensorF32(nil)}), false)
}
