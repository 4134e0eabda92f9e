package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDivFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, c := range broadcastCases {
		for _, act := range []int8{actNone, actRelu, actRelu6, actReluN1To1} {
			a, b := randTensor(r, Float32, c.a), randTensor(r, Float32, c.b)
			out := run1(t, "DIV", newDiv, mapOptions{0: act}, tensorOf(Float32, nil), a, b)
			shape, want := refBinary(rawValues(a), c.a, rawValues(b), c.b, func(x, y float64) float64 { return float64(float32(x) / float32(y)) })
			for i := range want {
				want[i] = min(max(refActivation(act, want[i]), -math.MaxFloat32), math.MaxFloat32)
			}
			checkShape(t, out, shape, "DIV")
			checkClose(t, out.Float32s(), want, "DIV")
		}
		a, b := randTensor(r, Float32, c.a), randTensor(r, Float32, c.b)
		out := run1(t, "FLOOR_DIV", newFloorDiv, nil, tensorOf(Float32, nil), a, b)
		_, want := refBinary(rawValues(a), c.a, rawValues(b), c.b, func(x, y float64) float64 { return math.Floor(x / y) })
		checkValues(t, out, want, "FLOOR_DIV")
	}
	// x/0 is clamped to ±MaxFloat32 like every DIV result, as in TFLite; FLOOR_DIV refuses 0.
	out := run1(t, "DIV", newDiv, nil, tensorOf(Float32, nil), tensorOf(Float32, []int{2}, 1, -1), tensorOf(Float32, []int{1}, 0))
	checkValues(t, out, []float64{math.MaxFloat32, -math.MaxFloat32}, "DIV by zero")
	if err := runOp(t, "FLOOR_DIV", newFloorDiv, nil, []*Tensor{tensorOf(Float32, []int{2}, 1, 2), tensorOf(Float32, []int{2}, 1, 0)}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
		t.Error("FLOOR_DIV by zero accepted")
	}
}

func TestDivIntegers(t *testing.T) {
	a := tensorOf(Int32, []int{2, 4}, 7, -7, 7, -7, math.MinInt32, 0, 100, -1)
	b := tensorOf(Int32, []int{2, 4}, 2, 2, -2, -2, -1, 5, 7, 3)
	checkValues(t, run1(t, "DIV", newDiv, nil, tensorOf(Int32, nil), a, b), []float64{3, -3, -3, 3, math.MinInt32, 0, 14, 0}, "DIV int32")
	checkValues(t, run1(t, "DIV", newDiv, mapOptions{0: int8(actRelu6)}, tensorOf(Int32, nil), a, b), []float64{3, 0, 0, 3, 0, 0, 6, 0}, "DIV int32 relu6")
	checkValues(t, run1(t, "FLOOR_DIV", newFloorDiv, nil, tensorOf(Int32, nil), a, b), []float64{3, -4, -4, 3, math.MinInt32, 0, 14, -1}, "FLOOR_DIV int32")
	for _, typ := range []DataType{Int8, Int16} {
		x, y := tensorOf(typ, []int{3}, -7, 7, -128), tensorOf(typ, []int{3}, 2, -3, -1)
		checkValues(t, run1(t, "FLOOR_DIV", newFloorDiv, nil, newTensor("o", typ, nil, nil), x, y), []float64{-4, -3, map[DataType]float64{Int8: -128, Int16: 128}[typ]}, "FLOOR_DIV "+typ.String())
	}
	for _, f := range []kernelFactory{newDiv, newFloorDiv} {
		if err := runOp(t, "DIV", f, nil, []*Tensor{a, tensorOf(Int32, []int{1}, 0)}, []*Tensor{tensorOf(Int32, nil)}); err == nil {
			t.Error("integer division by zero accepted")
		}
	}
}

func TestDivQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(63, 64))
	for _, typ := range []DataType{UInt8, Int8} {
		lo, _ := typeRange(typ)
		for _, p := range [][6]float64{{0.05, 128, 0.02, 0, 0.1, 100}, {0.1, 130, 0.05, 120, 0.2, 128}, {0.01, 128, 0.5, 128, 0.001, 128}} {
			za, zb, zo := int64(p[1])+int64(lo), int64(p[3])+int64(lo), int64(p[5])+int64(lo)
			av, bv := randQ(r, typ, 64), randQ(r, typ, 64)
			for i := range bv {
				if bv[i] == int32(zb) {
					bv[i]++ // never a zero divisor
				}
			}
			a := tensorQ(typ, []int{64}, float32(p[0]), za, av...)
			b := tensorQ(typ, []int{64}, float32(p[2]), zb, bv...)
			for _, act := range []int8{actNone, actRelu} {
				out := run1(t, "DIV", newDiv, mapOptions{0: act}, qOut(typ, float32(p[4]), zo), a, b)
				got := qValues(out)
				qlo, qhi := activationRangeQuantized(act, float32(p[4]), int32(zo), lo, lo+255)
				for i := range got {
					x := float64(av[i]-int32(za)) * p[0]
					if math.Abs(float64(av[i]-int32(za))) <= 2 {
						continue // TFLite's shift of 32 or more: see roundingDivideByPOTMasked
					}
					y := float64(bv[i]-int32(zb)) * p[2]
					want := min(max(refQuantize(typ, x/y, float32(p[4]), zo), qlo), qhi)
					if d := got[i] - want; d < -1 || d > 1 {
						t.Fatalf("%v %v: %d/%d = %d, want %d (±1)", typ, p, av[i], bv[i], got[i], want)
					}
				}
			}
		}
	}
	// The dividend one step below the zero point: TFLite's result, not the real quotient.
	a, b := tensorQ(UInt8, []int{1}, 0.05, 128, 127), tensorQ(UInt8, []int{1}, 0.02, 0, 97)
	checkValues(t, run1(t, "DIV", newDiv, nil, qOut(UInt8, 0.1, 100), a, b), []float64{0}, "DIV -1/97")
	if err := runOp(t, "DIV", newDiv, nil, []*Tensor{a, tensorQ(UInt8, []int{1}, 0.02, 5, 5)}, []*Tensor{qOut(UInt8, 0.1, 100)}); err == nil {
		t.Error("quantized division by the zero point accepted")
	}
	if err := runOp(t, "FLOOR_DIV", newFloorDiv, nil, []*Tensor{a, a}, []*Tensor{qOut(UInt8, 0.1, 100)}); err == nil {
		t.Error("FLOOR_DIV of uint8 accepted")
	}
}
