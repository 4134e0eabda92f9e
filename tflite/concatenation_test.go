package tflite

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// refConcat concatenates float64 arrays along axis.
func refConcat(vals [][]float64, shapes [][]int, axis int) ([]int, []float64) {
	out := slices.Clone(shapes[0])
	out[axis] = 0
	for _, s := range shapes {
		out[axis] += s[axis]
	}
	res := make([]float64, numElements(out))
	for i := range res {
		idx := unravel(i, out)
		a := idx[axis]
		for j, s := range shapes {
			if a < s[axis] {
				idx[axis] = a
				flat := 0
				for d := range s {
					flat = flat*s[d] + idx[d]
				}
				res[i] = vals[j][flat]
				break
			}
			a -= s[axis]
		}
	}
	return out, res
}

func TestConcatenationFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, c := range []struct {
		shapes [][]int
		axis   int
		act    int8
	}{
		{[][]int{{2, 3}, {2, 5}}, 1, actNone},
		{[][]int{{2, 3}, {4, 3}, {1, 3}}, 0, actNone},
		{[][]int{{1, 2, 2, 3}, {1, 2, 2, 1}, {1, 2, 2, 4}}, -1, actRelu6},
		{[][]int{{1, 1917, 4}, {1, 0, 4}, {1, 7, 4}}, -2, actNone},
		{[][]int{{3}}, 0, actRelu},
	} {
		var ins []*Tensor
		var vals [][]float64
		for _, s := range c.shapes {
			v := randF32(r, numElements(s), 8)
			ins = append(ins, tensorF32(s, v...))
			vals = append(vals, toF64(v))
		}
		out := tensorF32(nil)
		if err := runOp(t, "CONCATENATION", newConcatenation, mapOptions{0: int32(c.axis), 1: c.act}, ins, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		axis := c.axis
		if axis < 0 {
			axis += len(c.shapes[0])
		}
		shape, want := refConcat(vals, c.shapes, axis)
		for i := range want {
			want[i] = refActivation(c.act, want[i])
		}
		if !slices.Equal(out.shape, shape) {
			t.Fatalf("shape %v, want %v", out.shape, shape)
		}
		checkClose(t, out.Float32s(), want, "CONCATENATION")
	}
}

func TestConcatenationQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for _, typ := range []DataType{UInt8, Int8} {
		lo, _ := typeRange(typ)
		shapes := [][]int{{1, 3, 2}, {1, 4, 2}, {1, 1, 2}}
		params := []struct {
			scale float32
			zp    int64
		}{{0.1, int64(lo) + 128}, {0.05, int64(lo) + 10}, {0.3, int64(lo) + 200}}
		out := qOut(typ, 0.1, int64(lo)+128) // same as input 0: copied
		var ins []*Tensor
		var vals [][]float64
		var raw [][]int32
		for i, s := range shapes {
			v := randQ(r, typ, numElements(s))
			ins = append(ins, tensorQ(typ, s, params[i].scale, params[i].zp, v...))
			real := make([]float64, len(v))
			for j, q := range v {
				real[j] = float64(params[i].scale) * float64(int64(q)-params[i].zp)
			}
			vals = append(vals, real)
			raw = append(raw, v)
		}
		if err := runOp(t, "CONCATENATION", newConcatenation, mapOptions{0: int32(1)}, ins, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		_, real := refConcat(vals, shapes, 1)
		want := make([]int32, len(real))
		for i, x := range real {
			want[i] = refQuantize(typ, x, 0.1, int64(lo)+128)
		}
		got := qValues(out)
		checkWithinOne(t, got, want, "CONCATENATION "+typ.String())
		// Input 0 shares the output's quantization: its bytes are copied unchanged.
		if !slices.Equal(got[:6], raw[0]) {
			t.Errorf("%v: input 0 changed: %v, want %v", typ, got[:6], raw[0])
		}
	}
}

func TestConcatenationIntegers(t *testing.T) {
	a := constI32([]int{2, 1}, 1, 2)
	b := constI32([]int{2, 2}, 3, 4, 5, 6)
	out := newTensor("o", Int32, nil, nil)
	if err := runOp(t, "CONCATENATION", newConcatenation, mapOptions{0: int32(1)}, []*Tensor{a, b}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.Int32s(), []int32{1, 3, 4, 2, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestConcatenationErrors(t *testing.T) {
	a, b := tensorF32([]int{2, 3}), tensorF32([]int{3, 3})
	wantErr(t, runOp(t, "CONCATENATION", newConcatenation, mapOptions{0: int32(1)}, []*Tensor{a, b}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "CONCATENATION", newConcatenation, mapOptions{0: int32(2)}, []*Tensor{a, a}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "CONCATENATION", newConcatenation, mapOptions{0: int32(-3)}, []*Tensor{a, a}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "CONCATENATION", newConcatenation, nil, []*Tensor{a, tensorF32([]int{2})}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "CONCATENATION", newConcatenation, nil, []*Tensor{a, constI32([]int{2, 3})}, []*Tensor{tensorF32(nil)}), true)
	wantErr(t, runOp(t, "CONCATENATION", newConcatenation, nil, nil, []*Tensor{tensorF32(nil)}), false)
}

// TestConcatenationThreads: a concatenation large enough to be split over two threads (SSD's
// box scores are [1, 1917, 91] from 12 inputs) gives the bytes of one thread, with the split
// falling inside inputs' chunks and across outer indices: requantized, copied, and float with
// a fused activation.
func TestConcatenationThreads(t *testing.T) {
	shapes := [][]int{{3, 1000, 7}, {3, 2917, 7}, {3, 5, 7}, {3, 1500, 7}}
	for _, typ := range []DataType{UInt8, Float32} {
		run := func(p *pool) []byte {
			r := rand.New(rand.NewPCG(47, 48))
			var ins []*Tensor
			var out *Tensor
			opts := mapOptions{0: int32(1)}
			for i, s := range shapes {
				if typ == UInt8 {
					ins = append(ins, tensorQ(typ, s, 0.05*float32(i+1), int64(100+i), randQ(r, typ, numElements(s))...))
				} else {
					ins = append(ins, randTensor(r, typ, s))
				}
			}
			if typ == UInt8 {
				out = qOut(typ, 0.05, 100) // input 0's: copied; the others requantized
			} else {
				out = newTensor("out", Float32, nil, nil)
				opts[1] = int8(actRelu6)
			}
			if err := runOpPool(t, "CONCATENATION", newConcatenation, opts, p, ins, []*Tensor{out}); err != nil {
				t.Fatal(err)
			}
			return out.data
		}
		one, two := run(nil), run(testPool(t))
		if len(one) != 3*5422*7*typ.Size() {
			t.Fatalf("%v: %d output bytes", typ, len(one))
		}
		if !slices.Equal(one, two) {
			t.Errorf("%v: two threads differ from one", typ)
		}
	}
}
