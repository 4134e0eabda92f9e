package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refReduce reduces vals (of shape) over axes with f, starting from init.
func refReduce(vals []float64, shape []int, axes []int, keep bool, init float64, f func(acc, v float64) float64) ([]int, []float64) {
	reduced := make([]bool, len(shape))
	for _, a := range axes {
		reduced[(a+len(shape))%len(shape)] = true
	}
	var out, acc []int
	for d, n := range shape {
		if reduced[d] {
			acc = append(acc, 1)
			if keep {
				out = append(out, 1)
			}
			continue
		}
		acc = append(acc, n)
		out = append(out, n)
	}
	res := make([]float64, numElements(acc))
	for i := range res {
		res[i] = init
	}
	for i, v := range vals {
		idx := unravel(i, shape)
		for d := range idx {
			if reduced[d] {
				idx[d] = 0
			}
		}
		o := ravel(idx, acc)
		res[o] = f(res[o], v)
	}
	return out, res
}

func TestReduce(t *testing.T) {
	r := rand.New(rand.NewPCG(101, 102))
	ops := []struct {
		name string
		f    kernelFactory
		init func(DataType) float64
		ref  func(acc, v float64) float64
	}{
		{"SUM", newSum, func(DataType) float64 { return 0 }, func(a, v float64) float64 { return a + v }},
		{"REDUCE_PROD", newReduceProd, func(DataType) float64 { return 1 }, func(a, v float64) float64 { return a * v }},
		{"REDUCE_MAX", newReduceMax, func(t DataType) float64 {
			lo, _ := typeRange(t)
			if t == Float32 {
				return -math.MaxFloat32
			}
			return float64(lo)
		}, math.Max},
		{"REDUCE_MIN", newReduceMin, func(t DataType) float64 {
			_, hi := typeRange(t)
			if t == Float32 {
				return math.MaxFloat32
			}
			return float64(hi)
		}, math.Min},
	}
	for _, c := range []struct {
		shape []int
		axes  []int32
	}{{[]int{2, 3, 4}, []int32{1}}, {[]int{2, 3, 4}, []int32{0, -1}}, {[]int{5}, []int32{0}}, {[]int{2, 3}, []int32{}}, {[]int{3, 2}, []int32{1, 1}}, {[]int{2, 0, 3}, []int32{1}}} {
		for _, typ := range []DataType{Float32, Int32, Int8, UInt8} {
			for _, op := range ops {
				for _, keep := range []bool{false, true} {
					in := randTensor(r, typ, c.shape)
					if op.name == "REDUCE_PROD" && typ == Float32 {
						v := in.Float32s()
						for i := range v {
							v[i] = 0.5 + float32(r.Float64()) // products stay near 1
						}
					}
					out := run1(t, op.name, op.f, mapOptions{0: keep}, newTensor("o", typ, nil, nil), in, constI32([]int{len(c.axes)}, c.axes...))
					axes := make([]int, len(c.axes))
					for i, a := range c.axes {
						axes[i] = int(a)
					}
					shape, want := refReduce(rawValues(in), c.shape, axes, keep, op.init(typ), op.ref)
					checkShape(t, out, shape, op.name)
					if typ == Float32 {
						checkClose(t, out.Float32s(), want, op.name)
						continue
					}
					// Integers wrap, as in TFLite (unquantized 8-bit tensors reduce raw values).
					for i, w := range want {
						switch typ {
						case Int32:
							want[i] = float64(int32(int64(w)))
						case Int8:
							want[i] = float64(int8(int64(w)))
						case UInt8:
							want[i] = float64(uint8(int64(w)))
						}
					}
					if op.name == "REDUCE_PROD" {
						continue // float64 products lose the low bits that wrapping keeps: see below
					}
					checkValues(t, out, want, op.name+" "+typ.String())
				}
			}
		}
	}
}

func TestReduceProdWraps(t *testing.T) {
	in := tensorOf(Int32, []int{2, 3}, 1<<16, 1<<16, 3, -2, 5, 7)
	checkValues(t, run1(t, "REDUCE_PROD", newReduceProd, nil, tensorOf(Int32, nil), in, constI32([]int{1}, 1)), []float64{0, -70}, "REDUCE_PROD int32")
	b := tensorOf(UInt8, []int{3}, 16, 16, 3)
	checkValues(t, run1(t, "REDUCE_PROD", newReduceProd, nil, tensorOf(UInt8, nil), b, constI32([]int{1}, 0)), []float64{0}, "REDUCE_PROD uint8")
}

func TestReduceQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(103, 104))
	// SUM rescales the sum of real values; small sums so that nothing wraps.
	for _, typ := range []DataType{UInt8, Int8} {
		lo, _ := typeRange(typ)
		v := make([]int32, 4*4*8)
		for i := range v {
			v[i] = lo + 128 + r.Int32N(9) - 4
		}
		zi := int64(lo + 128)
		in := tensorQ(typ, []int{1, 4, 4, 8}, 0.05, zi, v...)
		out := run1(t, "SUM", newSum, nil, qOut(typ, 0.1, int64(lo)+100), in, constI32([]int{2}, 1, 2))
		_, want := refReduce(realValues(in), in.shape, []int{1, 2}, false, 0, func(a, x float64) float64 { return a + x })
		ref := make([]int32, len(want))
		for i, w := range want {
			ref[i] = refQuantize(typ, w, 0.1, int64(lo)+100)
		}
		checkWithinOne(t, qValues(out), ref, "SUM "+typ.String())
	}
	// REDUCE_PROD of int8 rescales every step.
	v := make([]int32, 12)
	for i := range v {
		v[i] = r.Int32N(41) - 20
	}
	in := tensorQ(Int8, []int{4, 3}, 0.05, 0, v...)
	out := run1(t, "REDUCE_PROD", newReduceProd, nil, qOut(Int8, 0.01, 0), in, constI32([]int{1}, 1))
	_, want := refReduce(realValues(in), in.shape, []int{1}, false, 1, func(a, x float64) float64 { return a * x })
	ref := make([]int32, len(want))
	for i, w := range want {
		ref[i] = refQuantize(Int8, w, 0.01, 0)
	}
	checkWithinOne(t, qValues(out), ref, "REDUCE_PROD int8")
	// MAX and MIN of 8-bit tensors need one quantization in and out.
	err := runOp(t, "REDUCE_MAX", newReduceMax, nil, []*Tensor{quant8(Int8, []int{2}, 0.1, 0), constI32([]int{1}, 0)}, []*Tensor{qOut(Int8, 0.2, 0)})
	wantErr(t, err, true)
	for name, axes := range map[string]*Tensor{"axis": constI32([]int{1}, 2), "float axes": tensorOf(Float32, []int{1}, 0)} {
		if err := runOp(t, "SUM", newSum, nil, []*Tensor{tensorOf(Float32, []int{2, 2}), axes}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
			t.Errorf("SUM %s accepted", name)
		}
	}
}
