package tflite

import (
	"math/rand/v2"
	"testing"
)

func TestDepthToSpace(t *testing.T) {
	r := rand.New(rand.NewPCG(131, 132))
	for _, c := range []struct {
		shape []int
		block int
	}{{[]int{1, 2, 3, 8}, 2}, {[]int{2, 2, 2, 9}, 3}, {[]int{1, 1, 1, 4}, 2}, {[]int{1, 3, 2, 5}, 1}} {
		for _, typ := range []DataType{Float32, Int8, Int64} {
			in := randTensor(r, typ, c.shape)
			bs := c.block
			out := run1(t, "DEPTH_TO_SPACE", newDepthToSpace, mapOptions{0: int32(bs)}, newTensor("o", typ, nil, nil), in)
			oc := c.shape[3] / (bs * bs)
			shape := []int{c.shape[0], c.shape[1] * bs, c.shape[2] * bs, oc}
			checkShape(t, out, shape, "DEPTH_TO_SPACE")
			src := rawValues(in)
			want := make([]float64, numElements(shape))
			for o := range want {
				i := unravel(o, shape) // b, y, x, c
				want[o] = src[ravel([]int{i[0], i[1] / bs, i[2] / bs, ((i[1]%bs)*bs+i[2]%bs)*oc + i[3]}, c.shape)]
			}
			checkValues(t, out, want, "DEPTH_TO_SPACE")
			// SPACE_TO_DEPTH undoes it.
			back := run1(t, "SPACE_TO_DEPTH", newSpaceToDepth, mapOptions{0: int32(bs)}, newTensor("o", typ, nil, nil), out)
			checkShape(t, back, c.shape, "SPACE_TO_DEPTH")
			checkValues(t, back, src, "SPACE_TO_DEPTH")
		}
	}
	for name, c := range map[string]struct {
		f     kernelFactory
		shape []int
		block int32
	}{
		"channels":   {newDepthToSpace, []int{1, 2, 2, 6}, 2},
		"height":     {newSpaceToDepth, []int{1, 3, 2, 1}, 2},
		"rank":       {newDepthToSpace, []int{2, 2, 4}, 2},
		"block zero": {newSpaceToDepth, []int{1, 2, 2, 1}, 0},
	} {
		if err := runOp(t, name, c.f, mapOptions{0: c.block}, []*Tensor{tensorOf(Float32, c.shape)}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestSpaceToBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(133, 134))
	for _, c := range []struct {
		shape []int
		block []int32
		pads  []int32
	}{
		{[]int{2, 3, 5, 2}, []int32{2, 3}, []int32{1, 0, 0, 1}},
		{[]int{1, 4, 4, 1}, []int32{2, 2}, []int32{1, 1, 2, 0}},
		{[]int{3, 6, 2}, []int32{3}, []int32{0, 0}},
		{[]int{1, 2, 2, 3}, []int32{1, 1}, []int32{0, 0, 0, 0}},
	} {
		for _, typ := range []DataType{Float32, UInt8} {
			in := randTensor(r, typ, c.shape)
			var pad float64
			out := newTensor("o", typ, nil, nil)
			if typ == UInt8 {
				withQuant(in, 0.1, 77)
				withQuant(out, 0.1, 77)
				pad = 77
			}
			m := len(c.block)
			run1(t, "SPACE_TO_BATCH_ND", newSpaceToBatchND, nil, out, in, constI32([]int{m}, c.block...), constI32([]int{m, 2}, c.pads...))
			// Reference from TensorFlow's definition: pad, then move block offsets to the batch.
			b := c.shape[0]
			blocks := 1
			shape := append([]int{}, c.shape...)
			for i := range m {
				blocks *= int(c.block[i])
				shape[1+i] = (c.shape[1+i] + int(c.pads[2*i]+c.pads[2*i+1])) / int(c.block[i])
			}
			shape[0] = b * blocks
			checkShape(t, out, shape, "SPACE_TO_BATCH_ND")
			src := rawValues(in)
			want := make([]float64, numElements(shape))
			for o := range want {
				oi := unravel(o, shape)
				off := oi[0] / b
				si := append([]int{oi[0] % b}, oi[1:]...)
				inside := true
				for i := m - 1; i >= 0; i-- {
					bo := off % int(c.block[i])
					off /= int(c.block[i])
					si[1+i] = oi[1+i]*int(c.block[i]) + bo - int(c.pads[2*i])
					inside = inside && si[1+i] >= 0 && si[1+i] < c.shape[1+i]
				}
				want[o] = pad
				if inside {
					want[o] = src[ravel(si, c.shape)]
				}
			}
			checkValues(t, out, want, "SPACE_TO_BATCH_ND")
			// BATCH_TO_SPACE_ND with the paddings as crops gives the input back.
			back := newTensor("b", typ, nil, out.quant)
			run1(t, "BATCH_TO_SPACE_ND", newBatchToSpaceND, nil, back, out, constI32([]int{m}, c.block...), constI32([]int{m, 2}, c.pads...))
			checkShape(t, back, c.shape, "BATCH_TO_SPACE_ND")
			checkValues(t, back, src, "BATCH_TO_SPACE_ND")
		}
	}
	in := tensorOf(Float32, []int{1, 4, 4, 1})
	for name, c := range map[string][2]*Tensor{
		"not a multiple": {constI32([]int{2}, 3, 3), constI32([]int{2, 2}, 0, 0, 0, 0)},
		"negative pad":   {constI32([]int{2}, 2, 2), constI32([]int{2, 2}, -1, 1, 0, 0)},
		"block zero":     {constI32([]int{2}, 0, 2), constI32([]int{2, 2}, 0, 0, 0, 0)},
		"too many dims":  {constI32([]int{4}, 1, 1, 1, 1), constI32([]int{4, 2}, 0, 0, 0, 0, 0, 0, 0, 0)},
	} {
		if err := runOp(t, "SPACE_TO_BATCH_ND", newSpaceToBatchND, nil, []*Tensor{in, c[0], c[1]}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
			t.Errorf("SPACE_TO_BATCH_ND %s accepted", name)
		}
	}
	if err := runOp(t, "BATCH_TO_SPACE_ND", newBatchToSpaceND, nil, []*Tensor{tensorOf(Float32, []int{3, 2, 2, 1}), constI32([]int{2}, 2, 2), constI32([]int{2, 2}, 0, 0, 0, 0)}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
		t.Error("BATCH_TO_SPACE_ND of a batch that is not a multiple accepted")
	}
	if err := runOp(t, "BATCH_TO_SPACE_ND", newBatchToSpaceND, nil, []*Tensor{tensorOf(Float32, []int{4, 2, 2, 1}), constI32([]int{2}, 2, 2), constI32([]int{2, 2}, 3, 2, 0, 0)}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
		t.Error("BATCH_TO_SPACE_ND crops larger than the output accepted")
	}
}
