package tflite

import (
	"math/rand/v2"
	"testing"
)

// refGather is a naive GATHER: out[outer, idx..., inner] = in[outer, indices[idx], inner], with
// the first batch dimensions of the input and the indices shared.
func refGather(in []float64, shape []int, idx []int, ishape []int, axis, batch int) ([]int, []float64) {
	out := append(append(append([]int{}, shape[:axis]...), ishape[batch:]...), shape[axis+1:]...)
	res := make([]float64, numElements(out))
	for o := range res {
		oi := unravel(o, out)
		// oi = [shape[:axis] | ishape[batch:] | shape[axis+1:]]
		pre := oi[:axis]
		ii := append(append([]int{}, oi[:batch]...), oi[axis:axis+len(ishape)-batch]...)
		post := oi[axis+len(ishape)-batch:]
		src := append(append(append([]int{}, pre...), idx[ravel(ii, ishape)]), post...)
		res[o] = in[ravel(src, shape)]
	}
	return out, res
}

func TestGather(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	cases := []struct {
		shape, ishape []int
		axis, batch   int
	}{
		{[]int{5}, []int{3}, 0, 0},
		{[]int{5, 3}, []int{4}, 0, 0},
		{[]int{2, 6, 3}, []int{2, 2}, 1, 0},
		{[]int{2, 6, 3}, []int{}, 2, 0},
		{[]int{2, 4, 3}, []int{2, 3}, 1, 1},
		{[]int{3, 2, 5, 2}, []int{3, 2, 4}, 2, 2},
		{[]int{4, 3}, []int{0}, 0, 0},
	}
	for _, c := range cases {
		for _, typ := range []DataType{Float32, Int8, UInt8, Int32, Int64, Bool} {
			for _, it := range []DataType{Int32, Int64, Int16} {
				in := randTensor(r, typ, c.shape)
				idx := newTensor("i", it, c.ishape, nil)
				vals := make([]float64, idx.NumElements())
				ivals := make([]int, len(vals))
				for i := range vals {
					ivals[i] = r.IntN(c.shape[c.axis])
					vals[i] = float64(ivals[i])
				}
				setValues(idx, vals)
				axis := c.axis
				if r.IntN(2) == 0 {
					axis -= len(c.shape) // negative axes work too
				}
				out := run1(t, "GATHER", newGather, mapOptions{0: int32(axis), 1: int32(c.batch)}, newTensor("o", typ, nil, nil), in, idx)
				shape, want := refGather(rawValues(in), c.shape, ivals, c.ishape, c.axis, c.batch)
				checkShape(t, out, shape, "GATHER")
				checkValues(t, out, want, "GATHER")
			}
		}
	}
}

func TestGatherErrors(t *testing.T) {
	in := tensorOf(Float32, []int{3, 2}, 1, 2, 3, 4, 5, 6)
	for name, c := range map[string]struct {
		opts mapOptions
		idx  *Tensor
	}{
		"axis":        {mapOptions{0: int32(2)}, constI32([]int{1}, 0)},
		"batch>axis":  {mapOptions{0: int32(0), 1: int32(1)}, constI32([]int{3}, 0, 1, 2)},
		"batch shape": {mapOptions{0: int32(1), 1: int32(1)}, constI32([]int{2, 1}, 0, 1)},
		"float index": {nil, tensorOf(Float32, []int{1}, 0)},
	} {
		if err := runOp(t, "GATHER", newGather, c.opts, []*Tensor{in, c.idx}, []*Tensor{newTensor("o", Float32, nil, nil)}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Indices outside the axis are an Invoke error, negative ones too.
	for _, bad := range []int32{3, -1, 1 << 30} {
		err := runOp(t, "GATHER", newGather, nil, []*Tensor{in, constI32([]int{2}, 0, bad)}, []*Tensor{newTensor("o", Float32, nil, nil)})
		if err == nil {
			t.Errorf("index %d accepted", bad)
		}
	}
}

func TestGatherND(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, c := range []struct{ shape, ishape []int }{
		{[]int{1, 4, 4, 3}, []int{5, 3}},
		{[]int{3, 4, 2}, []int{2, 2, 3}},
		{[]int{4, 5}, []int{3, 1}},
		{[]int{4, 5}, []int{2}},
		{[]int{6}, []int{4, 1}},
	} {
		for _, typ := range []DataType{Float32, Int8, Int32} {
			in := randTensor(r, typ, c.shape)
			nd := c.ishape[len(c.ishape)-1]
			idx := newTensor("i", Int32, c.ishape, nil)
			iv := idx.Int32s()
			for i := range iv {
				iv[i] = int32(r.IntN(c.shape[i%nd]))
			}
			out := run1(t, "GATHER_ND", newGatherND, nil, newTensor("o", typ, nil, nil), in, idx)
			// Reference: out[s, rest...] = in[idx[s]..., rest...].
			wantShape := append(append([]int{}, c.ishape[:len(c.ishape)-1]...), c.shape[nd:]...)
			checkShape(t, out, wantShape, "GATHER_ND")
			src := rawValues(in)
			want := make([]float64, numElements(wantShape))
			for o := range want {
				oi := unravel(o, wantShape)
				s := ravel(oi[:len(c.ishape)-1], c.ishape[:len(c.ishape)-1])
				full := make([]int, 0, len(c.shape))
				for j := range nd {
					full = append(full, int(iv[s*nd+j]))
				}
				full = append(full, oi[len(c.ishape)-1:]...)
				want[o] = src[ravel(full, c.shape)]
			}
			checkValues(t, out, want, "GATHER_ND")
		}
	}
	in := tensorOf(Float32, []int{2, 2}, 1, 2, 3, 4)
	for _, idx := range []*Tensor{constI32([]int{1, 3}, 0, 0, 0), constI32([]int{}, 0), tensorOf(Float32, []int{1, 1}, 0)} {
		if err := runOp(t, "GATHER_ND", newGatherND, nil, []*Tensor{in, idx}, []*Tensor{newTensor("o", Float32, nil, nil)}); err == nil {
			t.Errorf("indices %v %v accepted", idx.typ, idx.shape)
		}
	}
	if err := runOp(t, "GATHER_ND", newGatherND, nil, []*Tensor{in, constI32([]int{1, 2}, 0, 2)}, []*Tensor{newTensor("o", Float32, nil, nil)}); err == nil {
		t.Error("index out of range accepted")
	}
}
