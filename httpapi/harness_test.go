package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// The real model, clip and photos the tests run on (see models/README.md, testdata/).
const (
	ssdPath    = "../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
	labelsPath = "../models/labelmap.txt"
	sampleClip = "../testdata/clips/sample.mp4"
	catsJPEG   = "../testdata/models/detect/cats_and_dogs.jpg" // 1200x600; published: cat 0.64, cat 0.61, cat 0.56, dog 0.50
	burgerJPEG = "../testdata/models/classify_quant/burger.jpg"
	modelName  = "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29"
	threshold  = 0.5
)

// The JSON the tests exchange: the layout of the agent's records (agent/record.go).
type (
	testRecord struct {
		V          int             `json:"v"`
		Device     string          `json:"device"`
		Seq        uint64          `json:"seq,omitempty"`
		TS         time.Time       `json:"ts"`
		Model      testModelRef    `json:"model"`
		Frame      testFrameSize   `json:"frame"`
		InferMS    float64         `json:"infer_ms"`
		Detections []testDetection `json:"detections"`
	}
	testModelRef struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
		SHA256  string `json:"sha256"`
	}
	testFrameSize struct {
		W int `json:"w"`
		H int `json:"h"`
	}
	testDetection struct {
		Label string     `json:"label,omitempty"`
		Class int        `json:"class"`
		Score float64    `json:"score"`
		Box   vision.Box `json:"box"`
	}
)

// ssd is the bundled detector with an interpreter of its own, as the agent's Predictor has.
type ssd struct {
	mu     gosync.Mutex // one Invoke at a time
	model  *tflite.Model
	ip     *tflite.Interpreter
	labels vision.Labels
	ref    testModelRef
}

func loadSSD(tb testing.TB) *ssd {
	tb.Helper()
	m, err := tflite.LoadFile(ssdPath)
	if err != nil {
		tb.Fatal(err)
	}
	ip, err := tflite.NewInterpreter(m, tflite.WithThreads(2))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ip.Close() })
	labels, err := vision.LoadLabels(labelsPath)
	if err != nil {
		tb.Fatal(err)
	}
	return &ssd{model: m, ip: ip, labels: labels, ref: testModelRef{Name: modelName, Version: "2018_06_29", SHA256: m.SHA256()}}
}

func (s *ssd) outputs() vision.SSDOutputs {
	return vision.SSDOutputs{Boxes: s.ip.Output(0), Classes: s.ip.Output(1), Scores: s.ip.Output(2), Count: s.ip.Output(3)}
}

func (s *ssd) record(dets []vision.Detection, w, h int, infer time.Duration, ts time.Time) testRecord {
	rec := testRecord{V: 1, Device: "test-cam", TS: ts.UTC(), Model: s.ref, Frame: testFrameSize{w, h},
		InferMS: float64(infer.Microseconds()) / 1000, Detections: []testDetection{}}
	for _, d := range dets {
		rec.Detections = append(rec.Detections, testDetection{Label: d.Label, Class: d.Class, Score: float64(d.Score), Box: d.Box})
	}
	return rec
}

// Predict implements Predictor with the Go image path (vision.DecodeImage, vision.FillInput).
func (s *ssd) Predict(ctx context.Context, data []byte) (any, error) {
	img, err := vision.DecodeImage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	return s.predictImage(ctx, img)
}

func (s *ssd) predictImage(ctx context.Context, img image.Image) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := vision.FillInput(s.ip.Input(0), img, vision.Normalization{Mean: 127.5, Std: 127.5}); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := s.ip.Invoke(); err != nil {
		return nil, err
	}
	infer := time.Since(t0)
	size := img.Bounds().Size()
	dets, err := vision.DecodeSSD(s.outputs(), vision.DetectOptions{Width: size.X, Height: size.Y, Threshold: threshold, Labels: s.labels})
	if err != nil {
		return nil, err
	}
	return s.record(dets, size.X, size.Y, infer, time.Now()), nil
}

// gatedPredictor holds every Predict until release is closed, to fill the slots.
type gatedPredictor struct {
	started  chan struct{} // receives when a Predict call starts
	release  chan struct{}
	calls    atomic.Int32
	stubborn bool // ignore the context
}

func newGated() *gatedPredictor {
	return &gatedPredictor{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gatedPredictor) Predict(ctx context.Context, data []byte) (any, error) {
	g.calls.Add(1)
	g.started <- struct{}{}
	if g.stubborn {
		<-g.release
		return nil, ctx.Err()
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return map[string]int{"bytes": len(data)}, nil
}

// errPredictor fails every prediction with err.
type errPredictor struct{ err error }

func (e errPredictor) Predict(context.Context, []byte) (any, error) { return nil, e.err }

// standIn is a stand-in for the agent's status and readiness, settable by the tests.
type standIn struct {
	mu     gosync.Mutex
	status map[string]any
	checks []Check
}

func newStandIn() *standIn {
	return &standIn{
		status: map[string]any{"v": 1, "state": "online", "device": "test-cam", "agent_version": "v0-test",
			"model": modelName, "model_version": "2018_06_29", "runtime": "go", "camera": "connected",
			"fps": 9.5, "infer_ms": 41.2, "backlog": 3, "drops": map[string]int{"max_records": 2}, "uptime_s": 75},
		checks: []Check{{Name: "camera", Ready: true, State: "connected"}, {Name: "model", Ready: true, State: "loaded"},
			{Name: "store", Ready: true, State: "writable"}, {Name: "broker", Ready: true, State: "connected"}},
	}
}

func (a *standIn) Status() any {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := make(map[string]any, len(a.status))
	for k, v := range a.status {
		st[k] = v
	}
	return st
}

func (a *standIn) Checks() []Check {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.checks)
}

func (a *standIn) setCheck(c Check) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.checks {
		if a.checks[i].Name == c.Name {
			a.checks[i] = c
		}
	}
}

// pipeline plays the sample clip through the SSD into a Server the way the agent's capture loop
// does: every frame becomes a record, and a frame with its boxes drawn whenever WantFrame asks.
// It also serves as the Agent: its status carries the real camera state, fps and latency.
type pipeline struct {
	srv    *Server
	src    camera.Source
	ssd    *ssd
	pre    *camera.Preprocessor
	start  time.Time
	frames atomic.Uint64
	seq    uint64
	infer  atomic.Int64 // nanoseconds, last frame

	mu    gosync.Mutex
	times []time.Time // the last frames' completion times, for fps
}

func startPipeline(t *testing.T, ctx context.Context) *pipeline {
	t.Helper()
	src, err := camera.Open(ctx, camera.Config{URL: sampleClip, MaxFPS: 10, Loop: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	s := loadSSD(t)
	in := s.ip.Input(0)
	pre, err := camera.NewPreprocessor(camera.InputSpec{Width: in.Dim(2), Height: in.Dim(1), Channels: 3, Type: camera.UInt8, Fit: camera.Stretch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pre.Close() })
	return &pipeline{src: src, ssd: s, pre: pre, start: time.Now()}
}

// run processes frames until ctx ends; the caller waits for it.
func (p *pipeline) run(ctx context.Context) error {
	for {
		f, err := p.src.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := p.process(f); err != nil {
			return err
		}
	}
}

func (p *pipeline) process(f *camera.Frame) error {
	defer f.Close()
	s := p.ssd
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := p.pre.Run(f, s.ip.Input(0).Bytes()); err != nil {
		return err
	}
	t0 := time.Now()
	if err := s.ip.Invoke(); err != nil {
		return err
	}
	infer := time.Since(t0)
	// With the Stretch fit, scaling the normalised boxes to the frame is the preprocessor's
	// Transform.
	dets, err := vision.DecodeSSD(s.outputs(), vision.DetectOptions{Width: f.Width(), Height: f.Height(), Threshold: threshold, Labels: s.labels})
	if err != nil {
		return err
	}
	p.seq++
	rec := s.record(dets, f.Width(), f.Height(), infer, f.Time())
	rec.Seq = p.seq
	if p.srv.WantFrame() {
		boxes := make([]camera.Box, len(dets))
		for i, d := range dets {
			boxes[i] = camera.Box{Rect: image.Rect(d.Box.X, d.Box.Y, d.Box.X+d.Box.W, d.Box.Y+d.Box.H), Label: fmt.Sprintf("%s %.2f", d.Label, d.Score)}
		}
		jpg, err := f.SnapshotJPEG(boxes, 80, 0)
		if err != nil {
			return err
		}
		p.srv.PublishFrame(Frame{JPEG: jpg, Time: f.Time()})
	}
	p.srv.PublishRecord(rec)
	p.frames.Add(1)
	p.infer.Store(int64(infer))
	p.mu.Lock()
	p.times = append(p.times, time.Now())
	if len(p.times) > 20 {
		p.times = p.times[1:]
	}
	p.mu.Unlock()
	return nil
}

func (p *pipeline) fps() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.times) < 2 {
		return 0
	}
	return float64(len(p.times)-1) / p.times[len(p.times)-1].Sub(p.times[0]).Seconds()
}

func (p *pipeline) Status() any {
	return map[string]any{"v": 1, "state": "online", "device": "browser-test", "agent_version": "v0-test",
		"model": p.ssd.ref.Name, "model_version": p.ssd.ref.Version, "model_sha256": p.ssd.ref.SHA256, "runtime": "go",
		"camera": p.src.State().State.String(), "frames": p.frames.Load(), "fps": p.fps(),
		"infer_ms": float64(p.infer.Load()/1000) / 1000, "backlog": 0, "drops": map[string]uint64{},
		"uptime_s": int64(time.Since(p.start).Seconds())}
}

func (p *pipeline) Checks() []Check {
	cam := p.src.State()
	c := Check{Name: "camera", Ready: cam.State == camera.StateConnected, State: cam.State.String()}
	if cam.Err != nil {
		c.Reason = cam.Err.Error()
	}
	return []Check{c, {Name: "model", Ready: true, State: "loaded", Reason: p.ssd.ref.Name}}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
