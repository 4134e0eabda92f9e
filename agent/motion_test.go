package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/camera/motion"
	"github.com/edge-agent/edge-agent/internal/asyncapitest"
	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/metrics"
)

const (
	motionClip = "../testdata/clips/motion.mp4"
	// birdMask covers the bird that sways in the clip's top right corner (testdata/clips/README.md).
	birdMask = "0.78,0,1,0,1,0.27,0.78,0.27"
)

func TestMotionConfigDefaultsAndOff(t *testing.T) {
	c, err := loadYAML(t, "")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Motion
	if !m.Enabled || m.Heartbeat != 10*time.Second || m.PostFrames != 10 || m.Threshold != 25 || m.MinArea != 0.003 ||
		m.ResetArea != 0.3 || m.Background != 2*time.Second || m.Mask != "" || m.Width != 160 ||
		c.Camera.FrozenAfter != 30*time.Second || c.Camera.BlankAfter != 5*time.Second {
		t.Errorf("defaults: motion %+v, frozen_after %v, blank_after %v", m, c.Camera.FrozenAfter, c.Camera.BlankAfter)
	}
	dc, pol, err := motionSettings(c)
	if err != nil || dc.FrozenAfter != 30*time.Second || dc.BlankAfter != 5*time.Second || pol.PostFrames != 10 {
		t.Errorf("package settings from the defaults: %+v %+v %v", dc, pol, err)
	}

	// 0 is "off" in the configuration and negative in the package (whose 0 is its default).
	c, err = loadYAML(t, "camera:\n  frozen_after: 0s\n  blank_after: 0\nmotion:\n  post_frames: 0\n  mask: 0,0,0.5,0,0.5,0.5\n")
	if err != nil {
		t.Fatal(err)
	}
	dc, pol, err = motionSettings(c)
	if err != nil || dc.FrozenAfter >= 0 || dc.BlankAfter >= 0 || pol.PostFrames >= 0 || len(dc.Mask) != 1 || len(dc.Mask[0]) != 3 {
		t.Errorf("off: %+v %+v %v", dc, pol, err)
	}
	// The package agrees: with both checks off nothing is ever frozen or blank.
	parts, err := newMotionParts(c)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.close()
	if got := parts.det.Config(); got.FrozenAfter >= 0 || got.BlankAfter >= 0 {
		t.Errorf("detector config %+v", got)
	}
	if got := parts.gate.Policy(); got.PostFrames != 0 {
		t.Errorf("post frames %d, want none", got.PostFrames)
	}
}

// TestMotionConfigErrors: every motion key's bad value is an error naming the key and the line.
func TestMotionConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yml, key, want string }{
		{"camera:\n  frozen_after: 100ms\n", "camera.frozen_after", "between 1s and 24h"},
		{"camera:\n  blank_after: 48h\n", "camera.blank_after", "0 (off)"},
		{"motion:\n  heartbeat: 0s\n", "motion.heartbeat", "between 100ms and 24h"},
		{"motion:\n  post_frames: -1\n", "motion.post_frames", "between 0 and 10000"},
		{"motion:\n  threshold: 255\n", "motion.threshold", "1 and 254"},
		{"motion:\n  min_area: 3\n", "motion.min_area", "fraction"},
		{"motion:\n  min_area: 0.5\n  reset_area: 0.2\n", "motion.reset_area", "above motion.min_area"},
		{"motion:\n  background: 0s\n", "motion.background", "between 10ms and 1h"},
		{"motion:\n  mask: 0,0,1,0,1\n", "motion.mask", "odd number of coordinates"},
		{"motion:\n  mask: 0,0,2,0,1,1\n", "motion.mask", "outside the frame"},
		{"motion:\n  width: 8\n", "motion.width", "16 and 1024"},
		{"motion:\n  enabled: sometimes\n", "motion.enabled", "sometimes"},
	} {
		_, err := loadYAML(t, tc.yml)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !strings.HasPrefix(ce.Where, "test.yaml:") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error at test.yaml naming %s (%q)", tc.yml, err, tc.key, tc.want)
		}
		if errors.As(err, &ce) && strings.Contains(ce.Err.Error(), "motion: ") {
			t.Errorf("%q: %v: the package's prefix leaks into the message", tc.yml, err)
		}
	}
}

// TestMotionMaskHidingTheFrame: a mask that leaves nothing to watch parses but cannot work; the
// start checks (Check, --check, reload) refuse it with the key and line.
func TestMotionMaskHidingTheFrame(t *testing.T) {
	cfg, err := loadYAML(t, "model:\n  path: "+classifyModel+"\n  labels: "+classifyLabels+"\ncamera:\n  source: "+sampleClip+
		"\nmotion:\n  mask: 0,0,1,0,1,1,0,1\n")
	if err != nil {
		t.Fatal(err)
	}
	err = Check(cfg)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "motion.mask" || ce.Where != "test.yaml:7" || !strings.Contains(err.Error(), "hides") {
		t.Fatalf("Check: %v, want motion.mask at test.yaml:7", err)
	}
}

func TestWatchdogRules(t *testing.T) {
	const window = 30 * time.Second
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	up := 10 * time.Minute
	for _, tc := range []struct {
		name string
		set  func(h *health)
		up   time.Duration
		want bool
	}{
		{"frames flow", func(h *health) {}, up, true},
		{"no frame for a window", func(h *health) { h.frameDone(now.Add(-window)) }, up, false},
		{"camera missing, retried", func(h *health) { h.frameDone(now.Add(-time.Hour)); h.cameraWaiting.Store(true) }, up, true},
		{"store failing", func(h *health) { h.storeError.Store(true) }, up, false},
		{"inference failing for less than a window", func(h *health) { h.inferFailed(now.Add(-window / 2)) }, up, true},
		{"inference failing for a window", func(h *health) { h.inferFailed(now.Add(-window)) }, up, false},
		{"inference failed, then worked", func(h *health) { h.inferFailed(now.Add(-window)); h.inferOK() }, up, true},
		{"frozen, reopened, not yet frozen_after since", func(h *health) { h.frozenStop.Store(now.Add(time.Second).UnixNano()) }, up, true},
		{"frozen after the reopen", func(h *health) { h.frozenStop.Store(now.UnixNano()) }, up, false},
		{"frozen after the reopen, agent just started", func(h *health) { h.frozenStop.Store(now.UnixNano()) }, frozenMinUptime*window - time.Second, true},
		{"frozen, then reconnecting", func(h *health) { h.frozenStop.Store(now.UnixNano()); h.cameraWaiting.Store(true) }, up, true},
	} {
		h := &health{}
		h.frameDone(now.Add(-time.Second))
		tc.set(h)
		if got := h.healthy(now, window, tc.up); got != tc.want {
			t.Errorf("%s: healthy = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// cameraEvent is one camera event as published.
type cameraEvent struct {
	TS     time.Time `json:"ts"`
	Fields struct {
		State  string    `json:"state"`
		Source string    `json:"source"`
		Since  time.Time `json:"since"`
	} `json:"fields"`
}

func cameraEvents(t *testing.T, o *observer) []cameraEvent {
	t.Helper()
	var evs []cameraEvent
	for _, p := range o.on("edge/test-pi/events") {
		var ev struct {
			Kind string `json:"kind"`
			cameraEvent
		}
		if err := json.Unmarshal(p, &ev); err != nil {
			t.Fatalf("event %s: %v", p, err)
		}
		if ev.Kind == "camera" {
			evs = append(evs, ev.cameraEvent)
		}
	}
	return evs
}

func states(evs []cameraEvent) []string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Fields.State)
	}
	return s
}

// firstState returns the index of the first event with state after index from, or -1.
func firstState(evs []cameraEvent, from int, state string) int {
	for i := max(from, 0); i < len(evs); i++ {
		if evs[i].Fields.State == state {
			return i
		}
	}
	return -1
}

// motionStatusOf decodes a status payload's motion object.
type motionStatusJSON struct {
	Camera string `json:"camera"`
	Motion struct {
		Enabled  bool              `json:"enabled"`
		Inferred map[string]uint64 `json:"inferred"`
		Skipped  map[string]uint64 `json:"skipped"`
	} `json:"motion"`
}

// askStatus sends the status command and returns the status published after it.
func askStatus(t *testing.T, o *observer, id string) motionStatusJSON {
	t.Helper()
	n := len(o.on("edge/test-pi/status"))
	o.publish(t, "edge/test-pi/cmd/status", false, `{"v":1,"id":"`+id+`"}`)
	waitUntil(t, 10*time.Second, "the status", func() bool { return len(o.on("edge/test-pi/status")) > n })
	p := o.on("edge/test-pi/status")
	var st motionStatusJSON
	if err := json.Unmarshal(p[len(p)-1], &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// logLine returns the fields of the last JSON log line with message msg.
func logLine(t *testing.T, logs *syncBuffer, msg string) map[string]any {
	t.Helper()
	logs.mu.Lock()
	defer logs.mu.Unlock()
	var found map[string]any
	sc := bufio.NewScanner(bytes.NewReader(logs.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			found = m
		}
	}
	if found == nil {
		t.Fatalf("no log line %q", msg)
	}
	return found
}

func jsonLogger(t *testing.T, logs *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestMotionGatingOnClip runs the agent on the motion clip (testdata/clips/README.md: a static
// room, a person walking in, standing and leaving, a light ramp, a lamp switched on, a second
// person, 35 s frozen, 7 s black), played as a camera ten times faster than recorded (100 fps)
// with the gating and health durations ten times shorter, so that 130 s of video take 13 s. It
// checks, on a real mosquitto: only gated frames are stored, each with its motion area and
// trigger; the status counts every other frame by reason; frozen and blank are camera states
// with events, and nothing is stored while the camera is either; a file's frozen picture is its
// content, so the watchdog stays fed.
func TestMotionGatingOnClip(t *testing.T) {
	if testing.Short() {
		t.Skip("the race detector makes the model ten times slower than this video: whole moving stretches pass during one inference; TestFrozenCameraReopenedThenWatchdog runs the same wiring under -race")
	}
	notes := notifySocket(t)
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := setAll(t, "camera.source", motionClip, "camera.loop", "false", "camera.max_fps", "100",
		"mqtt.url", b.URL(), "motion.enabled", "true", "motion.mask", birdMask,
		"motion.heartbeat", "1s", "motion.background", "200ms", "camera.frozen_after", "2s", "camera.blank_after", "500ms")
	obs := observe(t, b.URL(), "edge/test-pi/#")
	var out, logs syncBuffer
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- Run(ctx, cfg, Options{Logger: jsonLogger(t, &logs), Print: &out}) }()

	// While the camera is frozen, the status says so and counts the skipped frames.
	waitUntil(t, 60*time.Second, "the frozen event", func() bool { return firstState(cameraEvents(t, obs), 0, "frozen") >= 0 })
	st := askStatus(t, obs, "frozen")
	if (st.Camera != "frozen" && st.Camera != "blank") || !st.Motion.Enabled || st.Motion.Inferred["start"] != 1 ||
		st.Motion.Inferred["motion"] == 0 || st.Motion.Skipped["no_motion"] == 0 || st.Motion.Skipped["frozen"] == 0 {
		t.Errorf("status while frozen: %+v", st)
	}
	// A snapshot command does not wait for motion: the next frame is inferred for it.
	obs.publish(t, "edge/test-pi/cmd/snapshot", false, `{"v":1,"id":"snap"}`)
	waitUntil(t, 10*time.Second, "the snapshot", func() bool { return len(obs.on("edge/test-pi/snapshot")) > 0 })
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the agent did not stop at the end of the clip")
	}

	// Every record is a gated frame, and the records are exactly the frames counted as inferred.
	recs := out.records(t)
	final := logLine(t, &logs, "agent stopped")["motion"].(map[string]any)
	inferred, skipped := final["inferred"].(map[string]any), final["skipped"].(map[string]any)
	byTrigger := map[string]int{}
	for _, r := range recs {
		if r.Motion == nil || r.Motion.Area < 0 || r.Motion.Area > 1 {
			t.Fatalf("record %d: motion %+v", r.Seq, r.Motion)
		}
		byTrigger[r.Motion.Trigger]++
	}
	for k, n := range byTrigger {
		if got, _ := inferred[k].(float64); int(got) != n {
			t.Errorf("%d records with trigger %q, the status counts %v inferred", n, k, inferred[k])
		}
	}
	if len(byTrigger) != len(inferred) {
		t.Errorf("triggers %v, inferred %v", byTrigger, inferred)
	}
	taken := 0
	for _, v := range skipped {
		taken += int(v.(float64))
	}
	t.Logf("%d records %v; skipped %v", len(recs), byTrigger, skipped)
	// The static stretches are inferred at heartbeats only (a few seconds of them at 1 s: how many
	// depends on where the model's busy frames fall); the lamp and the picture coming back
	// after the black stretch once each; the light ramp not at all.
	if byTrigger["start"] != 1 || byTrigger["heartbeat"] < 3 || byTrigger["scene_change"] != 2 {
		t.Errorf("records by trigger %v", byTrigger)
	}
	// Both people are inferred while in view (the first before the lamp comes on, the second
	// after): every frame the capture loop takes while they move, which is fewer than the
	// clip's 100 a second while the model is busy.
	var lamp time.Time
	people := [2]int{}
	for _, r := range recs {
		switch r.Motion.Trigger {
		case "scene_change":
			if r.Motion.Area != 1 {
				t.Errorf("scene change of area %v, want 1", r.Motion.Area)
			}
			if lamp.IsZero() {
				lamp = r.TS
			}
		case "motion":
			if r.Motion.Area < 0.003 {
				t.Errorf("motion of area %v, below motion.min_area", r.Motion.Area)
			}
			if lamp.IsZero() {
				people[0]++
			} else {
				people[1]++
			}
		}
	}
	if people[0] < 3 || people[1] < 2 {
		t.Errorf("motion records: %d of the first person, %d of the second", people[0], people[1])
	}
	if taken < 5*len(recs) {
		t.Errorf("%d frames skipped for %d stored: gating saved too little", taken, len(recs))
	}
	for _, k := range []string{"no_motion", "frozen", "blank"} {
		if n, _ := skipped[k].(float64); n == 0 {
			t.Errorf("no frame skipped as %s: %v", k, skipped)
		}
	}

	// Camera states: connected, frozen, blank, connected again, each an event.
	evs := cameraEvents(t, obs)
	iFrozen := firstState(evs, 0, "frozen")
	iBlank := firstState(evs, iFrozen, "blank")
	iBack := firstState(evs, iBlank, "connected")
	if evs[0].Fields.State != "connected" || iFrozen < 0 || iBlank < 0 || iBack < 0 || evs[iFrozen].Fields.Source != motionClip {
		t.Fatalf("camera states %v, want connected, frozen, blank, connected", states(evs))
	}
	frozen, blank := evs[iFrozen], evs[iBlank]
	if d := frozen.TS.Sub(frozen.Fields.Since); d < 2*time.Second {
		t.Errorf("frozen event at %v, since %v: frozen for %v, want at least frozen_after", frozen.TS, frozen.Fields.Since, d)
	}
	if d := blank.TS.Sub(blank.Fields.Since); d < 500*time.Millisecond {
		t.Errorf("blank event %v after the first blank frame, want at least blank_after", d)
	}
	// Until the camera froze, something was inferred at least every heartbeat (1 s; 2 s allows
	// for a busy machine).
	for i := 1; i < len(recs) && recs[i].TS.Before(frozen.TS); i++ {
		if gap := recs[i].TS.Sub(recs[i-1].TS); gap > 2*time.Second {
			t.Errorf("nothing inferred for %v before record %d (%s)", gap, recs[i].Seq, recs[i].Motion.Trigger)
		}
	}
	// From the frozen event to the first black frame every frame is frozen, then blank: no
	// record but the snapshot's.
	if byTrigger["snapshot"] != 1 {
		t.Errorf("%d records for the snapshot command, want 1", byTrigger["snapshot"])
	}
	for _, r := range recs {
		if r.Motion.Trigger != "snapshot" && r.TS.After(frozen.TS) && r.TS.Before(blank.Fields.Since) {
			t.Errorf("record %d (%s) at %v, while the camera was frozen (%v-%v)", r.Seq, r.Motion.Trigger, r.TS, frozen.TS, blank.Fields.Since)
		}
	}
	// The frozen file did not starve the watchdog: pings kept coming while it was frozen.
	n := 0
	for _, p := range notes.pings() {
		if p.After(frozen.TS) && p.Before(blank.Fields.Since) {
			n++
		}
	}
	if n < 2 {
		t.Errorf("%d watchdog pings while the file was frozen (%v to %v), want them to go on", n, frozen.TS, blank.Fields.Since)
	}
	checkDocumented(t, obs)
}

// checkDocumented validates every message o saw against docs/asyncapi.yaml.
func checkDocumented(t *testing.T, o *observer) {
	t.Helper()
	doc, err := asyncapitest.Load("../docs/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.msgs {
		if err := doc.Validate(m.Topic(), m.Payload()); err != nil {
			t.Errorf("%s: %v\n%.500s", m.Topic(), err, m.Payload())
		}
	}
}

// gstPattern is a live GStreamer test source: black is a blank camera, smpte100 a frozen one (the
// same bars, without noise, in every frame: smpte animates a corner), ball a live one.
func gstPattern(pattern string) string {
	return "gst:videotestsrc is-live=true pattern=" + pattern + " ! video/x-raw,width=320,height=240,framerate=20/1 ! videoconvert ! appsink"
}

// TestFrozenCameraReopenedThenWatchdog runs the agent on live test sources, gating off (a live
// camera's health is watched anyway), under a fake systemd with a 400 ms watchdog: a blank camera
// is reported and keeps the watchdog fed; a frozen one is reported and reopened in-process, the
// pings go on until it is still frozen frozen_after after the reopen, then stop; a live picture
// (after a reload) brings them back.
func TestFrozenCameraReopenedThenWatchdog(t *testing.T) {
	notes := notifySocket(t)
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := setAll(t, "camera.source", gstPattern("black"), "camera.max_fps", "0", "mqtt.url", b.URL(),
		"camera.frozen_after", "1s", "camera.blank_after", "300ms")
	var mu gosync.Mutex
	next := cfg
	load := func() (Config, error) { mu.Lock(); defer mu.Unlock(); return next, nil }
	reloadTo := func(pattern string) {
		mu.Lock()
		next.Camera.Source = gstPattern(pattern)
		mu.Unlock()
	}
	reload := make(chan struct{}, 1)
	obs := observe(t, b.URL(), "edge/test-pi/#")
	var out syncBuffer
	startRun(t, cfg, Options{Print: &out, Reload: reload, Load: load})
	pingsSince := func(at time.Time) int {
		n := 0
		for _, p := range notes.pings() {
			if p.After(at) {
				n++
			}
		}
		return n
	}
	const period = 400 * time.Millisecond

	// Blank: reported, with its own state in the status, and the watchdog stays fed.
	waitUntil(t, 30*time.Second, "the blank event", func() bool { return firstState(cameraEvents(t, obs), 0, "blank") >= 0 })
	blankAt := time.Now()
	if st := askStatus(t, obs, "blank"); st.Camera != "blank" || st.Motion.Enabled {
		t.Errorf("status of a blank camera, gating off: %+v", st)
	}
	waitUntil(t, 30*time.Second, "pings while blank", func() bool { return pingsSince(blankAt) >= 4 })
	if recs := out.records(t); len(recs) == 0 || recs[len(recs)-1].Motion == nil || recs[len(recs)-1].Motion.Trigger != "" {
		t.Errorf("gating off: every frame is recorded, with its motion area and no trigger; last of %d records: %+v", len(recs), recs[len(recs)-1:])
	}

	// Frozen: reported, reopened (the reopened source's connected event still reads frozen),
	// pings for frozen_after after that, then none.
	reloadTo("smpte100")
	reload <- struct{}{}
	var evs []cameraEvent
	iFrozen := -1
	waitUntil(t, 30*time.Second, "the frozen camera reopened", func() bool {
		evs = cameraEvents(t, obs)
		iFrozen = firstState(evs, firstState(evs, 0, "blank"), "frozen")
		return iFrozen >= 0 && firstState(evs, iFrozen+1, "frozen") >= 0
	})
	frozenSince := evs[iFrozen].Fields.Since // frozen_after (1 s) before it was found frozen
	if st := states(evs[iFrozen:]); strings.Contains(strings.Join(st, ","), "connected") {
		t.Errorf("camera states after frozen: %v; the reopened camera is still frozen", st)
	}
	var quiet time.Time // start of the first stretch of three periods without a ping
	waitUntil(t, 30*time.Second, "the pings to stop", func() bool {
		p := notes.pings()
		if len(p) > 0 && time.Since(p[len(p)-1]) > 3*period {
			quiet = p[len(p)-1]
			return true
		}
		return false
	})
	// Found frozen at since + 1 s and reopened; the pings stop at since + 2 s if still frozen.
	if lastPing := quiet.Sub(frozenSince); lastPing < 1600*time.Millisecond {
		t.Errorf("last ping %v after the picture froze: the pings stopped before the reopened camera had frozen_after (1 s) to recover", lastPing)
	}
	if st := askStatus(t, obs, "frozen"); st.Camera != "frozen" {
		t.Errorf("status of a frozen camera: %q", st.Camera)
	}

	// Live again: a moving picture, and the pings come back.
	reloadTo("ball")
	reload <- struct{}{}
	waitUntil(t, 30*time.Second, "the camera connected again", func() bool {
		evs := cameraEvents(t, obs)
		return firstState(evs, iFrozen, "connected") >= 0
	})
	liveAt := time.Now()
	waitUntil(t, 30*time.Second, "pings again", func() bool { return pingsSince(liveAt) >= 2 })
	if st := askStatus(t, obs, "live"); st.Camera != "connected" {
		t.Errorf("status after the picture moved again: %q", st.Camera)
	}
	checkDocumented(t, obs)
}

// TestDetectorResetOnReconnect: a camera that reconnects (camGen moves) starts the background
// over, so its first frame is a start, not motion against the picture from before the drop.
func TestDetectorResetOnReconnect(t *testing.T) {
	cfg := testConfig(t)
	cfg.Motion.Enabled = true
	parts, err := newMotionParts(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{log: testLogger(t), cfg: cfg, metrics: metrics.New(metrics.BuildInfo{}, metrics.Sources{})}
	a.setMotion(cfg, parts)
	defer a.mot.parts.close()
	src, err := camera.Open(context.Background(), camera.Config{URL: sampleClip}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var triggers []string
	for i := range 25 { // the room, then the burger from frame 20
		f, err := src.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if i == 21 {
			a.mot.camGen.Add(1) // the camera dropped and came back between frames 20 and 21
		}
		mi, infer := a.gateFrame(context.Background(), f)
		f.Close()
		if infer {
			triggers = append(triggers, mi.Trigger)
		} else {
			triggers = append(triggers, "-")
		}
	}
	if triggers[0] != "start" || triggers[20] != "scene_change" || triggers[21] != "start" {
		t.Errorf("triggers %v: want start at 0, scene_change at the cut (20), start after the reconnect (21)", triggers)
	}
	if n := a.mot.counts.Get(motion.ReasonStart); n != 2 {
		t.Errorf("%d starts counted, want 2", n)
	}
}

// TestReloadMotionSettings turns gating on by reload: the frames after it carry their triggers
// and the looping sample clip (still pictures) is inferred only at its cuts; off again, every
// frame is inferred.
func TestReloadMotionSettings(t *testing.T) {
	cfg := setAll(t, "mqtt.enabled", "false", "camera.max_fps", "50")
	var mu gosync.Mutex
	next := cfg
	load := func() (Config, error) { mu.Lock(); defer mu.Unlock(); return next, nil }
	reload := make(chan struct{}, 1)
	var out syncBuffer
	startRun(t, cfg, Options{Print: &out, Reload: reload, Load: load})
	waitFor(t, func() bool { return len(out.records(t)) >= 2 })
	if r := out.records(t)[0]; r.Motion != nil {
		t.Fatalf("gating off, a file: no motion pass, got %+v", r.Motion)
	}
	set := func(enabled bool) {
		mu.Lock()
		next.Motion.Enabled = enabled
		mu.Unlock()
		reload <- struct{}{}
	}
	set(true)
	waitFor(t, func() bool { r := out.records(t); return r[len(r)-1].Motion != nil })
	n := len(out.records(t))
	time.Sleep(1500 * time.Millisecond) // 75 frames of which the gate infers the cuts and a heartbeat at most
	gated := out.records(t)[n:]
	for _, r := range gated {
		if r.Motion == nil || r.Motion.Trigger == "" {
			t.Fatalf("gating on: record %d without a trigger: %+v", r.Seq, r.Motion)
		}
	}
	if len(gated) > 10 {
		t.Errorf("gating on: %d records in 1.5 s of a slideshow", len(gated))
	}
	set(false)
	waitFor(t, func() bool { r := out.records(t); return r[len(r)-1].Motion == nil })
	n = len(out.records(t))
	waitFor(t, func() bool { return len(out.records(t)) >= n+3 })
}

// TestLiveViewWithGating: with gating on and nothing to infer (a still picture, no heartbeat),
// /v1/snapshot.jpg still shows the camera as it is, about LiveFPS frames a second, not the last
// inferred frame; the skipped frames are counted in the metrics by reason.
func TestLiveViewWithGating(t *testing.T) {
	cfg := setAll(t, "mqtt.enabled", "false", "camera.source", gstPattern("smpte100"), "camera.frozen_after", "0",
		"motion.enabled", "true", "motion.heartbeat", "24h")
	urls := make(chan string, 1)
	var out syncBuffer
	startRun(t, cfg, Options{Print: &out, OnHTTP: func(u string) { urls <- u }})
	var base string
	select {
	case base = <-urls:
	case <-time.After(20 * time.Second):
		t.Fatal("the HTTP server never listened")
	}
	waitFor(t, func() bool { return len(out.records(t)) > 0 })
	frames := map[string]bool{}
	n := len(out.records(t))
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "v1/snapshot.jpg")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		frames[resp.Header.Get("X-Frame-Time")] = true
	}
	inferred := len(out.records(t)) - n
	t.Logf("%d frames shown in 2 s, %d inferred", len(frames), inferred)
	if len(frames) < 5 || len(frames) <= 2*inferred {
		t.Errorf("%d distinct frames on /v1/snapshot.jpg in 2 s (%d inferred): the live view waits for the gate", len(frames), inferred)
	}
	// The rate is the camera's, not the model's.
	var st struct {
		FPS    float64 `json:"fps"`
		Frames int     `json:"frames"`
	}
	if _, b := httpGet(t, base+"v1/status"); json.Unmarshal(b, &st) != nil || st.FPS < 2 || st.Frames > 3 {
		t.Errorf("status: fps %v, frames %d; want the camera's rate with next to nothing inferred: %s", st.FPS, st.Frames, b)
	}
	_, b := httpGet(t, base+"metrics")
	if !regexp.MustCompile(`edge_agent_frames_skipped_total\{reason="no_motion"\} [1-9]`).Match(b) {
		t.Errorf("no skipped frames in the metrics:\n%s", regexp.MustCompile(`(?m)^edge_agent_frames_skipped.*$`).FindAll(b, -1))
	}
}
