package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

var activationCases = []struct {
	name string
	f    kernelFactory
	fn   func(float64) float64
}{
	{"LOGISTIC", newLogistic, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
	{"TANH", newTanh, math.Tanh},
	{"HARD_SWISH", newHardSwish, func(x float64) float64 { return x * math.Min(math.Max(x+3, 0), 6) / 6 }},
	{"RELU", newRelu, func(x float64) float64 { return math.Max(x, 0) }},
	{"RELU6", newRelu6, func(x float64) float64 { return math.Min(math.Max(x, 0), 6) }},
	{"RELU_N1_TO_1", newReluN1To1, func(x float64) float64 { return math.Min(math.Max(x, -1), 1) }},
}

func TestActivationsFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	shape := []int{2, 5, 7}
	v := randF32(r, numElements(shape), 8)
	v[0], v[1], v[2], v[3] = 0, -3, 3, 6 // kinks of the piecewise functions
	for _, c := range activationCases {
		out := tensorF32(nil)
		if err := runOp(t, c.name, c.f, nil, []*Tensor{tensorF32(shape, v...)}, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, len(v))
		for i, x := range v {
			want[i] = c.fn(float64(x))
		}
		checkClose(t, out.Float32s(), want, c.name)
	}
}

func TestActivationsQuantized(t *testing.T) {
	for _, typ := range []DataType{UInt8, Int8} {
		lo, hi := typeRange(typ)
		all := make([]int32, 0, 256)
		for q := lo; q <= hi; q++ {
			all = append(all, q)
		}
		for _, c := range activationCases {
			inQ := []struct {
				scale float32
				zp    int64
			}{{0.05, int64(lo) + 128}, {0.1, int64(lo) + 30}, {0.02, int64(lo) + 250}}
			for _, iq := range inQ {
				// Output quantization: fixed for the bounded functions, otherwise a different one.
				oScale, oZP := float32(0.07), int64(lo)+20
				switch c.name {
				case "LOGISTIC":
					oScale, oZP = 1.0/256, int64(lo)
				case "TANH":
					oScale, oZP = 1.0/128, int64(lo)+128
				case "RELU":
					oScale, oZP = iq.scale, iq.zp // same quantization: a plain clamp
				}
				in := tensorQ(typ, []int{1, 256}, iq.scale, iq.zp, all...)
				out := qOut(typ, oScale, oZP)
				if err := runOp(t, c.name, c.f, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
					t.Fatalf("%s %v: %v", c.name, typ, err)
				}
				want := make([]int32, len(all))
				for i, q := range all {
					x := float64(iq.scale) * float64(int64(q)-iq.zp)
					want[i] = refQuantize(typ, c.fn(x), oScale, oZP)
				}
				checkWithinOne(t, qValues(out), want, c.name+" "+typ.String())
				if c.name == "RELU" {
					// Same quantization in and out: RELU is exactly max(q, zp).
					for i, q := range all {
						if g, w := qValues(out)[i], max(q, int32(iq.zp)); g != w {
							t.Fatalf("RELU %v: %d -> %d, want %d", typ, q, g, w)
						}
					}
				}
			}
		}
	}
}

func TestActivationsQuantizedExact(t *testing.T) {
	// LOGISTIC uint8: input scale 1/16 zp 128; q=128 is 0 -> 0.5 -> 128; q=144 is 1 -> 0.731 -> 187.
	in := tensorQ(UInt8, []int{3}, 1.0/16, 128, 128, 144, 0)
	out := qOut(UInt8, 1.0/256, 0)
	if err := runOp(t, "LOGISTIC", newLogistic, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	// sigmoid(-8) = 0.000335 -> 0.086 -> 0.
	if got := qValues(out); got[0] != 128 || got[1] != 187 || got[2] != 0 {
		t.Errorf("LOGISTIC = %v, want [128 187 0]", got)
	}
	// RELU6 int8 requantizing from scale 0.1 to 0.05 (zp 0 -> -128): 3.0 -> 60-128=-68, 7.0 -> 6 -> -8.
	in = tensorQ(Int8, []int{3}, 0.1, 0, 30, 70, -5)
	out = qOut(Int8, 0.05, -128)
	if err := runOp(t, "RELU6", newRelu6, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got := qValues(out); got[0] != -68 || got[1] != -8 || got[2] != -128 {
		t.Errorf("RELU6 = %v, want [-68 -8 -128]", got)
	}
}

func TestActivationsErrors(t *testing.T) {
	in := tensorQ(UInt8, []int{4}, 0.1, 128)
	wantErr(t, runOp(t, "LOGISTIC", newLogistic, nil, []*Tensor{in}, []*Tensor{qOut(UInt8, 0.1, 0)}), true)
	wantErr(t, runOp(t, "TANH", newTanh, nil, []*Tensor{in}, []*Tensor{qOut(UInt8, 1.0/128, 0)}), true)
	wantErr(t, runOp(t, "RELU", newRelu, nil, []*Tensor{in}, []*Tensor{tensorF32(nil)}), true)
	wantErr(t, runOp(t, "RELU", newRelu, nil, []*Tensor{newTensor("i", Int32, []int{2}, nil)}, []*Tensor{newTensor("o", Int32, nil, nil)}), true)
}

// TestLogisticF32 checks the inlined exponential against the formula it replaces,
// float32(1 / (1 + math.Exp(-x))), on a dense sweep of [-120, 120], on random bit patterns
// (every finite float32 range) and on the special values: never more than one float32 step
// apart, and apart at all only where float64 rounding decides (a few in a million).
func TestLogisticF32(t *testing.T) {
	want := func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }
	var xs []float32
	for x := -120.0; x <= 120; x += 1.0 / 4096 {
		xs = append(xs, float32(x))
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 1 << 20 {
		xs = append(xs, math.Float32frombits(rng.Uint32()))
	}
	special := []float32{0, float32(math.Copysign(0, -1)), 699.9, -699.9, 700, -700, 1e-30, -1e-30,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.MaxFloat32, -math.MaxFloat32}
	xs = append(xs, special...)
	got := make([]float32, len(xs))
	logisticF32(got, xs)
	apart := 0
	for i, x := range xs {
		w := want(x)
		if w != w || got[i] != got[i] {
			if (w != w) != (got[i] != got[i]) {
				t.Errorf("logistic(%v) = %v, want %v", x, got[i], w)
			}
			continue
		}
		d := int64(math.Float32bits(got[i])) - int64(math.Float32bits(w))
		switch {
		case d == 0:
		case (d == 1 || d == -1) && i < len(xs)-len(special):
			apart++
		default:
			t.Errorf("logistic(%v) = %v, want %v", x, got[i], w)
		}
	}
	if apart > len(xs)/100000 {
		t.Errorf("%d of %d inputs one step apart, want at most %d", apart, len(xs), len(xs)/100000)
	}
}
