package tflite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refArg is a naive ARG_MAX/ARG_MIN: the first index of the extreme along axis.
func refArg(vals []float64, shape []int, axis int, isMax bool) ([]int, []float64) {
	out := append(append([]int{}, shape[:axis]...), shape[axis+1:]...)
	res := make([]float64, numElements(out))
	for o := range res {
		oi := unravel(o, out)
		best, at := math.NaN(), 0
		for i := range shape[axis] {
			idx := append(append(append([]int{}, oi[:axis]...), i), oi[axis:]...)
			v := vals[ravel(idx, shape)]
			if i == 0 || isMax && v > best || !isMax && v < best {
				best, at = v, i
			}
		}
		res[o] = float64(at)
	}
	return out, res
}

func TestArgMinMax(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, typ := range []DataType{Float32, UInt8, Int8, Int16, Int32, Int64, Bool} {
		for _, shape := range [][]int{{7}, {3, 5}, {2, 3, 4}, {1, 4, 4, 21}} {
			for axis := -len(shape); axis < len(shape); axis++ {
				for _, isMax := range []bool{true, false} {
					for _, ot := range []DataType{Int32, Int64} {
						in := randTensor(r, typ, shape)
						f, name := newArgMin, "ARG_MIN"
						if isMax {
							f, name = newArgMax, "ARG_MAX"
						}
						out := run1(t, name, f, mapOptions{0: int8(ot)}, newTensor("o", ot, nil, nil), in, constI32([]int{}, int32(axis)))
						a := axis
						if a < 0 {
							a += len(shape)
						}
						wantShape, want := refArg(rawValues(in), shape, a, isMax)
						checkShape(t, out, wantShape, name)
						checkValues(t, out, want, name)
					}
				}
			}
		}
	}
	// Ties keep the first index; NaN never wins.
	nan := math.NaN()
	in := tensorOf(Float32, []int{6}, 1, 3, 3, nan, 3, 0)
	checkValues(t, run1(t, "ARG_MAX", newArgMax, mapOptions{0: int8(Int32)}, newTensor("o", Int32, nil, nil), in, constI32([]int{1}, 0)), []float64{1}, "ties")
	in = tensorOf(Float32, []int{3}, nan, 2, 1)
	checkValues(t, run1(t, "ARG_MIN", newArgMin, mapOptions{0: int8(Int32)}, newTensor("o", Int32, nil, nil), in, constI32([]int{1}, 0)), []float64{0}, "NaN first")
}

func TestArgMinMaxErrors(t *testing.T) {
	in := tensorOf(Float32, []int{2, 3})
	for name, c := range map[string]struct {
		opts  mapOptions
		in    *Tensor
		axis  *Tensor
		out   DataType
		unsup bool
	}{
		"axis out of range": {mapOptions{0: int8(Int32)}, in, constI32([]int{}, 2), Int32, false},
		"two axes":          {mapOptions{0: int8(Int32)}, in, constI32([]int{2}, 0, 1), Int32, false},
		"float output":      {mapOptions{0: int8(Float32)}, in, constI32([]int{}, 0), Float32, true},
		"output mismatch":   {mapOptions{0: int8(Int64)}, in, constI32([]int{}, 0), Int32, false},
		"empty axis":        {mapOptions{0: int8(Int32)}, tensorOf(Float32, []int{2, 0, 3}), constI32([]int{}, 1), Int32, false},
		"string input":      {mapOptions{0: int8(Int32)}, newTensor("s", String, []int{2}, nil), constI32([]int{}, 0), Int32, true},
	} {
		err := runOp(t, "ARG_MAX", newArgMax, c.opts, []*Tensor{c.in, c.axis}, []*Tensor{newTensor("o", c.out, nil, nil)})
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if c.unsup {
			wantErr(t, err, true)
		}
	}
	notConst := constI32([]int{}, 0)
	notConst.constant = false
	wantDynamic(t, runOp(t, "ARG_MAX", newArgMax, mapOptions{0: int8(Int32)}, []*Tensor{in, notConst}, []*Tensor{newTensor("o", Int32, nil, nil)}))
}

// TestArgMinMaxPool checks a segmentation-sized ARG_MAX split over the worker pool, on the last
// axis and on an inner one.
func TestArgMinMaxPool(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	shape := []int{1, 65, 65, 21}
	for _, typ := range []DataType{UInt8, Float32} {
		for _, axis := range []int{3, 1} {
			in := randTensor(r, typ, shape)
			out := newTensor("o", Int32, nil, nil)
			if err := runOpPool(t, "ARG_MAX", newArgMax, mapOptions{0: int8(Int32)}, testPool(t), []*Tensor{in, constI32([]int{}, int32(axis))}, []*Tensor{out}); err != nil {
				t.Fatal(err)
			}
			wantShape, want := refArg(rawValues(in), shape, axis, true)
			checkShape(t, out, wantShape, "ARG_MAX")
			checkValues(t, out, want, "ARG_MAX")
		}
	}
}

// TestArgMinMax8BitRows checks the 8-bit rows on what random scores rarely give: ties (values
// from a set of three, the types' extremes among them), every row length up to 9 (the keys'
// four-element steps and the rest), 16-33 (arm64's kernel: one chunk, two overlapping, two, three),
// 255 and 256 (the kernel's and the 32-bit keys' longest) and 300 (64-bit keys), both index types.
func TestArgMinMax8BitRows(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, typ := range []DataType{UInt8, Int8} {
		set := []float64{0, 7, 255}
		if typ == Int8 {
			set = []float64{-128, 0, 127}
		}
		for _, size := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 21, 31, 32, 33, 255, 256, 300} {
			shape := []int{5, size}
			vals := make([]float64, 5*size)
			for i := range vals {
				vals[i] = set[r.IntN(len(set))]
			}
			in := tensorOf(typ, shape, vals...)
			for _, isMax := range []bool{true, false} {
				for _, ot := range []DataType{Int32, Int64} {
					f, name := newArgMin, "ARG_MIN"
					if isMax {
						f, name = newArgMax, "ARG_MAX"
					}
					out := run1(t, name, f, mapOptions{0: int8(ot)}, newTensor("o", ot, nil, nil), in, constI32([]int{}, 1))
					_, want := refArg(rawValues(in), shape, 1, isMax)
					checkValues(t, out, want, fmt.Sprintf("%s %v size %d", name, typ, size))
				}
			}
		}
	}
}
