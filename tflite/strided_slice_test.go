package tflite

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// pyIndices returns the indices Python's slice(start, stop, step) selects from a sequence of
// length n; nil start or stop means omitted.
func pyIndices(n int, start, stop *int, step int) []int {
	var lo, hi int
	if step > 0 {
		lo, hi = 0, n
	} else {
		lo, hi = -1, n-1
	}
	norm := func(v *int, def int) int {
		if v == nil {
			return def
		}
		x := *v
		if x < 0 {
			x += n
			if x < lo {
				x = lo
			}
		} else if x > hi {
			x = hi
		}
		return x
	}
	var s, e int
	if step > 0 {
		s, e = norm(start, 0), norm(stop, n)
	} else {
		s, e = norm(start, n-1), norm(stop, -1)
	}
	var idx []int
	for i := s; (step > 0 && i < e) || (step < 0 && i > e); i += step {
		idx = append(idx, i)
	}
	return idx
}

type sliceCase struct {
	shape                []int
	begin, end, strides  []int32
	bm, em, ell, na, shr int32
	offset               bool
}

func runSlice(t *testing.T, c sliceCase, in *Tensor) (*Tensor, error) {
	t.Helper()
	k := len(c.begin)
	out := newTensor("out", in.typ, nil, in.quant)
	err := runOp(t, "STRIDED_SLICE", newStridedSlice,
		mapOptions{0: c.bm, 1: c.em, 2: c.ell, 3: c.na, 4: c.shr, 5: c.offset},
		[]*Tensor{in, constI32([]int{k}, c.begin...), constI32([]int{k}, c.end...), constI32([]int{k}, c.strides...)},
		[]*Tensor{out})
	return out, err
}

func iota32(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return v
}

// TestStridedSliceRandom compares plain slices (begin/end masks, negative indices and strides)
// with Python's slicing rules, per dimension.
func TestStridedSliceRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	for range 400 {
		rank := 1 + r.IntN(4)
		shape := make([]int, rank)
		for d := range shape {
			shape[d] = 1 + r.IntN(6)
		}
		c := sliceCase{shape: shape}
		var sel [][]int
		for d := range rank {
			n := shape[d]
			b, e := int32(r.IntN(2*n+5)-n-2), int32(r.IntN(2*n+5)-n-2)
			s := int32(r.IntN(3) + 1)
			if r.IntN(2) == 0 {
				s = -s
			}
			c.begin, c.end, c.strides = append(c.begin, b), append(c.end, e), append(c.strides, s)
			var bp, ep *int
			bi, ei := int(b), int(e)
			if r.IntN(3) == 0 {
				c.bm |= 1 << d
			} else {
				bp = &bi
			}
			if r.IntN(3) == 0 {
				c.em |= 1 << d
			} else {
				ep = &ei
			}
			sel = append(sel, pyIndices(n, bp, ep, int(s)))
		}
		in := tensorF32(shape, iota32(numElements(shape))...)
		out, err := runSlice(t, c, in)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		want := []float32{}
		wantShape := make([]int, rank)
		for d := range rank {
			wantShape[d] = len(sel[d])
		}
		for i := range numElements(wantShape) {
			idx := unravel(i, wantShape)
			flat := 0
			for d := range rank {
				flat = flat*shape[d] + sel[d][idx[d]]
			}
			want = append(want, float32(flat))
		}
		if !slices.Equal(out.shape, wantShape) || !slices.Equal(out.Float32s(), want) {
			t.Fatalf("%+v: got %v %v, want %v %v", c, out.shape, out.Float32s(), wantShape, want)
		}
	}
}

func TestStridedSliceHand(t *testing.T) {
	for _, c := range []struct {
		name  string
		c     sliceCase
		shape []int
		want  []float32
	}{
		{"reverse both", sliceCase{shape: []int{2, 3}, begin: []int32{1, -1}, end: []int32{2, -4}, strides: []int32{2, -1}}, []int{1, 3}, []float32{5, 4, 3}},
		{"negative begin", sliceCase{shape: []int{4}, begin: []int32{-5}, end: []int32{3}, strides: []int32{1}}, []int{3}, []float32{0, 1, 2}},
		{"stride 2", sliceCase{shape: []int{2, 3}, begin: []int32{0, 0}, end: []int32{2, 3}, strides: []int32{2, 2}}, []int{1, 2}, []float32{0, 2}},
		{"x[::-1]", sliceCase{shape: []int{4}, begin: []int32{0}, end: []int32{0}, strides: []int32{-1}, bm: 1, em: 1}, []int{4}, []float32{3, 2, 1, 0}},
		{"shrink x[1]", sliceCase{shape: []int{3, 2}, begin: []int32{1, 0}, end: []int32{2, 2}, strides: []int32{1, 1}, shr: 1}, []int{2}, []float32{2, 3}},
		{"shrink x[-1, 0]", sliceCase{shape: []int{3, 2}, begin: []int32{-1, 0}, end: []int32{0, 1}, strides: []int32{1, 1}, shr: 3}, []int{}, []float32{4}},
		{"ellipsis x[..., 1:3]", sliceCase{shape: []int{2, 2, 4}, begin: []int32{0, 1}, end: []int32{0, 3}, strides: []int32{1, 1}, ell: 1}, []int{2, 2, 2}, []float32{1, 2, 5, 6, 9, 10, 13, 14}},
		{"ellipsis x[1, ...]", sliceCase{shape: []int{2, 2, 2}, begin: []int32{1, 0}, end: []int32{2, 0}, strides: []int32{1, 1}, ell: 2, shr: 1}, []int{2, 2}, []float32{4, 5, 6, 7}},
		{"new axis x[newaxis, 0:2]", sliceCase{shape: []int{3, 2}, begin: []int32{0, 0}, end: []int32{0, 2}, strides: []int32{1, 1}, na: 1}, []int{1, 2, 2}, []float32{0, 1, 2, 3}},
		{"x[:, newaxis, 1]", sliceCase{shape: []int{2, 3}, begin: []int32{0, 0, 1}, end: []int32{0, 0, 2}, strides: []int32{1, 1, 1}, bm: 1, em: 1, na: 2, shr: 4}, []int{2, 1}, []float32{1, 4}},
		{"offset", sliceCase{shape: []int{10}, begin: []int32{2}, end: []int32{3}, strides: []int32{1}, offset: true}, []int{3}, []float32{2, 3, 4}},
		{"offset negative begin", sliceCase{shape: []int{10}, begin: []int32{-3}, end: []int32{2}, strides: []int32{1}, offset: true}, []int{2}, []float32{7, 8}},
		{"empty", sliceCase{shape: []int{4}, begin: []int32{3}, end: []int32{1}, strides: []int32{1}}, []int{0}, []float32{}},
		{"implicit trailing dims", sliceCase{shape: []int{3, 2}, begin: []int32{1}, end: []int32{3}, strides: []int32{1}}, []int{2, 2}, []float32{2, 3, 4, 5}},
	} {
		in := tensorF32(c.c.shape, iota32(numElements(c.c.shape))...)
		out, err := runSlice(t, c.c, in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(out.shape, c.shape) || !slices.Equal(out.Float32s(), c.want) {
			t.Errorf("%s: got %v %v, want %v %v", c.name, out.shape, out.Float32s(), c.shape, c.want)
		}
	}
	// Other element types move whole elements.
	in := tensorQ(Int8, []int{4}, 0.5, -3, 1, -2, 3, -4)
	out, err := runSlice(t, sliceCase{begin: []int32{3}, end: []int32{0}, strides: []int32{-2}}, in)
	if err != nil {
		t.Fatal(err)
	}
	if got := qValues(out); !slices.Equal(got, []int32{-4, -2}) {
		t.Errorf("int8: %v", got)
	}
	i64 := newTensor("i", Int64, []int{3}, nil)
	copy(i64.Int64s(), []int64{1 << 50, 2, -3})
	out, err = runSlice(t, sliceCase{begin: []int32{0}, end: []int32{3}, strides: []int32{2}}, i64)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Int64s(); !slices.Equal(got, []int64{1 << 50, -3}) {
		t.Errorf("int64: %v", got)
	}
}

func TestStridedSliceErrors(t *testing.T) {
	in := tensorF32([]int{3, 2})
	for name, c := range map[string]sliceCase{
		"zero stride":         {begin: []int32{0}, end: []int32{1}, strides: []int32{0}},
		"shrink out of range": {begin: []int32{3}, end: []int32{4}, strides: []int32{1}, shr: 1},
		"too many dims":       {begin: []int32{0, 0, 0}, end: []int32{1, 1, 1}, strides: []int32{1, 1, 1}},
		"two ellipses":        {begin: []int32{0, 0}, end: []int32{1, 1}, strides: []int32{1, 1}, ell: 3},
		"length mismatch":     {begin: []int32{0, 0}, end: []int32{1}, strides: []int32{1}},
	} {
		k := func(v []int32) *Tensor { return constI32([]int{len(v)}, v...) }
		err := runOp(t, "STRIDED_SLICE", newStridedSlice, mapOptions{0: c.bm, 2: c.ell, 4: c.shr},
			[]*Tensor{in, k(c.begin), k(c.end), k(c.strides)}, []*Tensor{tensorF32(nil)})
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	notConst := constI32([]int{1}, 0)
	notConst.constant = false
	wantDynamic(t, runOp(t, "STRIDED_SLICE", newStridedSlice, nil,
		[]*Tensor{in, notConst, constI32([]int{1}, 1), constI32([]int{1}, 1)}, []*Tensor{tensorF32(nil)}))
}
