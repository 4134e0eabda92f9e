package tflite

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Helpers for the kernel tests of this package's elementwise and data-movement ops. The
// references below are deliberately naive: float64 math on multi-indices, then TFLite's
// quantization (round half away from zero, clamp).

// tensorQ returns an 8-bit quantized tensor holding vals (as integers of the type's range).
func tensorQ(typ DataType, shape []int, scale float32, zp int64, vals ...int32) *Tensor {
	t := newTensor("q", typ, shape, &Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}})
	for i, v := range vals {
		t.data[i] = byte(v)
	}
	return t
}

// qOut returns an empty 8-bit output tensor with the given quantization.
func qOut(typ DataType, scale float32, zp int64) *Tensor {
	return newTensor("out", typ, nil, &Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}})
}

// constI32 returns a constant int32 tensor.
func constI32(shape []int, vals ...int32) *Tensor {
	t := newTensor("c", Int32, shape, nil)
	copy(t.Int32s(), vals)
	t.constant = true
	return t
}

// qValues returns an 8-bit tensor's values as integers.
func qValues(t *Tensor) []int32 {
	out := make([]int32, t.NumElements())
	for i := range out {
		out[i] = byteValue(t.typ, int(t.data[i]))
	}
	return out
}

// refQuantize quantizes a real value the TFLite way.
func refQuantize(typ DataType, x float64, scale float32, zp int64) int32 {
	lo, hi := typeRange(typ)
	r := math.Round(x/float64(scale)) + float64(zp)
	return int32(math.Max(float64(lo), math.Min(float64(hi), r)))
}

// randQ returns count random values of an 8-bit type.
func randQ(r *rand.Rand, typ DataType, count int) []int32 {
	lo, hi := typeRange(typ)
	v := make([]int32, count)
	for i := range v {
		v[i] = lo + r.Int32N(hi-lo+1)
	}
	return v
}

func randF32(r *rand.Rand, count int, scale float32) []float32 {
	v := make([]float32, count)
	for i := range v {
		v[i] = (r.Float32()*2 - 1) * scale
	}
	return v
}

// unravel returns the multi-index of flat index i in shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

// ravelBroadcast returns the flat index in shape of the (right-aligned, broadcast) multi-index idx.
func ravelBroadcast(idx, shape []int) int {
	flat := 0
	off := len(idx) - len(shape)
	for d, n := range shape {
		v := idx[off+d]
		if n == 1 {
			v = 0
		}
		flat = flat*n + v
	}
	return flat
}

func wantErr(t *testing.T, err error, unsupported bool) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if unsupported && !errors.Is(err, errUnsupported) {
		t.Fatalf("error %v does not wrap errUnsupported", err)
	}
}

func checkClose(t *testing.T, got []float32, want []float64, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > 1e-5+1e-5*math.Abs(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// checkWithinOne compares quantized outputs with a reference, allowing one step.
func checkWithinOne(t *testing.T, got, want []int32, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := got[i] - want[i]; d < -1 || d > 1 {
			t.Fatalf("%s: [%d] = %d, want %d (±1)", what, i, got[i], want[i])
		}
	}
}

func TestBroadcastShape(t *testing.T) {
	cases := []struct {
		a, b, want []int
	}{
		{[]int{}, []int{}, []int{}},
		{[]int{3}, []int{}, []int{3}},
		{[]int{2, 1, 4}, []int{3, 1}, []int{2, 3, 4}},
		{[]int{1, 2, 1, 3, 1, 2}, []int{2, 1, 3, 2, 1}, []int{1, 2, 1, 3, 2, 2}},
		{[]int{5, 0}, []int{1}, []int{5, 0}},
	}
	for _, c := range cases {
		got, err := broadcastShape(c.a, c.b)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("broadcastShape(%v, %v) = %v, %v; want %v", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := broadcastShape([]int{2, 3}, []int{3, 2}); err == nil {
		t.Error("[2 3] and [3 2] broadcast")
	}
	if _, err := broadcastShape(make([]int, 7), []int{1}); !errors.Is(err, errUnsupported) {
		t.Errorf("rank 7: %v", err)
	}
}
