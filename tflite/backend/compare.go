package backend

import (
	"fmt"
	"math"
	"slices"

	"github.com/edge-agent/edge-agent/tflite"
)

// Bounds within which two runtimes' outputs agree: float32 outputs within FloatAbs + FloatRel
// times the magnitude, 8- and 16-bit integer (quantized) outputs within one step, other integer
// and bool outputs exactly.
const (
	FloatAbs = 1e-4
	FloatRel = 1e-3
)

// Compare checks that every output of a agrees with the same output of b within the bounds
// above (b is the reference for the relative bound). It returns nil when they agree, else an
// error naming the first output that differs, its worst element and how many elements differ.
func Compare(a, b tflite.Runner) error {
	if a.OutputCount() != b.OutputCount() {
		return fmt.Errorf("%s has %d outputs, %s %d", a.Runtime(), a.OutputCount(), b.Runtime(), b.OutputCount())
	}
	for i := range a.OutputCount() {
		if err := CompareTensors(a.Output(i), b.Output(i)); err != nil {
			return fmt.Errorf("output %d (%s): %w (%s vs %s)", i, a.Output(i).Name(), err, a.Runtime(), b.Runtime())
		}
	}
	return nil
}

// CompareTensors checks one tensor of a against the same of b (the reference) within the bounds.
func CompareTensors(a, b *tflite.Tensor) error {
	if a.Type() != b.Type() || !slices.Equal(a.Shape(), b.Shape()) {
		return fmt.Errorf("%s %v vs %s %v", a.Type(), a.Shape(), b.Type(), b.Shape())
	}
	switch a.Type() {
	case tflite.Float32:
		return diff(a.Float32s(), b.Float32s(), func(x, y float32) (float64, bool) {
			d := math.Abs(float64(x) - float64(y))
			if math.IsNaN(float64(x)) || math.IsNaN(float64(y)) {
				return math.Inf(1), math.IsNaN(float64(x)) && math.IsNaN(float64(y))
			}
			return d, d <= FloatAbs+FloatRel*math.Abs(float64(y))
		})
	case tflite.UInt8:
		return diff(a.UInt8s(), b.UInt8s(), steps[uint8])
	case tflite.Int8:
		return diff(a.Int8s(), b.Int8s(), steps[int8])
	case tflite.Int16:
		return diff(int16s(a), int16s(b), steps[int16])
	case tflite.Int32:
		return diff(a.Int32s(), b.Int32s(), exact[int32])
	case tflite.Int64:
		return diff(a.Int64s(), b.Int64s(), exact[int64])
	}
	return diff(a.Bytes(), b.Bytes(), exact[byte])
}

func steps[T int8 | uint8 | int16](x, y T) (float64, bool) {
	d := math.Abs(float64(x) - float64(y))
	return d, d <= 1
}

func exact[T comparable](x, y T) (float64, bool) {
	if x == y {
		return 0, true
	}
	return 1, false
}

func int16s(t *tflite.Tensor) []int16 {
	b := t.Bytes()
	out := make([]int16, len(b)/2)
	for i := range out {
		out[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
	}
	return out
}

// diff reports the element of a and b that differs most beyond the bound ok applies, and how many
// do.
func diff[T any](a, b []T, ok func(x, y T) (float64, bool)) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d vs %d elements", len(a), len(b))
	}
	worst, n := -1, 0
	var worstD float64
	for i := range a {
		if d, good := ok(a[i], b[i]); !good {
			n++
			if worst < 0 || d > worstD {
				worst, worstD = i, d
			}
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("element %d is %v vs %v; %d of %d elements differ", worst, a[worst], b[worst], n, len(a))
}
