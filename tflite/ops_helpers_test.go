package tflite

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Helpers for the tests of the ops added for pose, segmentation and other vision models.

// tensorOf returns a tensor of type typ and shape holding vals converted to the type (8-bit
// types take the raw integer value).
func tensorOf(typ DataType, shape []int, vals ...float64) *Tensor {
	t := newTensor("t", typ, shape, nil)
	setValues(t, vals)
	return t
}

// constOf is tensorOf marked constant.
func constOf(typ DataType, shape []int, vals ...float64) *Tensor {
	t := tensorOf(typ, shape, vals...)
	t.constant = true
	return t
}

// quantOf8 returns an 8-bit tensor with the given quantization and raw values.
func quant8(typ DataType, shape []int, scale float32, zp int64, raw ...int32) *Tensor {
	return tensorQ(typ, shape, scale, zp, raw...)
}

// setValues writes vals into t's elements.
func setValues(t *Tensor, vals []float64) {
	for i, v := range vals {
		switch t.typ {
		case Float32:
			t.Float32s()[i] = float32(v)
		case Float64:
			viewAs[float64](t.data)[i] = v
		case Int32:
			t.Int32s()[i] = int32(v)
		case Int64:
			t.Int64s()[i] = int64(v)
		case Int16:
			viewAs[int16](t.data)[i] = int16(v)
		case Int8:
			t.data[i] = byte(int8(v))
		case UInt8, Bool:
			t.data[i] = byte(v)
		}
	}
}

// rawValues returns t's elements as float64 (raw integers for 8-bit types).
func rawValues(t *Tensor) []float64 {
	out := make([]float64, t.NumElements())
	for i := range out {
		switch t.typ {
		case Float32:
			out[i] = float64(t.Float32s()[i])
		case Float64:
			out[i] = viewAs[float64](t.data)[i]
		case Int32:
			out[i] = float64(t.Int32s()[i])
		case Int64:
			out[i] = float64(t.Int64s()[i])
		case Int16:
			out[i] = float64(viewAs[int16](t.data)[i])
		case Int8:
			out[i] = float64(int8(t.data[i]))
		case UInt8, Bool:
			out[i] = float64(t.data[i])
		}
	}
	return out
}

// realValues returns t's dequantized values (raw values when it has no quantization).
func realValues(t *Tensor) []float64 {
	v := rawValues(t)
	if q := t.quant; q != nil && len(q.Scale) == 1 {
		for i := range v {
			v[i] = float64(q.Scale[0]) * (v[i] - float64(q.ZeroPoint[0]))
		}
	}
	return v
}

// randTensor returns a tensor of random values: floats in ±4, integers in ±20, bools, bytes.
func randTensor(r *rand.Rand, typ DataType, shape []int) *Tensor {
	t := newTensor("r", typ, shape, nil)
	vals := make([]float64, t.NumElements())
	for i := range vals {
		switch typ {
		case Float32, Float64:
			vals[i] = float64(float32((r.Float64()*2 - 1) * 4))
		case Bool:
			vals[i] = float64(r.IntN(2))
		case UInt8:
			vals[i] = float64(r.IntN(256))
		case Int8:
			vals[i] = float64(r.IntN(256) - 128)
		default:
			vals[i] = float64(r.IntN(41) - 20)
		}
	}
	setValues(t, vals)
	return t
}

// withQuant sets a per-tensor quantization on t and returns it.
func withQuant(t *Tensor, scale float32, zp int64) *Tensor {
	t.quant = &Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}
	return t
}

// run1 runs a one-output op and fails the test on error.
func run1(t *testing.T, name string, f kernelFactory, opts mapOptions, out *Tensor, inputs ...*Tensor) *Tensor {
	t.Helper()
	if err := runOp(t, name, f, opts, inputs, []*Tensor{out}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// checkValues compares t's raw values with want exactly.
func checkValues(t *testing.T, got *Tensor, want []float64, what string) {
	t.Helper()
	g := rawValues(got)
	if len(g) != len(want) {
		t.Fatalf("%s: %d values %v, want %d %v", what, len(g), g, len(want), want)
	}
	for i := range g {
		if g[i] != want[i] && !(math.IsNaN(g[i]) && math.IsNaN(want[i])) {
			t.Fatalf("%s: [%d] = %v, want %v (got %v)", what, i, g[i], want[i], g)
		}
	}
}

// checkShape compares a tensor's shape.
func checkShape(t *testing.T, got *Tensor, want []int, what string) {
	t.Helper()
	if !sameShape(got.shape, want) {
		t.Fatalf("%s: shape %v, want %v", what, got.shape, want)
	}
}

// ravel returns the flat index of idx in shape.
func ravel(idx, shape []int) int {
	flat := 0
	for d, n := range shape {
		flat = flat*n + idx[d]
	}
	return flat
}

// refQuant8 quantizes real x to an 8-bit tensor's raw value.
func refQuant8(t *Tensor, x float64) int32 {
	return refQuantize(t.typ, x, t.quant.Scale[0], t.quant.ZeroPoint[0])
}
