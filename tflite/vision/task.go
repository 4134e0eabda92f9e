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
	TaskPose     Task = "pose"     // one [1, 1, 17, 3] output of (y, x, score) per COCO keypoint (MoveNet)
	TaskSegment  Task = "segment"  // one class map [1, H, W] or class scores [1, H, W, C] (DeepLab)
	TaskRaw      Task = "raw"      // any other model: its outputs, dequantised
)

// DetectionOp is the custom op that ends SSD detectors; its four outputs are boxes, classes,
// scores and count.
const DetectionOp = "TFLite_Detection_PostProcess"

// ErrTask is wrapped by errors about a task that does not fit the model.
var ErrTask = errors.New("model does not fit the task")

// TaskOf tells the task of a model from its outputs. It is the one place that decides, for the
// agent and for `edge-agent infer` alike:
//   - detect: the TFLite_Detection_PostProcess op and its four outputs;
//   - pose: one [1, 1, 17, 3] (or [1, 17, 3]) output;
//   - segment: one output of per-pixel classes [1, H, W] (integers) or scores [1, H, W, C], at
//     least an eighth of the input's height and width (coarser maps are features, not masks);
//   - classify: one output of two or more class scores ([1, N], [N] or [1, 1, 1, N]);
//   - raw: anything else, such as regressors, embeddings and multi-output heads.
func TaskOf(m *tflite.Model) (Task, error) {
	outs := m.Outputs()
	if m.OpCounts()[DetectionOp] > 0 && len(outs) == 4 {
		return TaskDetect, nil
	}
	if len(outs) != 1 {
		return TaskRaw, nil
	}
	out := outs[0]
	inH, inW := inputSize(m)
	switch {
	case poseShape(out):
		return TaskPose, nil
	case segmentShape(out, inH, inW):
		return TaskSegment, nil
	case classShape(out):
		return TaskClassify, nil
	}
	return TaskRaw, nil
}

// inputSize returns the height and width of the model's first input if it is an image
// [1, H, W, C], else 0, 0.
func inputSize(m *tflite.Model) (h, w int) {
	ins := m.Inputs()
	if len(ins) == 0 || len(ins[0].Shape) != 4 {
		return 0, 0
	}
	return ins[0].Shape[1], ins[0].Shape[2]
}

// classShape reports whether t holds one vector of two or more class scores.
func classShape(t tflite.TensorInfo) bool {
	if len(t.Shape) == 0 {
		return false
	}
	n := t.Shape[len(t.Shape)-1]
	total := 1
	for _, d := range t.Shape {
		total *= d
	}
	return n >= 2 && total == n
}

// ResolveTask returns the task to decode m with: TaskOf for "auto" or "", else the named task
// once it is checked against the model's outputs.
func ResolveTask(name string, m *tflite.Model) (Task, error) {
	outs := m.Outputs()
	switch t := Task(name); t {
	case "", "auto":
		return TaskOf(m)
	case TaskDetect:
		if len(outs) != 4 {
			return "", fmt.Errorf("%w: task detect needs the 4 outputs of %s, the model has %d", ErrTask, DetectionOp, len(outs))
		}
		return t, nil
	case TaskClassify:
		if len(outs) != 1 {
			return "", fmt.Errorf("%w: task classify needs one output of class scores, the model has %d", ErrTask, len(outs))
		}
		return t, nil
	case TaskPose:
		if len(outs) != 1 || !poseShape(outs[0]) {
			return "", fmt.Errorf("%w: task pose needs one output [1, 1, 17, 3] of (y, x, score) per keypoint, the model has %s", ErrTask, describeOutputs(outs))
		}
		return t, nil
	case TaskSegment:
		if len(outs) != 1 || !(len(outs[0].Shape) == 3 || len(outs[0].Shape) == 4) || outs[0].Shape[0] != 1 {
			return "", fmt.Errorf("%w: task segment needs one output [1, H, W] of classes or [1, H, W, C] of class scores, the model has %s", ErrTask, describeOutputs(outs))
		}
		return t, nil
	case TaskRaw:
		return t, nil
	}
	return "", fmt.Errorf("%w: unknown task %q (want auto, classify, detect, pose, segment or raw)", ErrTask, name)
}

// describeOutputs lists the outputs' types and shapes for error messages.
func describeOutputs(outs []tflite.TensorInfo) string {
	s := fmt.Sprintf("%d outputs", len(outs))
	for i, o := range outs {
		if i == 4 {
			return s + ", ..."
		}
		s += fmt.Sprintf(", %s %v", o.Type, o.Shape)
	}
	return s
}

// Result is a decoded model output, as records and `edge-agent infer --json` carry it: Classes
// for a classifier, Detections (possibly empty, never nil) for a detector, the 17 Keypoints of a
// pose model, the class shares of a Segmentation, or the Raw outputs of any other model.
type Result struct {
	Classes      []Class       `json:"classes,omitempty"`
	Detections   *[]Detection  `json:"detections,omitempty"`
	Keypoints    []Keypoint    `json:"keypoints,omitempty"`
	Segmentation *Segmentation `json:"segmentation,omitempty"`
	Raw          []RawOutput   `json:"raw,omitempty"`
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
	// Points places pose keypoints; when nil, Decode derives it from its BoxMapper (to about a
	// pixel).
	Points PointMapper
	// MaxRawValues caps the values of a raw result over all outputs (0: DefaultMaxRawValues).
	MaxRawValues int

	scores []float32
	mask   []uint16
}

// Decode decodes outs, the model's outputs in order. mapBox places detection boxes and pose
// keypoints (see Points); it is required for TaskDetect and TaskPose. Detections come by
// decreasing score; empty boxes are dropped. A pose gives all 17 keypoints whatever they score;
// a segmentation's mask is reused by the next Decode.
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
	case TaskPose:
		if len(outs) != 1 {
			return Result{}, fmt.Errorf("%w: a pose model has one output, got %d", ErrOutput, len(outs))
		}
		mapPoint := d.Points
		if mapPoint == nil {
			if mapBox == nil {
				return Result{}, errors.New("vision: pose needs a PointMapper or a BoxMapper")
			}
			var err error
			if mapPoint, err = pointsFromBoxes(mapBox); err != nil {
				return Result{}, err
			}
		}
		kps, scratch, err := decodePose(outs[0], d.scores, mapPoint)
		d.scores = scratch
		if err != nil {
			return Result{}, err
		}
		return Result{Keypoints: kps}, nil
	case TaskSegment:
		if len(outs) != 1 {
			return Result{}, fmt.Errorf("%w: a segmentation model has one output, got %d", ErrOutput, len(outs))
		}
		seg, scratch, err := decodeSegmentation(outs[0], d.mask, d.Labels, d.scores)
		d.scores = scratch
		if err != nil {
			return Result{}, err
		}
		d.mask = seg.mask
		return Result{Segmentation: seg}, nil
	case TaskRaw:
		raw, err := decodeRaw(outs, d.MaxRawValues)
		if err != nil {
			return Result{}, err
		}
		return Result{Raw: raw}, nil
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
