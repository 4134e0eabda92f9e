package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMaximumMinimumSquaredDifference(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	for _, c := range broadcastCases {
		for _, typ := range []DataType{Float32, UInt8, Int8, Int16, Int32, Int64} {
			a, b := randTensor(r, typ, c.a), randTensor(r, typ, c.b)
			for _, op := range []struct {
				name string
				f    kernelFactory
				ref  func(x, y float64) float64
			}{{"MAXIMUM", newMaximum, math.Max}, {"MINIMUM", newMinimum, math.Min}} {
				out := run1(t, op.name, op.f, nil, newTensor("o", typ, nil, nil), a, b)
				shape, want := refBinary(rawValues(a), c.a, rawValues(b), c.b, op.ref)
				checkShape(t, out, shape, op.name)
				checkValues(t, out, want, op.name)
			}
			if typ == Float32 || typ == Int32 {
				out := run1(t, "SQUARED_DIFFERENCE", newSquaredDifference, nil, newTensor("o", typ, nil, nil), a, b)
				_, want := refBinary(rawValues(a), c.a, rawValues(b), c.b, func(x, y float64) float64 {
					return float64(float32((float32(x) - float32(y)) * (float32(x) - float32(y))))
				})
				checkValues(t, out, want, "SQUARED_DIFFERENCE")
			}
		}
	}
	// TFLite's NaN rule: a > b ? a : b.
	nan := math.NaN()
	a, b := tensorOf(Float32, []int{2}, nan, 1), tensorOf(Float32, []int{2}, 2, nan)
	checkValues(t, run1(t, "MAXIMUM", newMaximum, nil, tensorOf(Float32, nil), a, b), []float64{2, nan}, "MAXIMUM NaN")
	// int8 SQUARED_DIFFERENCE against the real value.
	for _, q := range [][6]float64{{0.18, -128, 0.21, -128, 0.39, 10}, {0.05, 3, 0.05, 3, 0.02, -128}, {0.1, 0, 0.02, 20, 0.5, -100}} {
		av, bv := randQ(r, Int8, 200), randQ(r, Int8, 200)
		a := tensorQ(Int8, []int{200}, float32(q[0]), int64(q[1]), av...)
		b := tensorQ(Int8, []int{200}, float32(q[2]), int64(q[3]), bv...)
		got := qValues(run1(t, "SQUARED_DIFFERENCE", newSquaredDifference, nil, qOut(Int8, float32(q[4]), int64(q[5])), a, b))
		for i := range got {
			d := q[0]*float64(av[i]-int32(q[1])) - q[2]*float64(bv[i]-int32(q[3]))
			want := refQuantize(Int8, d*d, float32(q[4]), int64(q[5]))
			if e := got[i] - want; e < -1 || e > 1 {
				t.Fatalf("%v: (%d, %d) = %d, want %d (±1)", q, av[i], bv[i], got[i], want)
			}
		}
	}
	for _, typ := range []DataType{UInt8, Bool} {
		x := newTensor("x", typ, []int{2}, nil)
		if err := runOp(t, "SQUARED_DIFFERENCE", newSquaredDifference, nil, []*Tensor{x, x}, []*Tensor{newTensor("o", typ, nil, nil)}); err == nil {
			t.Errorf("SQUARED_DIFFERENCE of %v accepted", typ)
		}
	}
	if err := runOp(t, "MAXIMUM", newMaximum, nil, []*Tensor{tensorOf(Float32, []int{2}), tensorOf(Float32, []int{3})}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
		t.Error("shapes that do not broadcast accepted")
	}
}
