package agent

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/httpapi"
)

// predictor answers POST /v1/predict with the running model through an ImagePredictor of its
// own, so predictions never touch the capture loop's interpreter, and an image gives what the
// agent would record for it: on the runtime the running model got (auto's choice is reused, not
// measured again). It loads the model on the first request and again after a reload or an update
// replaced it.
type predictor struct {
	a      *agent
	device string

	mu  gosync.Mutex    // one prediction at a time on the interpreter
	ip  *ImagePredictor // nil until the first request
	cfg ModelConfig     // what ip was loaded with
}

// sameModel reports whether two model settings load the same model: thresholds apart, which
// the decoder takes per call.
func sameModel(a, b ModelConfig) bool {
	a.TopK, a.ScoreThreshold = b.TopK, b.ScoreThreshold
	return a == b
}

// Predict implements httpapi.Predictor: image is a JPEG, PNG or BMP whose header the server
// checked.
func (p *predictor) Predict(ctx context.Context, image []byte) (any, error) {
	want := *p.a.modelCfg.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if p.ip == nil || !sameModel(p.cfg, want) {
		if p.ip != nil {
			p.ip.Close()
			p.ip = nil
		}
		m, err := loadModel(ctx, want, p.a.runtime.Load())
		if err != nil {
			return nil, fmt.Errorf("%w: loading the model: %v", httpapi.ErrUnavailable, err)
		}
		p.ip, p.cfg = &ImagePredictor{m: m}, want
	}
	p.ip.m.setThresholds(want.TopK, want.ScoreThreshold)
	at := time.Now()
	pred, err := p.ip.Predict(image)
	if errors.Is(err, camera.ErrImage) {
		return nil, fmt.Errorf("%w: %v", httpapi.ErrImage, err)
	}
	if err != nil {
		return nil, err
	}
	return &Record{V: RecordVersion, Device: p.device, TS: at.UTC(), Model: p.ip.m.ref,
		Frame: pred.Frame, InferMS: pred.InferMS, Result: pred.Result}, nil
}

// close releases the interpreter; the HTTP server has stopped, so no prediction runs.
func (p *predictor) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ip != nil {
		p.ip.Close()
		p.ip = nil
	}
}
