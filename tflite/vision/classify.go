package vision

import (
	"errors"
	"fmt"
	"math"

	"github.com/edge-agent/edge-agent/tflite"
)

// ErrOutput is wrapped by errors about model outputs that do not have the expected types or
// shapes.
var ErrOutput = errors.New("unexpected model output")

// Class is one classification result.
type Class struct {
	Index int     `json:"index"`
	Label string  `json:"label,omitempty"`
	Score float32 `json:"score"`
}

// Dequantize returns the real values of a float32, uint8 or int8 tensor (real = scale * (q -
// zero_point) for the quantized types), appended to dst[:0].
func Dequantize(dst []float32, t *tflite.Tensor) ([]float32, error) {
	dst = dst[:0]
	switch t.Type() {
	case tflite.Float32:
		return append(dst, t.Float32s()...), nil
	case tflite.UInt8, tflite.Int8:
	default:
		return nil, fmt.Errorf("%w: tensor %q has type %s (want float32, uint8 or int8)", ErrOutput, t.Name(), t.Type())
	}
	q := t.Quantization()
	if q == nil || len(q.Scale) != 1 || len(q.ZeroPoint) != 1 {
		return nil, fmt.Errorf("%w: tensor %q is %s without per-tensor quantization", ErrOutput, t.Name(), t.Type())
	}
	scale, zp := q.Scale[0], float32(q.ZeroPoint[0])
	if t.Type() == tflite.UInt8 {
		for _, v := range t.UInt8s() {
			dst = append(dst, scale*(float32(v)-zp))
		}
	} else {
		for _, v := range t.Int8s() {
			dst = append(dst, scale*(float32(v)-zp))
		}
	}
	return dst, nil
}

// TopK returns the k highest scores by decreasing score (ties: lower index first), labelled from
// labels. NaN scores are never selected.
func TopK(scores []float32, k int, labels Labels) []Class {
	k = min(k, len(scores))
	if k <= 0 {
		return nil
	}
	top := make([]Class, 0, k)
	for i, s := range scores {
		if math.IsNaN(float64(s)) {
			continue
		}
		if len(top) == k && s <= top[k-1].Score {
			continue
		}
		// Insert after every entry scoring at least s, which keeps equal scores in index order.
		j := len(top)
		if j < k {
			top = append(top, Class{})
		} else {
			j = k - 1
		}
		for j > 0 && top[j-1].Score < s {
			top[j] = top[j-1]
			j--
		}
		top[j] = Class{Index: i, Score: s}
	}
	for i := range top {
		top[i].Label = labels.Name(top[i].Index)
	}
	return top
}

// Classify dequantizes a classifier's output ([1, classes] or [classes]) and returns its top k.
func Classify(out *tflite.Tensor, k int, labels Labels) ([]Class, error) {
	if out.Rank() == 0 || out.NumElements() != out.Dim(out.Rank()-1) {
		return nil, fmt.Errorf("%w: classifier output %q has shape %v (want [1, classes])", ErrOutput, out.Name(), out.Shape())
	}
	scores, err := Dequantize(nil, out)
	if err != nil {
		return nil, err
	}
	return TopK(scores, k, labels), nil
}
