package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/backend"
	"github.com/edge-agent/edge-agent/tflite/native"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// model is a loaded model with its runner (on the runtime model.runtime chose), preprocessor and
// decoder. It is used by one goroutine at a time.
type model struct {
	ip      tflite.Runner
	choice  backend.Choice // which runtime runs it, and why
	input   *tflite.Tensor
	outputs []*tflite.Tensor
	pre     *camera.Preprocessor
	dec     vision.Decoder
	ref     ModelRef
	cfg     ModelConfig
}

// runtimeChoice is the runtime a model was given, so that a second interpreter for the same model
// and settings (the HTTP predictor's, a reload that keeps the model) runs on the same runtime
// without measuring again, beside the running pipeline.
type runtimeChoice struct {
	sha256  string
	cfg     ModelConfig // the runtime, library and threads it was chosen for
	threads int
	choice  backend.Choice
}

// choiceOf returns m's choice, for reuse.
func (m *model) choiceOf() *runtimeChoice {
	return &runtimeChoice{sha256: m.ref.SHA256, cfg: m.cfg, threads: threadsOf(m.cfg), choice: m.choice}
}

// fits reports whether r was made for this model file and settings.
func (r *runtimeChoice) fits(sha256 string, c ModelConfig) bool {
	return r != nil && r.sha256 == sha256 && r.cfg.Runtime == c.Runtime && r.cfg.Library == c.Library &&
		r.threads == threadsOf(c)
}

func threadsOf(c ModelConfig) int {
	if c.Threads == 0 {
		return runtime.NumCPU()
	}
	return c.Threads
}

// loadModel loads and validates the model file, its labels, a matching preprocessor and the
// decoder for its task, on the runtime c.Runtime names (auto measures both; see
// tflite/backend). prior, when it was chosen for this very file and settings, is reused instead of
// measuring again. Its errors name the file.
func loadModel(ctx context.Context, c ModelConfig, prior *runtimeChoice) (*model, error) {
	mdl, err := tflite.LoadFile(c.Path)
	if err != nil {
		return nil, err // names the file
	}
	bc := backend.Config{Runtime: c.Runtime, Library: c.Library, Threads: threadsOf(c)}
	var ip tflite.Runner
	var choice backend.Choice
	if prior.fits(mdl.SHA256(), c) && prior.choice.Requested == backend.Auto {
		pinned := bc
		pinned.Runtime = prior.choice.Runtime
		if ip, _, err = backend.Open(ctx, mdl, pinned); err == nil {
			choice = prior.choice
		}
	}
	if ip == nil {
		if ip, choice, err = backend.Open(ctx, mdl, bc); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Path, err)
		}
	}
	m := &model{ip: ip, choice: choice, cfg: c, ref: ModelRef{Name: c.Name, Version: c.Version, SHA256: mdl.SHA256()}}
	if err := m.init(mdl); err != nil {
		m.close()
		return nil, fmt.Errorf("%s: %w", c.Path, err)
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
	task, err := vision.ResolveTask(m.cfg.Task, mdl)
	if err != nil {
		return err
	}
	for i := range m.ip.OutputCount() {
		m.outputs = append(m.outputs, m.ip.Output(i))
	}
	labels := vision.Labels(mdl.Labels())
	if m.cfg.Labels != "" {
		if labels, err = vision.LoadLabels(m.cfg.Labels); err != nil {
			return err
		}
	}
	m.dec = vision.Decoder{Task: task, Labels: labels}
	m.setThresholds(m.cfg.TopK, m.cfg.ScoreThreshold)
	return nil
}

// setThresholds changes what the decoder keeps, between frames.
func (m *model) setThresholds(topK int, threshold float64) {
	m.cfg.TopK, m.cfg.ScoreThreshold = topK, threshold
	m.dec.TopK, m.dec.Threshold = topK, float32(threshold)
}

// inputSpec describes the model input to the camera preprocessor.
func inputSpec(t *tflite.Tensor, c ModelConfig) (camera.InputSpec, error) {
	if t.Rank() != 4 || t.Dim(0) != 1 || (t.Dim(3) != 1 && t.Dim(3) != 3) {
		return camera.InputSpec{}, fmt.Errorf("%w: input %q has shape %v; want an image [1, height, width, 1 or 3]", vision.ErrInput, t.Name(), t.Shape())
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
		return camera.InputSpec{}, fmt.Errorf("%w: input %q has type %s; want uint8, int8 or float32", vision.ErrInput, t.Name(), t.Type())
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

// decode turns the interpreter's outputs into the record's result; tr maps model coordinates
// back to frame pixels.
func (m *model) decode(tr camera.Transform) (vision.Result, error) {
	m.dec.Points = tr.Point // keypoints exactly where the transform puts them
	return m.dec.Decode(m.outputs, frameBoxes(tr))
}

// frameBoxes places detection boxes in the frame through the preprocessor's transform, which
// undoes its crop or letterbox.
func frameBoxes(tr camera.Transform) vision.BoxMapper {
	return func(ymin, xmin, ymax, xmax float32) (vision.Box, bool) {
		for _, v := range [...]float32{ymin, xmin, ymax, xmax} {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return vision.Box{}, false
			}
		}
		r := tr.Rect(camera.NormRect{YMin: float64(ymin), XMin: float64(xmin), YMax: float64(ymax), XMax: float64(xmax)})
		if r.Empty() {
			return vision.Box{}, false
		}
		return vision.Box{X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy()}, true
	}
}

// close releases the interpreter (a native one's memory and threads) and the preprocessor.
func (m *model) close() {
	if m.pre != nil {
		m.pre.Close()
	}
	m.ip.Close()
}

// isLibraryError reports whether err is the official runtime being unusable (the library is
// missing, corrupt or incompatible), which is model.library's (or model.runtime's) fault rather
// than the model's.
func isLibraryError(err error) bool { return errors.Is(err, native.ErrUnavailable) }
