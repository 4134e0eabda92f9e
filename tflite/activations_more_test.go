package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Tests of LEAKY_RELU, ELU, GELU and PRELU.

func refGelu(x float64, approximate bool) float64 {
	if approximate {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
}

func TestPointwiseActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(111, 112))
	all := make([]int32, 256)
	for i := range all {
		all[i] = int32(i)
	}
	ops := []struct {
		name  string
		f     kernelFactory
		opts  mapOptions
		ref   func(float64) float64
		types []DataType
	}{
		{"LEAKY_RELU", newLeakyRelu, mapOptions{0: float32(0.2)}, func(x float64) float64 { return math.Max(x, 0.2*x) }, []DataType{UInt8, Int8}},
		{"LEAKY_RELU negative alpha", newLeakyRelu, mapOptions{0: float32(-0.5)}, func(x float64) float64 {
			if x > 0 {
				return x
			}
			return -0.5 * x
		}, []DataType{Int8}},
		{"ELU", newElu, nil, func(x float64) float64 {
			if x < 0 {
				return math.Expm1(x)
			}
			return x
		}, []DataType{Int8}},
		{"GELU", newGelu, mapOptions{0: false}, func(x float64) float64 { return refGelu(x, false) }, []DataType{UInt8, Int8}},
		{"GELU approximate", newGelu, mapOptions{0: true}, func(x float64) float64 { return refGelu(x, true) }, []DataType{UInt8, Int8}},
	}
	for _, op := range ops {
		in := randTensor(r, Float32, []int{3, 50})
		out := run1(t, op.name, op.f, op.opts, tensorOf(Float32, nil), in)
		want := make([]float64, in.NumElements())
		for i, x := range in.Float32s() {
			want[i] = op.ref(float64(x))
		}
		checkClose(t, out.Float32s(), want, op.name)
		for _, typ := range op.types {
			lo, _ := typeRange(typ)
			raw := make([]int32, 256)
			for i := range raw {
				raw[i] = all[i] + lo
			}
			for _, q := range [][4]float64{{0.05, 128, 0.03, 100}, {0.04, 100, 0.025, 20}, {0.1, 200, 0.05, 128}} {
				zi, zo := int64(q[1])+int64(lo), int64(q[3])+int64(lo)
				in := tensorQ(typ, []int{256}, float32(q[0]), zi, raw...)
				got := qValues(run1(t, op.name, op.f, op.opts, qOut(typ, float32(q[2]), zo), in))
				for i, v := range raw {
					want := refQuantize(typ, op.ref(q[0]*float64(v-int32(zi))), float32(q[2]), zo)
					if d := got[i] - want; d < -1 || d > 1 {
						t.Fatalf("%s %v %v: f(%d) = %d, want %d (±1)", op.name, typ, q, v, got[i], want)
					}
				}
			}
		}
	}
	err := runOp(t, "ELU", newElu, nil, []*Tensor{quant8(UInt8, []int{2}, 0.1, 0)}, []*Tensor{qOut(UInt8, 0.1, 0)})
	wantErr(t, err, true)
}

func TestPrelu(t *testing.T) {
	r := rand.New(rand.NewPCG(113, 114))
	for _, shapes := range [][2][]int{{{1, 4, 4, 3}, {1, 1, 3}}, {{2, 5}, {2, 5}}, {{3, 4}, {}}, {{2, 3, 4}, {3, 1}}} {
		in, alpha := randTensor(r, Float32, shapes[0]), randTensor(r, Float32, shapes[1])
		out := run1(t, "PRELU", newPrelu, nil, tensorOf(Float32, nil), in, alpha)
		shape, want := refBinary(rawValues(in), shapes[0], rawValues(alpha), shapes[1], func(x, a float64) float64 {
			if x >= 0 {
				return x
			}
			return float64(float32(x) * float32(a))
		})
		checkShape(t, out, shape, "PRELU")
		checkClose(t, out.Float32s(), want, "PRELU")
		for _, typ := range []DataType{UInt8, Int8} {
			lo, _ := typeRange(typ)
			iv, av := randQ(r, typ, numElements(shapes[0])), randQ(r, typ, numElements(shapes[1]))
			qi := tensorQ(typ, shapes[0], 0.05, int64(lo)+128, iv...)
			qa := tensorQ(typ, shapes[1], 0.01, int64(lo)+100, av...)
			got := qValues(run1(t, "PRELU", newPrelu, nil, qOut(typ, 0.04, int64(lo)+90), qi, qa))
			_, real := refBinary(realValues(qi), shapes[0], realValues(qa), shapes[1], func(x, a float64) float64 {
				if x >= 0 {
					return x
				}
				return x * a
			})
			ref := make([]int32, len(real))
			for i, v := range real {
				ref[i] = refQuantize(typ, v, 0.04, int64(lo)+90)
			}
			checkWithinOne(t, got, ref, "PRELU "+typ.String())
		}
	}
	if err := runOp(t, "PRELU", newPrelu, nil, []*Tensor{tensorOf(Float32, []int{3}), tensorOf(Float32, []int{2, 3})}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
		t.Error("alpha that widens the input accepted")
	}
}
