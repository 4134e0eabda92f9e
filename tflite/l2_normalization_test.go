package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestL2Normalization(t *testing.T) {
	r := rand.New(rand.NewPCG(141, 142))
	in := randTensor(r, Float32, []int{3, 4, 8})
	in.Float32s()[0] = 0 // and a zero vector below
	zero := tensorOf(Float32, []int{1, 3})
	for _, x := range []*Tensor{in, zero} {
		out := run1(t, "L2_NORMALIZATION", newL2Normalization, nil, tensorOf(Float32, nil), x)
		v := rawValues(x)
		d := x.shape[x.Rank()-1]
		want := make([]float64, len(v))
		for o := 0; o < len(v); o += d {
			var sq float64
			for _, e := range v[o : o+d] {
				sq += e * e
			}
			norm := math.Max(math.Sqrt(sq), 1e-6)
			for i := o; i < o+d; i++ {
				want[i] = v[i] / norm
			}
		}
		checkClose(t, out.Float32s(), want, "L2_NORMALIZATION")
	}
	for _, typ := range []DataType{UInt8, Int8} {
		lo, _ := typeRange(typ)
		zp := int64(lo) + 120
		q := tensorQ(typ, []int{4, 16}, 0.05, zp, randQ(r, typ, 64)...)
		zo := int64(128)
		if typ == Int8 {
			zo = 0
		}
		got := qValues(run1(t, "L2_NORMALIZATION", newL2Normalization, nil, qOut(typ, 1.0/128, zo), q))
		v := realValues(q)
		for o := 0; o < 64; o += 16 {
			var sq float64
			for _, e := range v[o : o+16] {
				sq += e * e
			}
			for i := o; i < o+16; i++ {
				want := refQuantize(typ, v[i]/math.Sqrt(sq), 1.0/128, zo)
				if d := got[i] - want; d < -1 || d > 1 {
					t.Fatalf("%v [%d] = %d, want %d (±1)", typ, i, got[i], want)
				}
			}
		}
		err := runOp(t, "L2_NORMALIZATION", newL2Normalization, nil, []*Tensor{q}, []*Tensor{qOut(typ, 0.01, zo)})
		wantErr(t, err, true)
	}
}

func TestLogSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(143, 144))
	in := randTensor(r, Float32, []int{3, 10})
	out := run1(t, "LOG_SOFTMAX", newLogSoftmax, nil, tensorOf(Float32, nil), in)
	v := rawValues(in)
	want := make([]float64, len(v))
	for o := 0; o < len(v); o += 10 {
		var sum float64
		for _, e := range v[o : o+10] {
			sum += math.Exp(e)
		}
		for i := o; i < o+10; i++ {
			want[i] = v[i] - math.Log(sum)
		}
	}
	checkClose(t, out.Float32s(), want, "LOG_SOFTMAX")
	q := tensorQ(UInt8, []int{4, 20}, 0.1, 128, randQ(r, UInt8, 80)...)
	got := qValues(run1(t, "LOG_SOFTMAX", newLogSoftmax, nil, qOut(UInt8, 16.0/256, 255), q))
	qv := realValues(q)
	for o := 0; o < 80; o += 20 {
		var sum float64
		for _, e := range qv[o : o+20] {
			sum += math.Exp(e)
		}
		for i := o; i < o+20; i++ {
			w := refQuantize(UInt8, qv[i]-math.Log(sum), 16.0/256, 255)
			if d := got[i] - w; d < -1 || d > 1 {
				t.Fatalf("[%d] = %d, want %d (±1)", i, got[i], w)
			}
		}
	}
	for _, sc := range []float32{0.1, 0.02, 0.5} {
		qi := tensorQ(Int8, []int{4, 20}, sc, -3, randQ(r, Int8, 80)...)
		got := qValues(run1(t, "LOG_SOFTMAX", newLogSoftmax, nil, qOut(Int8, 16.0/256, 127), qi))
		iv := realValues(qi)
		for o := 0; o < 80; o += 20 {
			var sum float64
			for _, e := range iv[o : o+20] {
				sum += math.Exp(e)
			}
			for i := o; i < o+20; i++ {
				w := refQuantize(Int8, iv[i]-math.Log(sum), 16.0/256, 127)
				if d := got[i] - w; d < -1 || d > 1 {
					t.Fatalf("int8 scale %v: [%d] = %d, want %d (±1)", sc, i, got[i], w)
				}
			}
		}
	}
	for _, c := range []struct {
		in, out *Tensor
	}{{q, qOut(UInt8, 0.1, 255)}, {quant8(Int8, []int{2}, 0.1, 0), qOut(Int8, 16.0/256, 255)}, {quant8(Int16, []int{2}, 0.1, 0), qOut(Int16, 16.0/256, 0)}, {tensorOf(Float32, []int{}), tensorOf(Float32, nil)}} {
		if err := runOp(t, "LOG_SOFTMAX", newLogSoftmax, nil, []*Tensor{c.in}, []*Tensor{c.out}); err == nil {
			t.Errorf("LOG_SOFTMAX %v %v accepted", c.in.typ, c.out.quant)
		}
	}
}

func TestShape(t *testing.T) {
	in := tensorOf(UInt8, []int{1, 7, 1, 2})
	for _, typ := range []DataType{Int32, Int64} {
		out := run1(t, "SHAPE", newShape, mapOptions{0: int8(typ)}, newTensor("o", typ, nil, nil), in)
		checkShape(t, out, []int{4}, "SHAPE")
		checkValues(t, out, []float64{1, 7, 1, 2}, "SHAPE")
	}
	// Without options the output tensor's type decides.
	checkValues(t, run1(t, "SHAPE", newShape, nil, newTensor("o", Int64, nil, nil), tensorOf(Float32, []int{})), []float64{}, "SHAPE of a scalar")
	if _, err := newShape(&node{inputs: []*Tensor{in}, outputs: []*Tensor{newTensor("o", Float32, nil, nil)}, opts: mapOptions{}}); err == nil {
		t.Error("float32 SHAPE accepted")
	}
	if err := runOp(t, "SHAPE", newShape, mapOptions{0: int8(Int64)}, []*Tensor{in}, []*Tensor{newTensor("o", Int32, nil, nil)}); err == nil {
		t.Error("SHAPE with an output type other than the options' accepted")
	}
}
