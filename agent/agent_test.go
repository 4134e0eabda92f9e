package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/jpeg"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/store"
)

const (
	sampleClip     = "../testdata/clips/sample.mp4"
	classifyModel  = "../testdata/models/classify_quant/mobilenet_v1_0.25_224_quant.tflite"
	classifyLabels = "../testdata/models/classify_quant/labels.txt"
)

// syncBuffer is a bytes.Buffer safe for the recorder goroutine and the test.
type syncBuffer struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t *testing.T) []Record {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var recs []Record
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("printed line is not a record: %v: %s", err, sc.Bytes())
		}
		recs = append(recs, r)
	}
	return recs
}

// testConfig runs the sample clip once through the small quantized classifier on the pure-Go
// runtime without MQTT, every frame inferred (no motion gating).
func testConfig(t *testing.T) Config {
	t.Helper()
	l := NewLoader()
	for k, v := range map[string]string{
		"device.id": "test-pi", "camera.source": sampleClip, "camera.loop": "false", "camera.max_fps": "0",
		"model.path": classifyModel, "model.labels": classifyLabels,
		"model.score_threshold": "0", "model.threads": "1", "mqtt.enabled": "false", "state_dir": t.TempDir(),
		"model.runtime":  "go", // the runtimes' own tests choose tflite and auto
		"http.listen":    "127.0.0.1:0",
		"motion.enabled": "false",
	} {
		if err := l.Set(k, v, "test"); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := l.Config()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestRunFileStoresEveryFrameAndSeqSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("120 inferences; the normal run covers it, -short runs under the race detector")
	}
	cfg := testConfig(t)
	var out syncBuffer
	if err := Run(context.Background(), cfg, Options{Logger: testLogger(t), Print: &out}); err != nil {
		t.Fatal(err)
	}
	recs := out.records(t)
	if len(recs) != 60 {
		t.Fatalf("printed %d records, want one per frame of the 60-frame clip", len(recs))
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) || r.Device != "test-pi" || r.V != RecordVersion || len(r.Classes) != 3 || r.Detections != nil {
			t.Fatalf("record %d: %+v", i, r)
		}
		if r.Frame != (FrameSize{640, 480}) || r.Model.SHA256 == "" || r.Model.Name != "mobilenet_v1_0.25_224_quant" {
			t.Fatalf("record %d: frame %+v model %+v", i, r.Frame, r.Model)
		}
	}
	// Frames 20-29 and 50-59 show the cheeseburger photo.
	if c := recs[55].Classes[0]; c.Label != "cheeseburger" || c.Index != 934 {
		t.Errorf("burger frame classified as %+v", c)
	}

	// The records are durable in the outbox, and a second run continues the sequence.
	db, err := store.Open(cfg.Store.Path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := db.Stats()
	var stored []uint64
	if err := db.Scan(0, 1000, func(seq uint64, payload []byte) error {
		var r Record
		if err := json.Unmarshal(payload, &r); err != nil || r.Seq != seq {
			t.Errorf("stored record %d: %v %s", seq, err, payload)
		}
		stored = append(stored, seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if st.Records != 60 || len(stored) != 60 || stored[59] != 60 {
		t.Fatalf("outbox holds %d records (stats %d), last %v", len(stored), st.Records, stored[len(stored)-1:])
	}

	var out2 syncBuffer
	if err := Run(context.Background(), cfg, Options{Logger: testLogger(t), Print: &out2}); err != nil {
		t.Fatal(err)
	}
	recs2 := out2.records(t)
	if len(recs2) != 60 || recs2[0].Seq != 61 || recs2[59].Seq != 120 {
		t.Fatalf("second run: %d records from seq %d", len(recs2), recs2[0].Seq)
	}
}

func TestRunRejectsBadModel(t *testing.T) {
	cfg := testConfig(t)
	bad := filepath.Join(t.TempDir(), "bad.tflite")
	if err := os.WriteFile(bad, []byte("TFL3 but not really a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Model.Path = bad
	err := Run(context.Background(), cfg, Options{Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "bad.tflite") {
		t.Fatalf("want an error naming the model file, got %v", err)
	}
}

func TestReloadBetweenFrames(t *testing.T) {
	cfg := testConfig(t)
	cfg.Camera.Loop = true
	cfg.Camera.MaxFPS = 50
	reload := make(chan struct{}, 1)
	next := cfg
	next.Model.TopK = 1
	var loadErr error
	var mu gosync.Mutex
	load := func() (Config, error) {
		mu.Lock()
		defer mu.Unlock()
		return next, loadErr
	}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: testLogger(t), Print: &out, Reload: reload, Load: load}) }()

	waitFor(t, func() bool { return len(out.records(t)) >= 5 })
	// A configuration that fails to load keeps the current one.
	mu.Lock()
	loadErr = errors.New("line 3: bad value")
	mu.Unlock()
	reload <- struct{}{}
	n := len(out.records(t))
	waitFor(t, func() bool { return len(out.records(t)) >= n+5 })
	if r := out.records(t); len(r[len(r)-1].Classes) != 3 {
		t.Fatalf("rejected reload changed top_k: %+v", r[len(r)-1])
	}
	mu.Lock()
	loadErr = nil
	mu.Unlock()
	reload <- struct{}{}
	waitFor(t, func() bool { r := out.records(t); return len(r[len(r)-1].Classes) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	recs := out.records(t)
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq != recs[i-1].Seq+1 {
			t.Fatalf("sequence gap after reload: %d then %d", recs[i-1].Seq, recs[i].Seq)
		}
	}
}

// TestMissingCameraKeepsRunning runs the agent on a camera that does not exist under a fake
// systemd notify socket: the agent keeps running, reports ready, and keeps feeding the watchdog
// while its reconnect loop retries (a restart would not bring the camera back).
func TestMissingCameraKeepsRunning(t *testing.T) {
	notes := notifySocket(t)
	cfg := testConfig(t)
	cfg.Camera.Source = "/dev/video97"
	cfg.Camera.ReconnectInitial = 50 * time.Millisecond
	cfg.Camera.ReconnectMax = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: testLogger(t)}) }()
	select {
	case err := <-done:
		t.Fatalf("agent stopped on a missing camera: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The notifications are read by another goroutine: wait for the last one.
	waitFor(t, func() bool { got := notes.all(); return len(got) > 0 && got[len(got)-1] == "STOPPING=1" })
	all := strings.Join(notes.all(), ",")
	if !strings.HasPrefix(all, "READY=1") || strings.Count(all, "WATCHDOG=1") < 2 {
		t.Errorf("want READY=1 then watchdog pings while the camera is retried, got %q", all)
	}
}

// TestStalledStreamStopsWatchdog serves the clip over HTTP and stalls half way without closing
// the connection: the camera still counts as connected but no frame comes, so the agent must
// stop feeding the watchdog and let systemd restart it.
func TestStalledStreamStopsWatchdog(t *testing.T) {
	clip, err := os.ReadFile(sampleClip)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Content-Length", strconv.Itoa(len(clip)))
		w.Write(clip[:len(clip)/2])
		w.(http.Flusher).Flush()
		<-release // stall, connection open
	}))
	defer srv.Close()

	notes := notifySocket(t)
	cfg := testConfig(t)
	cfg.Camera.Source = srv.URL + "/sample.mp4"
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: testLogger(t), Print: &out}) }()
	defer func() {
		close(release) // let the blocked read return so the agent can stop
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// Wait until frames flowed and then stopped for a second. The reader decodes the served
	// half of the clip faster than the model takes frames, so only a few are processed before
	// the read hangs.
	waitFor(t, func() bool { return len(out.records(t)) >= 1 })
	for n := -1; n != len(out.records(t)); {
		n = len(out.records(t))
		time.Sleep(time.Second)
	}
	pings := strings.Count(strings.Join(notes.all(), ","), "WATCHDOG=1")
	if pings == 0 {
		t.Fatalf("no watchdog pings while frames flowed: %q", notes.all())
	}
	time.Sleep(1200 * time.Millisecond) // three watchdog periods
	if after := strings.Count(strings.Join(notes.all(), ","), "WATCHDOG=1"); after != pings {
		t.Errorf("watchdog fed %d more times while the stream was stalled", after-pings)
	}
}

func TestReadyAndWatchdogWhileFramesFlow(t *testing.T) {
	notes := notifySocket(t)
	cfg := testConfig(t)
	cfg.Camera.Loop = true
	cfg.Camera.MaxFPS = 30
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: testLogger(t)}) }()
	waitFor(t, func() bool {
		n := strings.Join(notes.all(), ",")
		return strings.Contains(n, "READY=1") && strings.Count(n, "WATCHDOG=1") >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type notes struct {
	mu  gosync.Mutex
	got []string
	at  []time.Time // when each arrived
}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// pings returns when the watchdog pings arrived.
func (n *notes) pings() []time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	var at []time.Time
	for i, s := range n.got {
		if s == "WATCHDOG=1" {
			at = append(at, n.at[i])
		}
	}
	return at
}

// notifySocket points the agent at a systemd-style notify socket with a 400 ms watchdog and
// collects what it is sent.
func notifySocket(t *testing.T) *notes {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "400000")
	t.Setenv("WATCHDOG_PID", "")
	n := &notes{}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.got = append(n.got, string(buf[:k]))
			n.at = append(n.at, time.Now())
			n.mu.Unlock()
		}
	}()
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSnapshotOnDetection(t *testing.T) {
	cfg := testConfig(t)
	cfg.Model.Path = "../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
	cfg.Model.Labels = "../models/labelmap.txt"
	cfg.Model.ScoreThreshold = 0.5
	cfg.Snapshot = SnapshotConfig{Enabled: true, MaxBytes: 20 << 10, Quality: 90}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: testLogger(t), Print: &out}) }()
	waitFor(t, func() bool { return len(out.records(t)) >= 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r := out.records(t)[0] // frame 0 shows the cats and the dog
	if r.Detections == nil || len(*r.Detections) == 0 {
		t.Fatalf("no detections on the first frame: %+v", r)
	}
	if len(r.SnapshotJPEG) == 0 || len(r.SnapshotJPEG) > 20<<10 {
		t.Fatalf("snapshot of %d bytes, want 1..%d", len(r.SnapshotJPEG), 20<<10)
	}
	img, err := jpeg.DecodeConfig(bytes.NewReader(r.SnapshotJPEG))
	if err != nil || img.Width == 0 || img.Width > 640 || img.Height > 480 {
		t.Fatalf("snapshot is not a JPEG of the frame: %v %+v", err, img)
	}
}

// stampWriter records when each record line was written.
type stampWriter struct {
	mu    gosync.Mutex
	lines []stamped
}

type stamped struct {
	at   time.Time
	line []byte
}

func (w *stampWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, stamped{time.Now(), append([]byte(nil), p...)})
	return len(p), nil
}

// TestLiveSourceSlowModelDoesNotLag feeds a live 30 fps source to the SSD detector, which is far
// slower than 30 fps here: the agent must process the newest frame each time, so the age of the
// frame behind each record stays bounded instead of growing with a queue.
func TestLiveSourceSlowModelDoesNotLag(t *testing.T) {
	if testing.Short() {
		t.Skip("measures lag behind a live source; -short runs under the race detector, where the model is ten times slower")
	}
	cfg := testConfig(t)
	// 300 frames a second and one inference thread: the SSD takes 10-70 ms here, three frames
	// or more. (At 100 a second the SIMD kernels on two threads kept up with the camera on a fast
	// CPU, and nothing was left to skip.) Whether frames were skipped is judged per record from
	// the inference before it, so a faster model makes the test fail for want of slow
	// inferences, not pass or fail by chance.
	const period = time.Second / 300
	cfg.Camera.Source = "gst:videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=480,framerate=300/1 ! videoconvert ! appsink"
	cfg.Camera.MaxFPS = 0
	cfg.Model.Threads = 1
	cfg.Model.Path = "../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
	cfg.Model.Labels = "../models/labelmap.txt"
	var out stampWriter
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: testLogger(t), Print: &out}) }()
	waitFor(t, func() bool { out.mu.Lock(); defer out.mu.Unlock(); return len(out.lines) >= 30 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var maxInfer, lastLag, firstLag, prevInfer time.Duration
	var prev time.Time
	var slow, gaps int
	for i, l := range out.lines {
		var r Record
		if err := json.Unmarshal(l.line, &r); err != nil {
			t.Fatal(err)
		}
		infer := time.Duration(r.InferMS * float64(time.Millisecond))
		maxInfer = max(maxInfer, infer)
		lag := l.at.Sub(r.TS)
		if i == 2 { // after warm-up
			firstLag = lag
		}
		lastLag = lag
		// While the model spent two frames or more on the record before, newer frames arrived:
		// the newest one is next, not the one after the last.
		if i > 1 && prevInfer >= 2*period {
			slow++
			if r.TS.Sub(prev) > period*3/2 {
				gaps++
			}
		}
		prev, prevInfer = r.TS, infer
	}
	t.Logf("%d records, %d after a slow inference, %d of those skipped frames; max inference %v, lag after warm-up %v, last lag %v",
		len(out.lines), slow, gaps, maxInfer, firstLag, lastLag)
	if slow < len(out.lines)/2 {
		t.Fatalf("only %d of %d records came after an inference of two frames or more: the model is too fast for this test", slow, len(out.lines))
	}
	if gaps < slow*3/4 {
		t.Errorf("only %d of %d records after a slow inference skipped frames: the slow model is fed a queue, not the newest frame", gaps, slow)
	}
	// A queue would make the lag grow by (inference time - 10 ms) per record.
	if bound := 2*maxInfer + 500*time.Millisecond; lastLag > bound {
		t.Errorf("frame behind the last record was %v old (bound %v): the pipeline lags", lastLag, bound)
	}
}

// TestReloadSwapsModelOnlyIfItLoads reloads first with a model file that does not load (the
// running model stays), then with a different valid model, which replaces it between frames.
func TestReloadSwapsModelOnlyIfItLoads(t *testing.T) {
	cfg := testConfig(t)
	cfg.Camera.Loop = true
	cfg.Camera.MaxFPS = 50
	bad := filepath.Join(t.TempDir(), "broken.tflite")
	if err := os.WriteFile(bad, []byte("not a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu gosync.Mutex
	next := cfg
	next.Model.Path, next.Model.Name = bad, "broken"
	load := func() (Config, error) { mu.Lock(); defer mu.Unlock(); return next, nil }
	reload := make(chan struct{}, 1)
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Options{Logger: testLogger(t), Print: &out, Reload: reload, Load: load}) }()
	last := func() Record { r := out.records(t); return r[len(r)-1] }

	waitFor(t, func() bool { return len(out.records(t)) >= 3 })
	reload <- struct{}{}
	n := len(out.records(t))
	waitFor(t, func() bool { return len(out.records(t)) >= n+10 })
	if r := last(); r.Model.Name != cfg.Model.Name {
		t.Fatalf("a model that does not load replaced the running one: %+v", r.Model)
	}

	mu.Lock()
	next.Model.Path = "../testdata/models/classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite"
	next.Model.Labels, next.Model.Name = "", "float"
	mu.Unlock()
	reload <- struct{}{}
	waitFor(t, func() bool { return last().Model.Name == "float" })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := last(); len(r.Classes) == 0 || r.Classes[0].Label == "" {
		t.Errorf("records of the new model lack labelled classes: %+v", r)
	}
}
