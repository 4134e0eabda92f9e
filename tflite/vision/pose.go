package vision

import (
	"fmt"
	"math"

	"github.com/edge-agent/edge-agent/tflite"
)

// CocoKeypoints are the 17 keypoints of single-person pose models trained on COCO (MoveNet,
// PoseNet), in the models' output order.
var CocoKeypoints = [...]string{
	"nose", "left_eye", "right_eye", "left_ear", "right_ear",
	"left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
	"left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
}

// Keypoint is one body keypoint: its confidence and position in pixels of the image (to a
// hundredth of a pixel).
type Keypoint struct {
	Name  string  `json:"name"`
	Score float32 `json:"score"`
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
}

// PointMapper maps a point in normalised model coordinates (0..1 across the model input) to
// pixels of the image the caller cares about, not clipped.
type PointMapper func(nx, ny float64) (x, y float64)

// StretchPoints is the PointMapper of an image stretched to the model input: w x h pixels.
func StretchPoints(w, h int) PointMapper {
	return func(nx, ny float64) (float64, float64) { return nx * float64(w), ny * float64(h) }
}

// pointsFromBoxes derives a PointMapper from a BoxMapper, for callers that set only the latter:
// the box over the middle of the input gives the scale and offset. Box corners are whole pixels,
// so positions are accurate to about a pixel; set Decoder.Points for exact ones.
func pointsFromBoxes(mapBox BoxMapper) (PointMapper, error) {
	b, ok := mapBox(0.25, 0.25, 0.75, 0.75)
	if !ok || b.W <= 0 || b.H <= 0 {
		return nil, fmt.Errorf("vision: the box mapper drops the middle of the input; set Decoder.Points")
	}
	sx, sy := float64(b.W)/0.5, float64(b.H)/0.5
	ox, oy := float64(b.X)-0.25*sx, float64(b.Y)-0.25*sy
	return func(nx, ny float64) (float64, float64) { return nx*sx + ox, ny*sy + oy }, nil
}

// poseShape reports whether t is a single-person pose output: [1, 1, K, 3] or [1, K, 3] of
// (y, x, score) rows, K = 17 COCO keypoints.
func poseShape(t tflite.TensorInfo) bool {
	s := t.Shape
	switch len(s) {
	case 4:
		return s[0] == 1 && s[1] == 1 && s[2] == len(CocoKeypoints) && s[3] == 3
	case 3:
		return s[0] == 1 && s[1] == len(CocoKeypoints) && s[2] == 3
	}
	return false
}

// decodePose reads the (y, x, score) rows of a pose output and maps them to pixels.
func decodePose(out *tflite.Tensor, scratch []float32, mapPoint PointMapper) ([]Keypoint, []float32, error) {
	if out.NumElements() != 3*len(CocoKeypoints) || out.Dim(out.Rank()-1) != 3 {
		return nil, scratch, fmt.Errorf("%w: pose output %q has shape %v (want [1, 1, 17, 3] of y, x, score)", ErrOutput, out.Name(), out.Shape())
	}
	v, err := Dequantize(scratch, out)
	if err != nil {
		return nil, scratch, err
	}
	kps := make([]Keypoint, len(CocoKeypoints))
	for i := range kps {
		y, x, s := v[3*i], v[3*i+1], v[3*i+2]
		if !finite(y) || !finite(x) || !finite(s) {
			return nil, v, fmt.Errorf("%w: pose output %q keypoint %d is (%v, %v, %v)", ErrOutput, out.Name(), i, y, x, s)
		}
		px, py := mapPoint(float64(x), float64(y))
		kps[i] = Keypoint{Name: CocoKeypoints[i], Score: s, X: round2(px), Y: round2(py)}
	}
	return kps, v, nil
}

// round2 rounds a pixel position to hundredths: finer digits only bloat records.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
