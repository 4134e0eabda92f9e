package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	gosync "sync"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// openOTA opens the OTA state in the state directory (see package ota). The configured model is
// the base; the model to run is the updater's Model. With no trusted key the updater still runs:
// a model installed earlier stays active, and the status says that updates are off.
func openOTA(cfg Config, keys []ota.PublicKey, rt *otaRuntime, a *agent) (*ota.Updater, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, cfg.errorAt("state_dir", err)
	}
	o := cfg.OTA
	restarts := o.HealthMaxRestarts
	if restarts == 0 {
		restarts = -1 // ota's zero is its default; the configuration's is "none"
	}
	reserve := int64(o.ReserveBytes)
	if reserve == 0 {
		reserve = -1
	}
	u, err := ota.Open(ota.Config{
		DeviceID:          cfg.Device.ID,
		Groups:            cfg.Device.Groups,
		TopicPrefix:       cfg.MQTT.TopicPrefix,
		StateDir:          cfg.StateDir,
		TrustedKeys:       keys,
		Base:              ota.Model{Name: cfg.Model.Name, Version: cfg.Model.Version, Path: cfg.Model.Path, LabelsPath: cfg.Model.Labels},
		MaxModelBytes:     int64(o.MaxModelBytes),
		ReserveBytes:      reserve,
		HealthFrames:      o.HealthFrames,
		HealthTimeout:     o.HealthTimeout,
		HealthMaxRestarts: restarts,
		ShadowTimeout:     o.ShadowTimeout,
		StallTimeout:      o.StallTimeout,
		Logger:            a.log,
	}, rt)
	if err != nil {
		return nil, cfg.errorAt("state_dir", err)
	}
	return u, nil
}

// prepareRun is prepare for Run: it opens the OTA state first, since the model to load is the one
// the updater names (the configured one until an update installs another).
func (a *agent) prepareRun(cfg Config) (*prepared, error) {
	keys, err := otaKeys(cfg)
	if err != nil {
		_, err := prepare(cfg) // reports it with every other problem
		return nil, err
	}
	rt := &otaRuntime{a: a, base: cfg.Model}
	u, err := openOTA(cfg, keys, rt, a)
	if err != nil {
		return nil, err
	}
	var p *prepared
	if m := u.Model(); m.Path == cfg.Model.Path {
		p, err = prepare(cfg) // the configured model: the checks of Check
	} else {
		var mdl *model
		if mdl, cfg.Model, err = loadActive(cfg, u); err == nil {
			p, err = prepareWith(cfg, mdl, nil)
		}
	}
	if err != nil {
		if cerr := u.Close(); cerr != nil {
			a.log.Warn("closing the OTA state", "err", cerr)
		}
		return nil, err
	}
	a.ota, a.otaRT = u, rt
	if st := u.Status(); st.OTA == "off" {
		a.log.Info("model updates over MQTT are off: no ota.trusted_keys")
	} else if m := u.Model(); m.Path != a.fileModel.Path {
		a.log.Info("running the model installed by an update", "name", m.Name, "version", m.Version, "sha256", m.SHA256)
	}
	return p, nil
}

// withModel returns c (the configured model settings: task, fit, normalisation, threads,
// thresholds) for the model file m.
func withModel(c ModelConfig, m ota.Model) ModelConfig {
	c.Path, c.Name, c.Version, c.Labels = m.Path, m.Name, m.Version, m.LabelsPath
	return c
}

// loadActive loads the model the updater names, falling back (LoadFailed) to the previous one
// and then the configured one when it does not load. A configured model that does not load is the
// usual configuration error.
func loadActive(cfg Config, u *ota.Updater) (*model, ModelConfig, error) {
	m := u.Model()
	for {
		mc := withModel(cfg.Model, m)
		mdl, err := loadModel(context.Background(), mc, nil)
		if err == nil {
			return mdl, mc, nil
		}
		next, ferr := u.LoadFailed(m, err)
		if ferr != nil {
			return nil, mc, cfg.errorAt(modelKey(cfg, err), err)
		}
		m = next
	}
}

// otaRuntime is the agent's side of an update (ota.Runtime, ota.Shadower). Its methods run on the
// updater's goroutine; they load models there, off the capture loop, and hand the capture loop
// only the swap.
type otaRuntime struct {
	a *agent

	mu   gosync.Mutex
	base ModelConfig // the configured model settings, updated by a reload
}

func (r *otaRuntime) settings() ModelConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.base
}

func (r *otaRuntime) setSettings(c ModelConfig) {
	r.mu.Lock()
	r.base = c
	r.mu.Unlock()
}

// Validate loads m as the capture loop would (on the runtime model.runtime names, every op
// supported, an input the camera pipeline can feed, outputs the decoder reads for the configured
// task) and runs it once on a blank frame.
func (r *otaRuntime) Validate(ctx context.Context, m ota.Model) error {
	mc := withModel(r.settings(), m)
	mc.Threads = 1 // beside the live pipeline
	mdl, err := loadModel(ctx, mc, nil)
	if err != nil {
		return err
	}
	defer mdl.close()
	f, err := blankFrame()
	if err != nil {
		return err
	}
	defer f.Close()
	tr, err := mdl.pre.Run(f, mdl.input.Bytes())
	if err != nil {
		return fmt.Errorf("preprocessing a frame: %w", err)
	}
	if err := mdl.ip.Invoke(); err != nil {
		return fmt.Errorf("smoke inference: %w", err)
	}
	if _, err := mdl.decode(tr); err != nil {
		return fmt.Errorf("decoding the smoke inference: %w", err)
	}
	return nil
}

// blankFrame is a mid-gray 640x480 frame for the smoke inference.
func blankFrame() (*camera.Frame, error) {
	img := image.NewGray(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return camera.DecodeImage(b.Bytes())
}

// Activate loads m and has the capture loop swap it in between two frames.
func (r *otaRuntime) Activate(ctx context.Context, m ota.Model) error {
	a := r.a
	mdl, err := loadModel(ctx, withModel(r.settings(), m), nil)
	if err != nil {
		return err
	}
	reply := make(chan error, 1)
	a.betweenFrames(func(running bool) {
		if !running {
			mdl.close()
			reply <- errStopping
			return
		}
		t0 := time.Now()
		old := a.model
		mdl.setThresholds(a.cfg.Model.TopK, a.cfg.Model.ScoreThreshold)
		a.model = mdl
		a.cfg.Model = withModel(a.cfg.Model, m)
		a.modelRef.Store(&mdl.ref)
		a.modelChanged()
		old.close()
		swap := time.Since(t0)
		a.log.Info("model activated", "name", mdl.ref.Name, "version", mdl.ref.Version, "sha256", mdl.ref.SHA256,
			"task", mdl.dec.Task, "swap_ms", float64(swap.Microseconds())/1000, "runtime", mdl.choice)
		a.logChoice(mdl)
		a.emit("model_activated", map[string]any{"name": mdl.ref.Name, "version": mdl.ref.Version, "sha256": mdl.ref.SHA256,
			"swap_ms": float64(swap.Microseconds()) / 1000})
		reply <- nil
	})
	if err := <-reply; errors.Is(err, errStopping) {
		// The capture loop has ended: the agent stops, and the next start loads the model.
		<-ctx.Done()
		return ctx.Err()
	} else if err != nil {
		return err
	}
	return nil
}

// StartShadow loads m and has the capture loop hand it some of its frames.
func (r *otaRuntime) StartShadow(ctx context.Context, m ota.Model) error {
	a := r.a
	mc := withModel(r.settings(), m)
	mdl, err := loadModel(ctx, mc, nil)
	if err != nil {
		return err
	}
	sh := newShadow(mdl, a.cfg.OTA.ShadowEvery, a.ota)
	reply := make(chan error, 1)
	a.betweenFrames(func(running bool) {
		if !running {
			sh.stop()
			reply <- errStopping
			return
		}
		if a.shadow != nil {
			a.shadow.stop()
		}
		mdl.setThresholds(a.cfg.Model.TopK, a.cfg.Model.ScoreThreshold)
		a.shadow = sh
		reply <- nil
	})
	return <-reply
}

// StopShadow stops the shadow run and releases its model.
func (r *otaRuntime) StopShadow() {
	a := r.a
	done := make(chan struct{})
	a.betweenFrames(func(bool) {
		if a.shadow != nil {
			a.shadow.stop()
			a.shadow = nil
		}
		close(done)
	})
	<-done
}

// shadow runs a candidate model on a worker goroutine beside the capture loop: the loop
// preprocesses one frame in every few into the worker's spare buffer when the worker is idle, and
// the worker runs the candidate on it and reports both models' results to the updater.
type shadow struct {
	m     *model
	every int
	n     int         // frames since the last hand-off; the capture loop's
	free  chan []byte // the spare input buffer, when the worker is idle
	in    chan shadowJob
	done  chan struct{}
	u     *ota.Updater
}

type shadowJob struct {
	input  []byte
	tr     camera.Transform
	active ota.Prediction
}

func newShadow(m *model, every int, u *ota.Updater) *shadow {
	s := &shadow{m: m, every: max(every, 1), free: make(chan []byte, 1), in: make(chan shadowJob, 1),
		done: make(chan struct{}), u: u}
	s.free <- make([]byte, len(m.input.Bytes()))
	go s.run()
	return s
}

// feed hands f to the worker when it is idle and its turn has come; called by the capture loop
// after the active model's result for f.
func (s *shadow) feed(f *camera.Frame, res vision.Result, inferTime time.Duration) {
	s.n++
	if s.n < s.every {
		return
	}
	select {
	case buf := <-s.free:
		tr, err := s.m.pre.Run(f, buf)
		if err != nil {
			s.free <- buf
			return
		}
		s.n = 0
		s.in <- shadowJob{input: buf, tr: tr, active: prediction(res, inferTime)}
	default: // busy: skip this frame
	}
}

func (s *shadow) run() {
	defer close(s.done)
	for job := range s.in {
		copy(s.m.input.Bytes(), job.input)
		s.free <- job.input
		t0 := time.Now()
		err := s.m.ip.Invoke()
		d := time.Since(t0)
		var res vision.Result
		if err == nil {
			res, err = s.m.decode(job.tr)
		}
		s.u.ShadowFrame(ota.ShadowSample{Active: job.active, Candidate: prediction(res, d), CandidateErr: err})
	}
}

// stop ends the worker and releases the model; called on the capture loop (or after it ended).
func (s *shadow) stop() {
	close(s.in)
	<-s.done
	s.m.close()
}

// prediction converts a decoded result for the shadow comparison.
func prediction(res vision.Result, d time.Duration) ota.Prediction {
	p := ota.Prediction{Detect: res.Detections != nil, LatencyMS: float64(d.Microseconds()) / 1000}
	for _, c := range res.Classes {
		p.Classes = append(p.Classes, ota.Class{Index: c.Index, Label: c.Label, Score: float64(c.Score)})
	}
	if res.Detections != nil {
		for _, d := range *res.Detections {
			p.Detections = append(p.Detections, ota.Detection{Class: d.Class, Label: d.Label, Score: float64(d.Score),
				Box: ota.Box{X: float64(d.Box.X), Y: float64(d.Box.Y), W: float64(d.Box.W), H: float64(d.Box.H)}})
		}
	}
	return p
}

// otaKeys reads ota.trusted_keys.
func otaKeys(cfg Config) ([]ota.PublicKey, error) {
	keys, err := ota.ParseTrustedKeys(cfg.OTA.TrustedKeys)
	if err != nil {
		return nil, cfg.errorAt("ota.trusted_keys", err)
	}
	return keys, nil
}
