package agent

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// detectionOp is the custom op that ends SSD detectors; its four outputs are boxes, classes,
// scores and count.
const detectionOp = "TFLite_Detection_PostProcess"

// model is a loaded model with its interpreter, preprocessor and decoding settings. It is used by
// one goroutine at a time.
type model struct {
	ip     *tflite.Interpreter
	input  *tflite.Tensor
	pre    *camera.Preprocessor
	task   string // classify or detect
	labels vision.Labels
	ref    ModelRef
	cfg    ModelConfig
	scores []float32 // reused by classification decoding
}

// loadModel loads and validates the model file, its labels and a matching preprocessor.
func loadModel(c ModelConfig) (*model, error) {
	mdl, err := tflite.LoadFile(c.Path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	threads := c.Threads
	if threads == 0 {
		threads = runtime.NumCPU()
	}
	ip, err := tflite.NewInterpreter(mdl, tflite.WithThreads(threads))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", c.Path, err)
	}
	m := &model{ip: ip, cfg: c, ref: ModelRef{Name: c.Name, Version: c.Version, SHA256: mdl.SHA256()}}
	if err := m.init(mdl); err != nil {
		ip.Close()
		return nil, fmt.Errorf("model %s: %w", c.Path, err)
	}
	return m, nil
}

func (m *model) init(mdl *tflite.Model) error {
	if m.ip.InputCount() != 1 {
		return fmt.Errorf("has %d inputs; the agent runs image models with one input", m.ip.InputCount())
	}
	m.input = m.ip.Input(0)
	spec, err := inputSpec(m.input, m.cfg)
	if err != nil {
		return err
	}
	if m.pre, err = camera.NewPreprocessor(spec); err != nil {
		return err
	}
	switch m.task = m.cfg.Task; m.task {
	case "auto":
		if _, ok := mdl.OpCounts()[detectionOp]; ok && m.ip.OutputCount() == 4 {
			m.task = "detect"
		} else if m.ip.OutputCount() == 1 {
			m.task = "classify"
		} else {
			return fmt.Errorf("cannot tell whether it classifies or detects (%d outputs); set model.task", m.ip.OutputCount())
		}
	case "detect":
		if m.ip.OutputCount() != 4 {
			return fmt.Errorf("model.task is detect but the model has %d outputs (want the 4 of %s)", m.ip.OutputCount(), detectionOp)
		}
	case "classify":
		if m.ip.OutputCount() < 1 {
			return errors.New("model has no outputs")
		}
	}
	if m.cfg.Labels != "" {
		if m.labels, err = vision.LoadLabels(m.cfg.Labels); err != nil {
			return fmt.Errorf("labels: %w", err)
		}
	} else {
		m.labels = vision.Labels(mdl.Labels())
	}
	return nil
}

// inputSpec describes the model input to the camera preprocessor.
func inputSpec(t *tflite.Tensor, c ModelConfig) (camera.InputSpec, error) {
	if t.Rank() != 4 || t.Dim(0) != 1 || (t.Dim(3) != 1 && t.Dim(3) != 3) {
		return camera.InputSpec{}, fmt.Errorf("input %q has shape %v; want an image [1, height, width, 1 or 3]", t.Name(), t.Shape())
	}
	spec := camera.InputSpec{Width: t.Dim(2), Height: t.Dim(1), Channels: t.Dim(3),
		Mean: float32(c.Mean), Std: float32(c.Std)}
	switch t.Type() {
	case tflite.UInt8:
		spec.Type = camera.UInt8
	case tflite.Int8:
		spec.Type = camera.Int8
	case tflite.Float32:
		spec.Type = camera.Float32
	default:
		return camera.InputSpec{}, fmt.Errorf("input %q has type %s; want uint8, int8 or float32", t.Name(), t.Type())
	}
	switch c.Fit {
	case "center_crop":
		spec.Fit = camera.CenterCrop
	case "letterbox":
		spec.Fit = camera.Letterbox
	default:
		spec.Fit = camera.Stretch
	}
	return spec, nil
}

// decode turns the interpreter's outputs into the record's results. tr maps model coordinates
// back to frame pixels.
func (m *model) decode(rec *Record, tr camera.Transform, topK int, threshold float64) error {
	if m.task == "classify" {
		var err error
		if m.scores, err = vision.Dequantize(m.scores, m.ip.Output(0)); err != nil {
			return err
		}
		for _, c := range vision.TopK(m.scores, topK, m.labels) {
			if float64(c.Score) >= threshold {
				rec.Classes = append(rec.Classes, Class{Index: c.Index, Label: c.Label, Score: roundScore(float64(c.Score))})
			}
		}
		return nil
	}
	boxes, classes, scores, count := m.ip.Output(0).Float32s(), m.ip.Output(1).Float32s(), m.ip.Output(2).Float32s(), m.ip.Output(3).Float32s()
	if boxes == nil || classes == nil || scores == nil || len(count) != 1 || len(boxes) != 4*len(classes) || len(scores) != len(classes) {
		return fmt.Errorf("%w: detector outputs are not float32 boxes [1,N,4], classes, scores [1,N] and count [1]", vision.ErrOutput)
	}
	dets := []Detection{}
	n := int(min(max(count[0], 0), float32(len(classes)))) // NaN counts as 0
	for i := 0; i < n; i++ {
		s, c := float64(scores[i]), float64(classes[i])
		if !(s >= threshold) || !(c >= 0 && c < math.MaxInt32) {
			continue
		}
		b := boxes[4*i : 4*i+4] // ymin, xmin, ymax, xmax
		r := tr.Rect(camera.NormRect{YMin: float64(b[0]), XMin: float64(b[1]), YMax: float64(b[2]), XMax: float64(b[3])})
		if r.Empty() {
			continue
		}
		dets = append(dets, Detection{Label: m.labels.Name(int(c)), Class: int(c), Score: roundScore(s),
			Box: Box{X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy()}})
	}
	slices.SortStableFunc(dets, func(a, b Detection) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	rec.Detections = &dets
	return nil
}

// close releases the interpreter and the preprocessor.
func (m *model) close() {
	m.pre.Close()
	m.ip.Close()
}
