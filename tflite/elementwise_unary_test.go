package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

var unaryRefs = []struct {
	name string
	f    kernelFactory
	ref  func(float64) float64
	pos  bool // defined for positive inputs only
}{
	{"SQRT", newSqrt, math.Sqrt, true},
	{"RSQRT", newRsqrt, func(x float64) float64 { return 1 / math.Sqrt(x) }, true},
	{"EXP", newExp, math.Exp, false},
	{"LOG", newLog, math.Log, true},
	{"FLOOR", newFloor, math.Floor, false},
	{"ABS", newAbs, math.Abs, false},
	{"NEG", newNeg, func(x float64) float64 { return -x }, false},
	{"SQUARE", newSquare, func(x float64) float64 { return x * x }, false},
}

func TestUnaryFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, u := range unaryRefs {
		in := randTensor(r, Float32, []int{3, 40})
		v := in.Float32s()
		if u.pos {
			for i := range v {
				v[i] = float32(math.Abs(float64(v[i]))) + 1e-3
			}
		}
		out := run1(t, u.name, u.f, nil, tensorOf(Float32, nil), in)
		want := make([]float64, len(v))
		for i, x := range v {
			want[i] = u.ref(float64(x))
		}
		checkShape(t, out, in.shape, u.name)
		checkClose(t, out.Float32s(), want, u.name)
	}
}

func TestUnaryIntegers(t *testing.T) {
	in := tensorOf(Int32, []int{4}, -3, 0, 5, math.MinInt32+1)
	checkValues(t, run1(t, "ABS", newAbs, nil, tensorOf(Int32, nil), in), []float64{3, 0, 5, math.MaxInt32}, "ABS int32")
	checkValues(t, run1(t, "NEG", newNeg, nil, tensorOf(Int32, nil), in), []float64{3, 0, -5, math.MaxInt32}, "NEG int32")
	l := tensorOf(Int64, []int{2}, -(1 << 40), 7)
	checkValues(t, run1(t, "NEG", newNeg, nil, tensorOf(Int64, nil), l), []float64{1 << 40, -7}, "NEG int64")
	s := tensorOf(Int16, []int{2}, -300, 4)
	checkValues(t, run1(t, "ABS", newAbs, nil, tensorOf(Int16, nil), s), []float64{300, 4}, "ABS int16")
	for _, c := range []struct {
		f   kernelFactory
		typ DataType
	}{{newSqrt, Int32}, {newNeg, UInt8}, {newSquare, Int32}, {newFloor, Int8}, {newExp, UInt8}} {
		err := runOp(t, "UNARY", c.f, nil, []*Tensor{newTensor("i", c.typ, []int{2}, nil)}, []*Tensor{newTensor("o", c.typ, nil, nil)})
		wantErr(t, err, true)
	}
}

// TestUnaryInt8 checks the int8 tables against the real function, quantized (one step of
// tolerance: TFLite's fixed-point RSQRT and SQRT's truncation differ from rounding the real
// value by less than that).
func TestUnaryInt8(t *testing.T) {
	all := make([]int32, 256)
	for i := range all {
		all[i] = int32(i) - 128
	}
	for _, u := range unaryRefs {
		if u.name == "FLOOR" || u.name == "NEG" || u.name == "SQUARE" {
			continue
		}
		for _, q := range [][4]float64{{0.05, -128, 0.02, -128}, {0.03, -100, 0.04, 50}, {0.1, 0, 0.1, -128}} {
			zi := int64(q[1])
			in := tensorQ(Int8, []int{256}, float32(q[0]), zi, all...)
			out := qOut(Int8, float32(q[2]), int64(q[3]))
			err := runOp(t, u.name, u.f, nil, []*Tensor{in}, []*Tensor{out})
			if u.pos && (u.name == "SQRT" || u.name == "RSQRT") && zi > -128 {
				if err == nil {
					t.Fatalf("%s of negative int8 values accepted", u.name)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			got := qValues(out)
			for i, v := range all {
				x := float64(float32(q[0]) * float32(v-int32(zi)))
				var y float64
				switch {
				case u.name == "LOG" && x <= 0:
					y = (-128 - q[3]) * float64(float32(q[2]))
				case u.name == "RSQRT" && x == 0:
					continue // TFLite gives the largest value
				default:
					y = u.ref(x)
				}
				want := refQuantize(Int8, y, float32(q[2]), int64(q[3]))
				if d := got[i] - want; d < -1 || d > 1 {
					t.Fatalf("%s %v: f(%d) = %d, want %d (±1)", u.name, q, v, got[i], want)
				}
			}
		}
	}
}
