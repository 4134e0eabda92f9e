package agent

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/camera/motion"
	"github.com/edge-agent/edge-agent/httpapi"
	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// Motion gating and camera health. On the capture loop, every frame goes through one cheap pass
// (camera/motion) before the model: it says whether something changed, and so whether the frame
// is worth inferring (motion.enabled), and whether the camera's picture is frozen or blank, which
// the agent publishes as camera states and events and feeds into the watchdog rules.

// motionParts is the detector and the gate prepare builds from the configuration.
type motionParts struct {
	det  *motion.Detector
	gate *motion.Gate
}

// newMotionParts builds the detector and the gate; the Loader has checked every key's range, so
// what is left to fail is a mask that hides nearly the whole frame.
func newMotionParts(cfg Config) (*motionParts, error) {
	dc, pol, err := motionSettings(cfg)
	if err != nil {
		return nil, cfg.errorAt("motion.mask", plain(err))
	}
	gate, err := motion.NewGate(pol)
	if err != nil {
		return nil, cfg.errorAt("motion.heartbeat", plain(err))
	}
	det, err := motion.NewDetector(dc)
	if err != nil {
		return nil, cfg.errorAt("motion.mask", plain(err))
	}
	return &motionParts{det: det, gate: gate}, nil
}

// plain drops the package's "motion: bad configuration" from err: the key says what it is about.
func plain(err error) error {
	if msg, ok := strings.CutPrefix(err.Error(), motion.ErrConfig.Error()+": "); ok {
		return errors.New(msg)
	}
	return err
}

func (m *motionParts) close() {
	if m != nil && m.det != nil {
		m.det.Close()
		m.det = nil
	}
}

// motionSettings maps the configuration onto the package's: the configuration's 0 ("off") is the
// package's negative value, since the package's zero means its default.
func motionSettings(cfg Config) (motion.Config, motion.Policy, error) {
	c := cfg.Motion
	mask, err := motion.ParseMask(c.Mask)
	if err != nil {
		return motion.Config{}, motion.Policy{}, err
	}
	off := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d
	}
	dc := motion.Config{
		Width:          c.Width,
		PixelThreshold: c.Threshold,
		MinArea:        c.MinArea,
		ResetArea:      c.ResetArea,
		Background:     c.Background,
		Mask:           mask,
		FrozenAfter:    off(cfg.Camera.FrozenAfter),
		BlankAfter:     off(cfg.Camera.BlankAfter),
	}
	pol := motion.Policy{Heartbeat: c.Heartbeat, PostFrames: c.PostFrames}
	if pol.PostFrames == 0 {
		pol.PostFrames = -1
	}
	return dc, pol, nil
}

// checkMotion validates the motion and camera health keys for Loader.Config.
func checkMotion(c Config, bad func(key, format string, args ...any)) {
	const day = 24 * time.Hour
	if d := c.Camera.FrozenAfter; d != 0 && (d < time.Second || d > day) {
		bad("camera.frozen_after", "must be 0 (off) or between 1s and 24h, got %v", d)
	}
	if d := c.Camera.BlankAfter; d != 0 && (d < 100*time.Millisecond || d > day) {
		bad("camera.blank_after", "must be 0 (off) or between 100ms and 24h, got %v", d)
	}
	m := c.Motion
	if m.Heartbeat < 100*time.Millisecond || m.Heartbeat > day {
		bad("motion.heartbeat", "must be between 100ms and 24h, got %v", m.Heartbeat)
	}
	if m.PostFrames < 0 || m.PostFrames > 10000 {
		bad("motion.post_frames", "must be between 0 and 10000, got %d", m.PostFrames)
	}
	if m.Threshold < 1 || m.Threshold > 254 {
		bad("motion.threshold", "must be between 1 and 254 gray levels, got %d", m.Threshold)
	}
	if !(m.MinArea > 0 && m.MinArea < 1) {
		bad("motion.min_area", "must be a fraction of the frame between 0 and 1 (0.003 is 0.3%%), got %v", m.MinArea)
	}
	if !(m.ResetArea > m.MinArea && m.ResetArea <= 1) {
		bad("motion.reset_area", "must be above motion.min_area (%v) and at most 1, got %v", m.MinArea, m.ResetArea)
	}
	if m.Background < 10*time.Millisecond || m.Background > time.Hour {
		bad("motion.background", "must be between 10ms and 1h, got %v", m.Background)
	}
	if _, err := motion.ParseMask(m.Mask); err != nil {
		bad("motion.mask", "%v", plain(err))
	}
	if m.Width < 16 || m.Width > 1024 {
		bad("motion.width", "must be between 16 and 1024 pixels, got %d", m.Width)
	}
}

// motionState is the agent's motion gating and camera health.
type motionState struct {
	// Owned by the capture loop.
	parts   *motionParts
	gating  bool   // motion.enabled: skip frames the gate rejects
	live    bool   // the source is a camera or a stream, whose health is watched even without gating
	gen     uint64 // the camera connection the detector has seen (camGen)
	failing bool   // the last Detect failed (logged once)
	// lastDets are the last inferred frame's detections, drawn on the frames the gate skips
	// for the live view: nothing moved since, so they still hold.
	lastDets []vision.Detection

	// Shared with the status and the camera's reader.
	counts motion.Counter
	// Frames the gate skipped and that were inferred all the same: a snapshot command waited for
	// one; a model update was in its health window or shadow run, which count inferred frames.
	forcedSnapshot, forcedModel atomic.Uint64
	enabled                     atomic.Bool   // gating, for the status
	camGen                      atomic.Uint64 // incremented by every camera connection: the background is stale

	cam camView
}

// camView is the camera state the agent publishes: the source's state, unless the source is
// connected and its picture is frozen or blank.
type camView struct {
	mu     gosync.Mutex
	src    camera.State
	source string
	srcErr string // why the source is not connected
	health motion.Health
	since  time.Time // when the health's condition began
	last   string    // the state last published
}

func (v *camView) stateLocked() string {
	switch {
	case v.src == 0:
		return camera.StateConnecting.String()
	case v.src == camera.StateConnected && v.health != motion.Live:
		return v.health.String()
	}
	return v.src.String()
}

// setMotion installs the motion parts of cfg (taking ownership of parts) and the gating flags.
func (a *agent) setMotion(cfg Config, parts *motionParts) {
	m := &a.mot
	if m.parts != nil && m.parts != parts {
		m.parts.close()
	}
	kind, _ := camera.KindOf(cfg.Camera.Source)
	m.parts, m.gating, m.live = parts, cfg.Motion.Enabled, kind != camera.KindFile
	m.enabled.Store(cfg.Motion.Enabled)
}

// gateFrame runs the motion pass on f: the camera's health, and whether f is to be inferred,
// with the motion the record carries (nil when the pass did not run).
func (a *agent) gateFrame(ctx context.Context, f *camera.Frame) (*MotionInfo, bool) {
	m := &a.mot
	if m.parts == nil || !(m.gating || m.live) {
		return nil, true
	}
	if g := m.camGen.Load(); g != m.gen {
		// The camera (re)connected: its first frames are not comparable with the last ones.
		m.gen = g
		m.parts.det.Reset()
	}
	r, err := f.DetectMotion(m.parts.det)
	if err != nil {
		if !m.failing {
			a.log.Warn("motion detection failed; inferring the frame", "err", err)
			m.failing = true
		}
		return nil, true
	}
	m.failing = false
	if r.HealthChanged {
		a.healthChanged(ctx, r)
	}
	info := &MotionInfo{Area: math.Round(r.Area*1e4) / 1e4}
	if !m.gating {
		return info, true
	}
	reason := m.parts.gate.Decide(r)
	if !reason.Infer() {
		switch {
		case a.snap.Load() != nil: // a snapshot command waits for the next processed frame
			m.forcedSnapshot.Add(1)
			info.Trigger = "snapshot"
			return info, true
		case a.checkingModel():
			m.forcedModel.Add(1)
			info.Trigger = "model_update"
			return info, true
		}
	}
	m.counts.Add(reason)
	if !reason.Infer() {
		a.metrics.FrameSkipped(reason.String())
		return nil, false
	}
	info.Trigger = reason.String()
	return info, true
}

// showSkipped hands a frame the gate skipped to the live view (status page, /v1/snapshot.jpg),
// so that it shows the camera as it is, not the last inferred frame.
func (a *agent) showSkipped(f *camera.Frame) {
	if a.http == nil || !a.http.WantFrame() {
		return
	}
	jpg, err := a.snapshot(f, a.mot.lastDets, true)
	if err != nil {
		a.log.Debug("live view frame skipped", "err", err)
		return
	}
	a.http.PublishFrame(httpapi.Frame{JPEG: jpg, Time: f.Time()})
}

// checkingModel reports whether a model update is being checked on the frames: in its health
// window (health_frames inferred frames within health_timeout) or its shadow run. Until it is
// done every frame is inferred, so that a static scene does not roll a good model back.
func (a *agent) checkingModel() bool {
	return a.shadow != nil || (a.ota != nil && a.ota.Status().State == ota.StateActivated)
}

// healthChanged publishes a change of the camera's health, on the capture loop. A frozen camera
// or stream is reopened at once, as a restart would, and the watchdog is told to stop the pings
// if the picture is still frozen frozen_after later (notify.go); a file's picture is its content,
// so a frozen or blank file is reported and nothing more.
func (a *agent) healthChanged(ctx context.Context, r motion.Result) {
	a.publishCamera(nil, func(v *camView) bool {
		v.health, v.since = r.Health, r.HealthSince
		return true
	})
	if r.Health != motion.Frozen {
		a.health.frozenStop.Store(0)
	}
	switch r.Health {
	case motion.Frozen:
		a.log.Warn("camera frozen: the same picture", "since", r.HealthSince, "for", r.Time.Sub(r.HealthSince).Round(100*time.Millisecond))
		if a.mot.live {
			a.reopenFrozen(ctx)
		}
	case motion.Blank:
		a.log.Warn("camera blank: black, white or one colour", "since", r.HealthSince, "for", r.Time.Sub(r.HealthSince).Round(100*time.Millisecond))
	default:
		a.log.Info("camera picture live again")
	}
}

// reopenFrozen closes the frozen camera and opens it again, on the capture loop; the detector
// keeps its health, so a camera still frozen after that stays frozen.
func (a *agent) reopenFrozen(ctx context.Context) {
	stop := time.Now().Add(a.cfg.Camera.FrozenAfter)
	src, err := a.openCamera(ctx, cameraSettings(a.cfg))
	if err != nil {
		a.log.Error("camera frozen and cannot be reopened", "err", err)
		a.health.frozenStop.Store(time.Now().UnixNano())
		return
	}
	a.swapSource(src)
	a.health.frozenStop.Store(stop.UnixNano())
	a.log.Warn("camera frozen: reopened it; if its picture is still frozen by then, the systemd watchdog is no longer fed",
		"at", stop)
}

// applyMotion applies a reloaded configuration's motion and camera health settings, on the
// capture loop: a new detector when its settings or the camera source changed (a camera's health
// is its own), a new gate when the policy changed. It owns p.motion.
func (a *agent) applyMotion(old, next Config, p *prepared) []string {
	parts := p.motion
	p.motion = nil
	m := &a.mot
	oldDC, oldPol, _ := motionSettings(old)
	newDC, newPol, _ := motionSettings(next)
	newDet := m.parts == nil || !reflect.DeepEqual(oldDC, newDC) || old.Camera.Source != a.cfg.Camera.Source
	newGate := m.parts == nil || oldPol != newPol || old.Motion.Enabled != next.Motion.Enabled
	a.cfg.Motion = next.Motion
	a.cfg.Camera.FrozenAfter, a.cfg.Camera.BlankAfter = next.Camera.FrozenAfter, next.Camera.BlankAfter
	if !newDet && !newGate {
		parts.close()
		a.setMotion(a.cfg, m.parts)
		return nil
	}
	if m.parts != nil && !newDet {
		parts.det.Close()
		parts.det, m.parts.det = m.parts.det, nil
	}
	if m.parts != nil && !newGate {
		parts.gate = m.parts.gate
	}
	if newDet {
		// The new detector judges the camera afresh. A new camera reports its own states; the
		// same camera's picture is taken to be live until its frames say otherwise.
		sameCam := old.Camera.Source == a.cfg.Camera.Source
		a.publishCamera(nil, func(v *camView) bool {
			was := v.health
			v.health, v.since = motion.Live, time.Now()
			return sameCam && was != motion.Live
		})
		a.health.frozenStop.Store(0)
	}
	a.setMotion(a.cfg, parts)
	return []string{"motion"}
}

// publishCamera updates the camera's state under its lock, stores the state the status shows and,
// when update says so and the state is news, queues a camera event with fields (which may be
// nil). A source's own state changes are always news.
func (a *agent) publishCamera(fields map[string]any, update func(v *camView) bool) {
	v := &a.mot.cam
	v.mu.Lock()
	defer v.mu.Unlock()
	send := update(v)
	state := v.stateLocked()
	a.camState.Store(state)
	switch {
	case v.src == camera.StateConnected && v.health == motion.Frozen:
		a.camErr.Store("the same picture since " + v.since.UTC().Format(time.RFC3339))
	case v.src == camera.StateConnected && v.health == motion.Blank:
		a.camErr.Store("blank frames since " + v.since.UTC().Format(time.RFC3339))
	default:
		a.camErr.Store(v.srcErr)
	}
	if !send || (fields == nil && state == v.last) {
		return
	}
	v.last = state
	if fields == nil {
		fields = map[string]any{}
	}
	fields["state"], fields["source"] = state, v.source
	if v.src == camera.StateConnected && v.health != motion.Live {
		fields["since"] = v.since.UTC()
	}
	a.emit("camera", fields)
}

// motionStatus is the status payload's "motion" object.
func (a *agent) motionStatus() map[string]any {
	m := &a.mot
	inferred := m.counts.Inferred()
	if n := m.forcedSnapshot.Load(); n > 0 {
		inferred["snapshot"] = n
	}
	if n := m.forcedModel.Load(); n > 0 {
		inferred["model_update"] = n
	}
	return map[string]any{"enabled": m.enabled.Load(), "inferred": inferred, "skipped": m.counts.Skipped()}
}

// agentSource is a camera source the agent opened. A replaced source is retired before it is
// closed, so that its last state changes (stopped) do not overwrite its successor's.
type agentSource struct {
	camera.Source
	retired *atomic.Bool
}

// openCamera opens a source with the agent's state callback.
func (a *agent) openCamera(ctx context.Context, c camera.Config) (camera.Source, error) {
	c = a.cameraConfig(c)
	retired, report := new(atomic.Bool), c.OnState
	c.OnState = func(s camera.StateChange) {
		if !retired.Load() {
			report(s)
		}
	}
	src, err := camera.Open(ctx, c, a.log.With("component", "camera"))
	if err != nil {
		return nil, err
	}
	return &agentSource{Source: src, retired: retired}, nil
}

// swapSource replaces the running source with src, on the capture loop; the old one closes in
// the background.
func (a *agent) swapSource(src camera.Source) {
	if old, ok := a.src.(*agentSource); ok {
		old.retired.Store(true)
	}
	a.closeSource(a.src)
	a.src = src
	a.lastSeq = 0 // the new source numbers its frames from 1
	if a.mot.parts != nil {
		a.mot.parts.det.Reset()
	}
}
