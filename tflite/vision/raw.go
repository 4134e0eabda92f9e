package vision

import (
	"fmt"
	"math"
	"strconv"

	"github.com/edge-agent/edge-agent/tflite"
)

// DefaultMaxRawValues is the default cap on the values a raw result carries, over all outputs:
// enough for small heads (regressors, embeddings, landmarks), small enough for an MQTT record.
const DefaultMaxRawValues = 4096

// RawOutput is one model output as is: its values dequantised (real = scale * (q - zero_point))
// or converted to numbers (integers, bools as 0 and 1).
type RawOutput struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Shape []int  `json:"shape"`
	// Values are the first values in row-major order; Truncated is set when the output has more
	// (Elements) than the result's cap left room for.
	Values    RawValues `json:"values"`
	Elements  int       `json:"elements"`
	Truncated bool      `json:"truncated,omitempty"`
}

// RawValues are numbers that encode in JSON with the precision of their origin (integers as
// integers, float32 values as float32s) and non-finite values as null, which JSON has no number
// for.
type RawValues []float64

// MarshalJSON implements json.Marshaler.
func (v RawValues) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+8*len(v))
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			b = append(b, "null"...)
		case x == math.Trunc(x) && math.Abs(x) < 1<<53:
			b = strconv.AppendFloat(b, x, 'f', -1, 64)
		case float64(float32(x)) == x:
			b = strconv.AppendFloat(b, x, 'g', -1, 32)
		default:
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		}
	}
	return append(b, ']'), nil
}

// decodeRaw converts the outputs, at most max values in all (0: DefaultMaxRawValues).
func decodeRaw(outs []*tflite.Tensor, max int) ([]RawOutput, error) {
	if max <= 0 {
		max = DefaultMaxRawValues
	}
	res := make([]RawOutput, len(outs))
	left := max
	for i, t := range outs {
		n := t.NumElements()
		keep := min(n, left)
		left -= keep
		vals, err := rawValues(t, keep)
		if err != nil {
			return nil, err
		}
		res[i] = RawOutput{Name: t.Name(), Type: t.Type().String(), Shape: t.Shape(), Values: vals, Elements: n, Truncated: keep < n}
		if res[i].Shape == nil {
			res[i].Shape = []int{}
		}
	}
	return res, nil
}

// rawValues returns the first n values of t as numbers.
func rawValues(t *tflite.Tensor, n int) (RawValues, error) {
	out := make(RawValues, n)
	var scale, zp float64 = 1, 0
	if q := t.Quantization(); q != nil && len(q.Scale) == 1 && len(q.ZeroPoint) == 1 {
		scale, zp = float64(q.Scale[0]), float64(q.ZeroPoint[0])
	} else if q != nil && len(q.Scale) > 1 {
		return nil, fmt.Errorf("%w: raw output %q is quantized per channel", ErrOutput, t.Name())
	}
	real := func(q float64) float64 { return float64(float32(scale) * float32(q-zp)) }
	switch t.Type() {
	case tflite.Float32:
		for i, v := range t.Float32s()[:n] {
			out[i] = float64(v)
		}
	case tflite.UInt8:
		for i, v := range t.UInt8s()[:n] {
			out[i] = real(float64(v))
		}
	case tflite.Int8:
		for i, v := range t.Int8s()[:n] {
			out[i] = real(float64(v))
		}
	case tflite.Int32:
		for i, v := range t.Int32s()[:n] {
			out[i] = float64(v)
		}
	case tflite.Int64:
		for i, v := range t.Int64s()[:n] {
			out[i] = float64(v)
		}
	case tflite.Bool:
		for i, v := range t.Bytes()[:n] {
			out[i] = float64(min(v, 1))
		}
	default:
		return nil, fmt.Errorf("%w: raw output %q has type %s", ErrOutput, t.Name(), t.Type())
	}
	return out, nil
}
