package vision

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/edge-agent/edge-agent/tflite"
)

// Task is what a model's outputs mean, and so how they are decoded.
type Task string

// The tasks this package decodes.
const (
	TaskClassify Task = "classify" // one output of class scores
	TaskDetect   Task = "detect"   // the four outputs of TFLite_Detection_PostProcess
)

// DetectionOp is the custom op that ends SSD detectors; its four outputs are boxes, classes,
// scores and count.
const DetectionOp = "TFLite_Detection_PostProcess"

// ErrTask is wrapped by errors about a task that does not fit the model.
var ErrTask = errors.New("model does not fit the task")

// TaskOf tells the task of a model from its outputs. It is the one place that decides, for the
// agent and for `edge-agent infer` alike.
func TaskOf(m *tflite.Model) (Task, error) {
	outs := m.Outputs()
	switch {
	case m.OpCounts()[DetectionOp] > 0 && len(outs) == 4:
		return TaskDetect, nil
	case len(outs) == 1:
		return TaskClassify, nil
	}
	return "", fmt.Errorf("%w: cannot tell whether it classifies or detects (%d outputs, no %s op)", ErrTask, len(outs), DetectionOp)
}

// ResolveTask returns the task to decode m with: TaskOf for "auto" or "", else the named task
// once it is checked against the model's outputs.
func ResolveTask(name string, m *tflite.Model) (Task, error) {
	outs := len(m.Outputs())
	switch t := Task(name); t {
	case "", "auto":
		return TaskOf(m)
	case TaskDetect:
		if outs != 4 {
			return "", fmt.Errorf("%w: task detect needs the 4 outputs of %s, the model has %d", ErrTask, DetectionOp, outs)
		}
		return t, nil
	case TaskClassify:
		if outs != 1 {
			return "", fmt.Errorf("%w: task classify needs one output of class scores, the model has %d", ErrTask, outs)
		}
		return t, nil
	}
	return "", fmt.Errorf("%w: unknown task %q (want auto, classify or detect)", ErrTask, name)
}

// Result is a decoded model output, as records and `edge-agent infer --json` carry it: Classes
// for a classifier, Detections (possibly empty, never nil) for a detector.
type Result struct {
	Classes    []Class      `json:"classes,omitempty"`
	Detections *[]Detection `json:"detections,omitempty"`
}

// BoxMapper maps a box in normalised model coordinates to pixels of the image the caller
// cares about (a camera frame, an image file), clipped to it; false drops the box (it lies
// outside the picture, in letterbox padding, or is not finite).
type BoxMapper func(ymin, xmin, ymax, xmax float32) (Box, bool)

// Stretch is the BoxMapper of an image stretched to the model input: boxes scale to w x h. The
// corner is truncated and the size rounded, as the TFLite Task library does.
func Stretch(w, h int) BoxMapper {
	return func(ymin, xmin, ymax, xmax float32) (Box, bool) { return pixelBox(ymin, xmin, ymax, xmax, w, h) }
}

// Decoder decodes the outputs of one model for its task. It keeps scratch memory between calls,
// so it is used by one goroutine at a time.
type Decoder struct {
	Task   Task
	Labels Labels
	// TopK is the number of classes a classification keeps (default 5).
	TopK int
	// Threshold drops classes and detections that score below it.
	Threshold float32
	// MaxResults caps the number of detections (0: all the model returns).
	MaxResults int

	scores []float32
}

// Decode decodes outs, the model's outputs in order. mapBox places detection boxes; it is
// required for TaskDetect. Detections come by decreasing score; empty boxes are dropped.
func (d *Decoder) Decode(outs []*tflite.Tensor, mapBox BoxMapper) (Result, error) {
	switch d.Task {
	case TaskClassify:
		if len(outs) != 1 {
			return Result{}, fmt.Errorf("%w: a classifier has one output, got %d", ErrOutput, len(outs))
		}
		out := outs[0]
		if out.Rank() == 0 || out.NumElements() != out.Dim(out.Rank()-1) {
			return Result{}, fmt.Errorf("%w: classifier output %q has shape %v (want [1, classes])", ErrOutput, out.Name(), out.Shape())
		}
		var err error
		if d.scores, err = Dequantize(d.scores, out); err != nil {
			return Result{}, err
		}
		k := d.TopK
		if k <= 0 {
			k = 5
		}
		var classes []Class
		for _, c := range TopK(d.scores, k, d.Labels) {
			if c.Score >= d.Threshold {
				classes = append(classes, c)
			}
		}
		return Result{Classes: classes}, nil
	case TaskDetect:
		if len(outs) != 4 {
			return Result{}, fmt.Errorf("%w: a detector has 4 outputs, got %d", ErrOutput, len(outs))
		}
		if mapBox == nil {
			return Result{}, errors.New("vision: detection needs a BoxMapper")
		}
		dets, err := decodeSSD(SSDOutputs{Boxes: outs[0], Classes: outs[1], Scores: outs[2], Count: outs[3]},
			d.Threshold, d.MaxResults, d.Labels, mapBox)
		if err != nil {
			return Result{}, err
		}
		if dets == nil {
			dets = []Detection{}
		}
		return Result{Detections: &dets}, nil
	}
	return Result{}, fmt.Errorf("%w: unknown task %q", ErrTask, d.Task)
}

// decodeSSD checks the four SSD outputs and decodes them.
func decodeSSD(out SSDOutputs, threshold float32, maxResults int, labels Labels, mapBox BoxMapper) ([]Detection, error) {
	for _, t := range []*tflite.Tensor{out.Boxes, out.Classes, out.Scores, out.Count} {
		if t == nil {
			return nil, fmt.Errorf("%w: missing SSD output", ErrOutput)
		}
		if t.Type() != tflite.Float32 {
			return nil, fmt.Errorf("%w: SSD output %q has type %s, want float32", ErrOutput, t.Name(), t.Type())
		}
	}
	boxes, classes, scores := out.Boxes.Float32s(), out.Classes.Float32s(), out.Scores.Float32s()
	n := len(classes)
	if out.Boxes.Rank() != 3 || out.Boxes.Dim(2) != 4 || len(boxes) != 4*n || len(scores) != n || out.Count.NumElements() != 1 {
		return nil, fmt.Errorf("%w: SSD output shapes %v %v %v %v (want [1,N,4] [1,N] [1,N] [1])", ErrOutput,
			out.Boxes.Shape(), out.Classes.Shape(), out.Scores.Shape(), out.Count.Shape())
	}
	return decodeBoxes(boxes, classes, scores, out.Count.Float32s()[0], threshold, maxResults, labels, mapBox)
}

// decodeBoxes is decodeSSD on the outputs' data; len(boxes) == 4*len(classes) == 4*len(scores).
func decodeBoxes(boxes, classes, scores []float32, count, threshold float32, maxResults int, labels Labels, mapBox BoxMapper) ([]Detection, error) {
	n := len(classes)
	if !(count >= 0) { // also NaN: the model's output is garbage, not "nothing found"
		return nil, fmt.Errorf("%w: detection count %v", ErrOutput, count)
	}
	num := int(min(count, float32(n)))
	var dets []Detection
	for i := 0; i < num; i++ {
		s, c := scores[i], classes[i]
		if !(s >= threshold) || !(c >= 0 && c < math.MaxInt32) {
			continue
		}
		b := boxes[i*4 : i*4+4]
		box, ok := mapBox(b[0], b[1], b[2], b[3])
		if !ok || box.W <= 0 || box.H <= 0 {
			continue
		}
		dets = append(dets, Detection{Label: labels.Name(int(c)), Class: int(c), Score: s, Box: box})
	}
	// The post-process op sorts by score; a model that does not must not reorder records.
	slices.SortStableFunc(dets, func(a, b Detection) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	if maxResults > 0 && len(dets) > maxResults {
		dets = dets[:maxResults]
	}
	return dets, nil
}
