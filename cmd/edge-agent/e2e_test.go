package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"gocv.io/x/gocv"

	"github.com/edge-agent/edge-agent/agent"
	"github.com/edge-agent/edge-agent/internal/asyncapitest"
	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/tflite/native/nativetest"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

const (
	sampleClip = "../../testdata/clips/sample.mp4"
	ssdModel   = "../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
	ssdLabels  = "../../models/labelmap.txt"
)

// buildAgent builds the real edge-agent binary into a temporary directory.
func buildAgent(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edge-agent")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// agentEnv is the test process's environment without EDGE_AGENT_* overrides, with the HTTP
// server on a free port (tests run side by side; the page's address is printed on stderr) and the
// model on the pure-Go runtime (deterministic, and no measuring at every start; --runtime
// overrides it, as TestEndToEnd's tflite run does).
func agentEnv() []string {
	env := []string{agent.EnvName("http.listen") + "=127.0.0.1:0", agent.EnvName("model.runtime") + "=go"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, agent.EnvPrefix) && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			env = append(env, kv)
		}
	}
	return env
}

// collector subscribes to every topic of a device and keeps what arrives.
type collector struct {
	cl       mqtt.Client
	mu       gosync.Mutex
	messages map[string][][]byte // topic -> payloads, in arrival order
}

func subscribe(t *testing.T, brokerURL, filter string) *collector {
	t.Helper()
	c := &collector{messages: map[string][][]byte{}}
	opts := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID("e2e-watcher").SetOrderMatters(true)
	cl := mqtt.NewClient(opts)
	c.cl = cl
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(100) })
	tok := cl.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.messages[m.Topic()] = append(c.messages[m.Topic()], m.Payload())
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return c
}

func (c *collector) get(topic string) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.messages[topic]...)
}

// publish publishes as a dashboard or Home Assistant would.
func (c *collector) publish(t *testing.T, topic string, payload string) {
	t.Helper()
	if tok := c.cl.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// checkAsyncAPI validates every message the collector received against docs/asyncapi.yaml.
func (c *collector) checkAsyncAPI(t *testing.T) {
	t.Helper()
	doc, err := asyncapitest.Load("../../docs/asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for topic, payloads := range c.messages {
		for _, p := range payloads {
			n++
			if err := doc.Validate(topic, p); err != nil {
				t.Errorf("docs/asyncapi.yaml: %v", err)
			}
		}
	}
	if n == 0 {
		t.Error("no message to check against docs/asyncapi.yaml")
	}
}

// TestEndToEnd runs the real agent binary on the sample clip (frames made from the shared
// cats_and_dogs.jpg and burger.jpg photos) with the shipped SSD model, publishing to a real
// mosquitto, and checks what a dashboard subscribed to the broker receives: once on the pure-Go
// runtime and once on the official TensorFlow Lite library (model.runtime tflite), where it is
// provisioned.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the agent binary")
	}
	bin := buildAgent(t)
	t.Run("go", func(t *testing.T) { endToEnd(t, bin, "--runtime", "go") })
	t.Run("tflite", func(t *testing.T) {
		lib := nativetest.Library(t)
		endToEnd(t, bin, "--runtime", "tflite", "--library", lib.Path())
	})
}

// endToEnd is TestEndToEnd on the runtime rt names (--runtime and --library flags, which infer
// takes too).
func endToEnd(t *testing.T, bin string, rt ...string) {
	broker := mqtttest.Start(t, mqtttest.Options{})
	const device = "e2e-pi"
	sub := subscribe(t, broker.URL(), "edge/"+device+"/#")

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"run", "--once", "--source", sampleClip, "--model", ssdModel,
		"--labels", ssdLabels, "--mqtt-url", broker.URL(), "--device-id", device,
		"--state-dir", t.TempDir(), "--log-level", "debug"}, rt...)...)
	// A threshold below the default keeps the letterboxed frames' borderline cat in the records.
	cmd.Env = append(agentEnv(), agent.EnvName("model.score_threshold")+"=0.4")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("agent: %v\n%s", err, stderr.String())
	}

	// The agent waits for the broker to acknowledge its backlog before it exits; give the
	// subscriber a moment to receive the last deliveries.
	topic := "edge/" + device + "/predictions"
	deadline := time.Now().Add(10 * time.Second)
	for len(sub.get(topic)) < 60 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	payloads := sub.get(topic)
	if len(payloads) != 60 {
		t.Fatalf("got %d prediction messages, want one per frame of the 60-frame clip\nagent log:\n%s", len(payloads), stderr.String())
	}

	var lastSeq uint64
	records := make([]agent.Record, len(payloads))
	for i, p := range payloads {
		var rec agent.Record
		if err := json.Unmarshal(p, &rec); err != nil {
			t.Fatalf("message %d is not a record: %v: %s", i, err, p)
		}
		if rec.V != agent.RecordVersion || rec.Device != device || rec.Seq != lastSeq+1 {
			t.Fatalf("message %d: v=%d device=%q seq=%d after seq %d", i, rec.V, rec.Device, rec.Seq, lastSeq)
		}
		lastSeq = rec.Seq
		if rec.Frame.W != 640 || rec.Frame.H != 480 || rec.Model.SHA256 == "" || rec.Detections == nil || rec.TS.IsZero() {
			t.Fatalf("record %d incomplete: %s", rec.Seq, p)
		}
		frame := i // every frame of a file is processed, in order, so seq n is frame n-1
		checkFrame(t, frame, *rec.Detections)
		records[i] = rec
	}

	// One decode path: `infer` on a frame of the clip saved as an image gives what the agent
	// stored for that frame.
	for _, frame := range []int{5, 35} {
		png := saveFrame(t, sampleClip, frame)
		out, err := infer(t, append([]string{"--model", ssdModel, "--labels", ssdLabels, "--image", png, "--json", "--threshold", "0.4"}, rt...)...)
		if err != nil {
			t.Fatal(err)
		}
		var got vision.Result
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Detections == nil {
			t.Fatalf("infer --json: %v: %s", err, out)
		}
		sameDetections(t, frame, *got.Detections, *records[frame].Detections)
	}

	status := sub.get("edge/" + device + "/status")
	if len(status) == 0 || !bytes.Contains(status[len(status)-1], []byte(`"offline"`)) {
		t.Errorf("last status should be offline after a clean stop, got %q", status)
	}
	// The online status names the runtime the flags asked for.
	var online struct {
		Runtime string `json:"runtime"`
		Choice  struct {
			Runtime, Requested string
		} `json:"runtime_choice"`
	}
	if len(status) == 0 || json.Unmarshal(status[0], &online) != nil || online.Runtime != rt[1] ||
		online.Choice.Runtime != rt[1] || online.Choice.Requested != rt[1] {
		t.Errorf("the online status should name the %s runtime: %q", rt[1], status)
	}
	// Every record, status and event the agent published is what docs/asyncapi.yaml says.
	sub.checkAsyncAPI(t)
}

// checkFrame checks one frame's detections against what the clip shows (testdata/clips/README.md).
func checkFrame(t *testing.T, frame int, dets []vision.Detection) {
	t.Helper()
	count := map[string]int{}
	for _, d := range dets {
		count[d.Label]++
		b := d.Box
		if b.X < 0 || b.Y < 0 || b.W <= 0 || b.H <= 0 || b.X+b.W > 640 || b.Y+b.H > 480 {
			t.Errorf("frame %d: box %+v is not inside the 640x480 frame", frame, b)
		}
	}
	switch {
	case frame < 20: // cats_and_dogs.jpg stretched to 640x480
		if count["cat"] < 2 || count["dog"] < 1 {
			t.Errorf("frame %d: want cats and a dog, got %+v", frame, dets)
		}
		// The published boxes of the 1200x600 photo, scaled to the 640x480 frame; the video's
		// compression and the two resizes move them a little.
		for _, want := range []vision.Box{{X: 54, Y: 396, W: 393, H: 196}, {X: 602, Y: 157, W: 394, H: 447}, {X: 389, Y: 197, W: 278, H: 409}} {
			scaled := vision.Box{X: want.X * 640 / 1200, Y: want.Y * 480 / 600, W: want.W * 640 / 1200, H: want.H * 480 / 600}
			if !hasBox(dets, scaled, 0.8) {
				t.Errorf("frame %d: nothing overlaps %+v (IoU >= 0.8) in %+v", frame, scaled, dets)
			}
		}
	case frame >= 30 && frame < 50: // letterboxed: the picture lies between y=80 and y=400
		if count["cat"] < 1 {
			t.Errorf("frame %d: want a cat, got %+v", frame, dets)
		}
		for _, d := range dets {
			if d.Box.Y < 68 || d.Box.Y+d.Box.H > 412 { // 80 px bars, detector slack of 12 px
				t.Errorf("frame %d: box %+v reaches into the black bars", frame, d.Box)
			}
		}
	default: // burger frames
		if count["cat"]+count["dog"] > 0 {
			t.Errorf("frame %d shows a burger, got %+v", frame, dets)
		}
	}
}

// saveFrame writes frame n of a clip as a PNG, decoded by OpenCV as the agent decodes it.
func saveFrame(t *testing.T, clip string, n int) string {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	for i := 0; i <= n; i++ {
		if !vc.Read(&m) || m.Empty() {
			t.Fatalf("clip has no frame %d", i)
		}
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("frame-%d.png", n))
	if !gocv.IMWrite(path, m) {
		t.Fatalf("cannot write %s", path)
	}
	return path
}

// sameDetections compares infer's detections with a record's: same labels in the same order,
// scores within 0.01, boxes within 2 px (infer resizes with Go's bilinear filter, the agent with
// OpenCV's).
func sameDetections(t *testing.T, frame int, got, want []vision.Detection) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("frame %d: infer found %d detections, the agent stored %d:\n%+v\n%+v", frame, len(got), len(want), got, want)
	}
	abs := func(v int) int { return max(v, -v) }
	for i := range got {
		g, w := got[i], want[i]
		if g.Label != w.Label || g.Class != w.Class || math.Abs(float64(g.Score-w.Score)) > 0.01 ||
			abs(g.Box.X-w.Box.X) > 2 || abs(g.Box.Y-w.Box.Y) > 2 || abs(g.Box.W-w.Box.W) > 2 || abs(g.Box.H-w.Box.H) > 2 {
			t.Errorf("frame %d detection %d: infer %+v, agent %+v", frame, i, g, w)
		}
	}
}

// hasBox reports whether a cat or dog box overlaps want with at least the given IoU.
func hasBox(dets []vision.Detection, want vision.Box, minIoU float64) bool {
	for _, d := range dets {
		if (d.Label == "cat" || d.Label == "dog") && iou(d.Box, want) >= minIoU {
			return true
		}
	}
	return false
}

func iou(a, b vision.Box) float64 {
	ix := max(0, min(a.X+a.W, b.X+b.W)-max(a.X, b.X))
	iy := max(0, min(a.Y+a.H, b.Y+b.H)-max(a.Y, b.Y))
	inter := float64(ix * iy)
	return inter / (float64(a.W*a.H+b.W*b.H) - inter)
}

// TestSIGKILLLosesNothingCommitted kills the real agent with SIGKILL at random moments while it
// produces records, many times over one state directory. A record the agent printed had been
// committed (--print echoes records after their transaction), so after every kill the outbox
// must open and hold every printed record, and sequence numbers must never repeat.
func TestSIGKILLLosesNothingCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent binary many times")
	}
	bin := buildAgent(t)
	stateDir := t.TempDir()
	rounds := 12
	if longTests {
		rounds = 60
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	seen := map[uint64]bool{}
	var lastSeq uint64
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(bin, "run", "--source", sampleClip,
			"--model", "../../testdata/models/classify_quant/mobilenet_v1_0.25_224_quant.tflite",
			"--labels", "../../testdata/models/classify_quant/labels.txt",
			"--no-mqtt", "--print", "--device-id", "crash", "--state-dir", stateDir, "--max-fps", "0")
		// Every frame inferred and stored (no motion gating), so that kills land inside commits.
		cmd.Env = append(agentEnv(), agent.EnvName("store.commit_delay")+"=2ms", agent.EnvName("motion.enabled")+"=false")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after 0.5-2.5 s: during start-up, between frames, inside commits.
		time.Sleep(500*time.Millisecond + time.Duration(rng.IntN(2000))*time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		var printed []uint64
		for _, line := range bytes.Split(stdout.Bytes(), []byte("\n")) {
			var rec agent.Record
			if json.Unmarshal(line, &rec) != nil {
				continue // the last line may be cut by the kill
			}
			printed = append(printed, rec.Seq)
		}
		for _, seq := range printed {
			if seen[seq] {
				t.Fatalf("round %d: sequence number %d used twice", round, seq)
			}
			if seq <= lastSeq {
				t.Fatalf("round %d: sequence number %d after %d from an earlier run", round, seq, lastSeq)
			}
			seen[seq] = true
		}
		if len(printed) > 0 {
			lastSeq = printed[len(printed)-1]
		}

		db, err := store.Open(filepath.Join(stateDir, "edge-agent.db"), store.Options{})
		if err != nil {
			t.Fatalf("round %d: outbox does not open after SIGKILL: %v\nagent log:\n%s", round, err, stderr.String())
		}
		stored := map[uint64]bool{}
		err = db.Scan(0, 1<<30, func(seq uint64, _ []byte) error { stored[seq] = true; return nil })
		db.Close()
		if err != nil {
			t.Fatalf("round %d: scan: %v", round, err)
		}
		for seq := range seen {
			if !stored[seq] {
				t.Fatalf("round %d: committed record %d lost", round, seq)
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("the agent never committed a record before being killed")
	}
	t.Logf("%d rounds, %d committed records, all present", rounds, len(seen))
}
