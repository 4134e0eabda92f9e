package tflite

import (
	"fmt"
	"math"
)

// Quantize writes the real values src into t, converting them with t's quantization (rounding
// half away from zero and clamping, as TFLite does). A float32 tensor is copied as is. len(src)
// must equal t.NumElements().
func Quantize(t *Tensor, src []float32) error {
	if len(src) != t.NumElements() || len(t.data) != t.ByteSize() {
		return fmt.Errorf("tflite: quantize into %q: got %d values, want %d", t.name, len(src), t.NumElements())
	}
	if t.typ == Float32 {
		copy(t.Float32s(), src)
		return nil
	}
	lo, hi, err := quantRange(t)
	if err != nil {
		return err
	}
	inner, channels := quantLayout(t)
	for i, x := range src {
		c := (i / inner) % channels
		scale, zp := t.quant.Scale[c], t.quant.ZeroPoint[c]
		q := int64(math.Round(float64(x / scale)))
		q = min(max(q+zp, lo), hi)
		switch t.typ {
		case UInt8:
			t.data[i] = uint8(q)
		case Int8:
			t.data[i] = byte(int8(q))
		}
	}
	return nil
}

// Dequantize writes t's values as reals into dst: scale * (q - zero_point). A float32 tensor is
// copied as is. len(dst) must equal t.NumElements().
func Dequantize(t *Tensor, dst []float32) error {
	if len(dst) != t.NumElements() || len(t.data) != t.ByteSize() {
		return fmt.Errorf("tflite: dequantize %q: got room for %d values, want %d", t.name, len(dst), t.NumElements())
	}
	if t.typ == Float32 {
		copy(dst, t.Float32s())
		return nil
	}
	if _, _, err := quantRange(t); err != nil {
		return err
	}
	inner, channels := quantLayout(t)
	for i := range dst {
		c := (i / inner) % channels
		var q int64
		switch t.typ {
		case UInt8:
			q = int64(t.data[i])
		case Int8:
			q = int64(int8(t.data[i]))
		}
		dst[i] = t.quant.Scale[c] * float32(q-t.quant.ZeroPoint[c])
	}
	return nil
}

// quantRange checks that t is a quantized uint8 or int8 tensor and returns its integer range.
func quantRange(t *Tensor) (lo, hi int64, err error) {
	q := t.quant
	if q == nil || len(q.Scale) == 0 || len(q.Scale) != len(q.ZeroPoint) {
		return 0, 0, fmt.Errorf("tflite: tensor %q (%s) has no quantization", t.name, t.typ)
	}
	if q.PerChannel() && (q.Axis < 0 || q.Axis >= len(t.shape) || t.shape[q.Axis] != len(q.Scale)) {
		return 0, 0, fmt.Errorf("tflite: tensor %q: %d scales do not match dimension %d of %v", t.name, len(q.Scale), q.Axis, t.shape)
	}
	switch t.typ {
	case UInt8:
		return 0, 255, nil
	case Int8:
		return -128, 127, nil
	}
	return 0, 0, fmt.Errorf("tflite: tensor %q: cannot (de)quantize %s", t.name, t.typ)
}

// quantLayout returns, for flat element index i, the divisor and modulus giving its channel.
func quantLayout(t *Tensor) (inner, channels int) {
	if !t.quant.PerChannel() {
		return 1, 1
	}
	inner = 1
	for _, d := range t.shape[t.quant.Axis+1:] {
		inner *= d
	}
	return max(inner, 1), len(t.quant.Scale)
}
