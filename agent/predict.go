package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/tflite/backend"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// ImagePredictor runs a model on still images through the capture loop's own steps: the same
// OpenCV decoding and preprocessing (camera.Preprocessor), the same runtime choice and interpreter
// settings (model.runtime, model.library, model.threads), the same decoder and the same mapping of boxes back to the image. `edge-agent infer` uses it, so what it
// prints is what the agent would record for that picture. It holds an interpreter of its own and
// is not safe for concurrent use.
type ImagePredictor struct {
	m *model
}

// Prediction is the result for one image: what a record carries besides its identity.
type Prediction struct {
	Frame   FrameSize `json:"frame"`
	InferMS float64   `json:"infer_ms"`
	vision.Result
}

// NewImagePredictor loads the model as the agent does, on the runtime c.Runtime names (auto
// measures both for about 2 s, unless ctx ends first). Its errors name the file.
func NewImagePredictor(ctx context.Context, c ModelConfig) (*ImagePredictor, error) {
	m, err := loadModel(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	return &ImagePredictor{m: m}, nil
}

// Runtime says which runtime runs the model and why (auto's timings, a fallback, a disagreement).
func (p *ImagePredictor) Runtime() backend.Choice { return p.m.choice }

// Task returns the task the model's outputs are decoded for.
func (p *ImagePredictor) Task() vision.Task { return p.m.dec.Task }

// Decoder returns the decoder, to change what it keeps (threshold, top K, most results).
func (p *ImagePredictor) Decoder() *vision.Decoder { return &p.m.dec }

// PredictFile runs the model on an image file (JPEG, PNG, BMP).
func (p *ImagePredictor) PredictFile(path string) (Prediction, error) {
	f, err := camera.ReadImage(path)
	if err != nil {
		return Prediction{}, err
	}
	defer f.Close()
	return p.predict(f)
}

// Predict runs the model on an encoded image (JPEG, PNG, BMP).
func (p *ImagePredictor) Predict(image []byte) (Prediction, error) {
	f, err := camera.DecodeImage(image)
	if err != nil {
		return Prediction{}, err
	}
	defer f.Close()
	return p.predict(f)
}

func (p *ImagePredictor) predict(f *camera.Frame) (Prediction, error) {
	m := p.m
	tr, err := m.pre.Run(f, m.input.Bytes())
	if err != nil {
		return Prediction{}, err
	}
	t0 := time.Now()
	if err := m.ip.Invoke(); err != nil {
		return Prediction{}, fmt.Errorf("inference: %w", err)
	}
	d := time.Since(t0)
	res, err := m.decode(tr)
	if err != nil {
		return Prediction{}, err
	}
	return Prediction{Frame: FrameSize{W: f.Width(), H: f.Height()}, InferMS: float64(d.Microseconds()) / 1000, Result: res}, nil
}

// Close releases the interpreter.
func (p *ImagePredictor) Close() { p.m.close() }
