package tflite

import (
	"math/rand/v2"
	"testing"
)

// refSlice returns the block of vals (of shape) starting at begin with the given size.
func refSlice(vals []float64, shape, begin, size []int) []float64 {
	out := make([]float64, numElements(size))
	for o := range out {
		oi := unravel(o, size)
		for d := range oi {
			oi[d] += begin[d]
		}
		out[o] = vals[ravel(oi, shape)]
	}
	return out
}

func TestSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, shape := range [][]int{{6}, {2, 6, 2}, {1, 3, 8}, {4, 0, 3}} {
		for axis := -len(shape); axis < len(shape); axis++ {
			a := (axis + len(shape)) % len(shape)
			for _, count := range []int{1, 2, 3} {
				if shape[a]%count != 0 {
					continue
				}
				in := randTensor(r, Float32, shape)
				outs := make([]*Tensor, count)
				for i := range outs {
					outs[i] = tensorOf(Float32, nil)
				}
				if err := runOp(t, "SPLIT", newSplit, mapOptions{0: int32(count)}, []*Tensor{constI32([]int{}, int32(axis)), in}, outs); err != nil {
					t.Fatal(err)
				}
				part := shape[a] / count
				for i, o := range outs {
					begin, size := make([]int, len(shape)), append([]int{}, shape...)
					begin[a], size[a] = i*part, part
					checkShape(t, o, size, "SPLIT")
					checkValues(t, o, refSlice(rawValues(in), shape, begin, size), "SPLIT")
				}
			}
		}
	}
	// SPLIT_V with a -1 size, int64 sizes, an 8-bit input.
	in := randTensor(r, Int8, []int{3, 7})
	withQuant(in, 0.1, 2)
	sizes := constOf(Int64, []int{3}, 2, -1, 1)
	outs := []*Tensor{qOut(Int8, 0.1, 2), qOut(Int8, 0.1, 2), qOut(Int8, 0.1, 2)}
	if err := runOp(t, "SPLIT_V", newSplitV, mapOptions{0: int32(3)}, []*Tensor{in, sizes, constI32([]int{1}, -1)}, outs); err != nil {
		t.Fatal(err)
	}
	for i, want := range [][2]int{{0, 2}, {2, 4}, {6, 1}} {
		checkShape(t, outs[i], []int{3, want[1]}, "SPLIT_V")
		checkValues(t, outs[i], refSlice(rawValues(in), []int{3, 7}, []int{0, want[0]}, []int{3, want[1]}), "SPLIT_V")
	}
}

func TestSplitErrors(t *testing.T) {
	in := tensorOf(Float32, []int{2, 6})
	two := []*Tensor{tensorOf(Float32, nil), tensorOf(Float32, nil)}
	for name, inputs := range map[string][]*Tensor{
		"axis out of range": {constI32([]int{}, 2), in},
		"not divisible":     {constI32([]int{}, 0), tensorOf(Float32, []int{3, 6})},
		"axis vector":       {constI32([]int{2}, 0, 1), in},
	} {
		if err := runOp(t, "SPLIT", newSplit, mapOptions{0: int32(2)}, inputs, two); err == nil {
			t.Errorf("SPLIT %s: no error", name)
		}
	}
	if _, err := newSplit(&node{inputs: []*Tensor{nil, nil}, outputs: two, opts: mapOptions{0: int32(3)}}); err == nil {
		t.Error("SPLIT num_splits 3 with 2 outputs accepted")
	}
	for name, sizes := range map[string]*Tensor{
		"sum":        constI32([]int{2}, 3, 2),
		"two -1":     constI32([]int{2}, -1, -1),
		"negative":   constI32([]int{2}, 7, -2),
		"-1 too big": constI32([]int{2}, 8, -1),
		"count":      constI32([]int{3}, 1, 1, 4),
	} {
		if err := runOp(t, "SPLIT_V", newSplitV, mapOptions{0: int32(2)}, []*Tensor{in, sizes, constI32([]int{}, 1)}, two); err == nil {
			t.Errorf("SPLIT_V %s: no error", name)
		}
	}
	notConst := constI32([]int{}, 1)
	notConst.constant = false
	wantDynamic(t, runOp(t, "SPLIT", newSplit, mapOptions{0: int32(2)}, []*Tensor{notConst, in}, two))
}

func TestSliceTile(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	in := randTensor(r, Float32, []int{4, 5, 3})
	for _, c := range []struct{ begin, size, want []int }{
		{[]int{0, 0, 0}, []int{-1, -1, -1}, []int{4, 5, 3}},
		{[]int{1, 2, 1}, []int{2, -1, 2}, []int{2, 3, 2}},
		{[]int{3, 4, 2}, []int{1, 1, 1}, []int{1, 1, 1}},
		{[]int{2, 0, 0}, []int{0, 5, 3}, []int{0, 5, 3}},
	} {
		b := constOf(Int64, []int{3}, float64(c.begin[0]), float64(c.begin[1]), float64(c.begin[2]))
		s := constI32([]int{3}, int32(c.size[0]), int32(c.size[1]), int32(c.size[2]))
		out := run1(t, "SLICE", newSlice, nil, tensorOf(Float32, nil), in, b, s)
		checkShape(t, out, c.want, "SLICE")
		checkValues(t, out, refSlice(rawValues(in), []int{4, 5, 3}, c.begin, c.want), "SLICE")
	}
	for _, bad := range [][2][]int32{{{0, 0, 0}, {5, 1, 1}}, {{-1, 0, 0}, {1, 1, 1}}, {{0, 0}, {1, 1}}, {{0, 0, 0}, {1, -2, 1}}} {
		err := runOp(t, "SLICE", newSlice, nil, []*Tensor{in, constI32([]int{len(bad[0])}, bad[0]...), constI32([]int{len(bad[1])}, bad[1]...)}, []*Tensor{tensorOf(Float32, nil)})
		if err == nil {
			t.Errorf("SLICE begin %v size %v accepted", bad[0], bad[1])
		}
	}

	for _, c := range []struct {
		shape, mult []int
	}{{[]int{2, 3}, []int{2, 3}}, {[]int{1, 2, 3}, []int{3, 1, 2}}, {[]int{4}, []int{1}}, {[]int{2, 2}, []int{0, 2}}, {[]int{}, []int{}}} {
		for _, typ := range []DataType{Float32, Int8, Int64, Bool} {
			in := randTensor(r, typ, c.shape)
			mv := make([]int32, len(c.mult))
			for i, m := range c.mult {
				mv[i] = int32(m)
			}
			out := run1(t, "TILE", newTile, nil, newTensor("o", typ, nil, nil), in, constI32([]int{len(mv)}, mv...))
			want := make([]int, len(c.shape))
			for i := range want {
				want[i] = c.shape[i] * c.mult[i]
			}
			checkShape(t, out, want, "TILE")
			src := rawValues(in)
			ref := make([]float64, numElements(want))
			for o := range ref {
				oi := unravel(o, want)
				for d := range oi {
					oi[d] %= c.shape[d]
				}
				ref[o] = src[ravel(oi, c.shape)]
			}
			checkValues(t, out, ref, "TILE")
		}
	}
	if err := runOp(t, "TILE", newTile, nil, []*Tensor{in, constI32([]int{3}, 1, -1, 1)}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
		t.Error("negative multiple accepted")
	}
	if err := runOp(t, "TILE", newTile, nil, []*Tensor{in, constI32([]int{3}, 1<<15, 1<<15, 1)}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
		t.Error("huge tile accepted")
	}
}

func TestExpandDims(t *testing.T) {
	in := tensorOf(Float32, []int{2, 3}, 1, 2, 3, 4, 5, 6)
	for axis, want := range map[int32][]int{0: {1, 2, 3}, 1: {2, 1, 3}, 2: {2, 3, 1}, -1: {2, 3, 1}, -3: {1, 2, 3}} {
		out := run1(t, "EXPAND_DIMS", newExpandDims, nil, tensorOf(Float32, nil), in, constOf(Int64, []int{1}, float64(axis)))
		checkShape(t, out, want, "EXPAND_DIMS")
		checkValues(t, out, rawValues(in), "EXPAND_DIMS")
	}
	for _, axis := range []int32{3, -4} {
		if err := runOp(t, "EXPAND_DIMS", newExpandDims, nil, []*Tensor{in, constI32([]int{}, axis)}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
			t.Errorf("axis %d accepted", axis)
		}
	}
}
