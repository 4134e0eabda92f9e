package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The float32 QUANTIZE kernel against quantizeFloat, value by value: random scales (1e-4 to 10)
// and zero points, both output types, lengths around the kernel's step of 8, and values that
// test its rounding and clamping: halves of a step (where rounding to even would differ), the
// extremes of the range and past them, huge values, infinities, NaN and -0.
func TestQuantizeFloatSIMD(t *testing.T) {
	if !quantFKernel {
		t.Skip("no QUANTIZE kernel in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(63, 64))
	special := []float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 1e30, -1e30, 3e38}
	for _, typ := range []DataType{UInt8, Int8} {
		lo, hi := typeRange(typ)
		for i := 0; i < 40; i++ {
			scale := float32(math.Pow(10, -4+5*r.Float64()))
			zp := lo + r.Int32N(hi-lo+1)
			n := []int{8, 9, 15, 16, 17, 64, 1001}[i%7]
			in := newTensor("in", Float32, []int{1, n}, nil)
			v := in.Float32s()
			for j := range v {
				switch r.IntN(6) {
				case 0:
					v[j] = special[r.IntN(len(special))]
				case 1:
					v[j] = (float32(r.IntN(600)-300) + 0.5) * scale // a half step
				case 2:
					v[j] = float32(lo+r.Int32N(hi-lo+1)-zp) * scale // a step
				default:
					v[j] = float32(r.NormFloat64()*200) * scale
				}
			}
			out := qOut(typ, scale, int64(zp))
			if err := runOp(t, "QUANTIZE", newQuantize, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
				t.Fatal(err)
			}
			for j, x := range v {
				if got, want := out.data[j], byte(quantizeFloat(x, scale, zp, lo, hi)); got != want {
					t.Fatalf("%v scale %v zp %d: QUANTIZE(%v) = %d, want %d", typ, scale, zp, x, byteValue(typ, int(got)), byteValue(typ, int(want)))
				}
			}
		}
	}
}
