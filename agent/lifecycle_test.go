package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"net"
	"os"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// running is an agent run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   gosync.Once
}

func startRun(t *testing.T, cfg Config, opts Options) *running {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- Run(ctx, cfg, opts) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the run, as SIGTERM does, and waits for Run to return.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return within 30 s of its context's end")
		}
	})
}

// setAll builds a config from the test defaults and key/value pairs, as a file would set them. The
// defaults infer every frame (no motion gating) on the pure-Go runtime (no measuring at each load).
func setAll(t *testing.T, kv ...string) Config {
	t.Helper()
	l := NewLoader()
	base := map[string]string{
		"device.id": "test-pi", "camera.source": sampleClip, "camera.loop": "true", "camera.max_fps": "20",
		"model.path": classifyModel, "model.labels": classifyLabels,
		"model.score_threshold": "0", "model.threads": "1", "state_dir": t.TempDir(),
		"model.runtime":        "go", // the runtimes' own tests choose tflite and auto
		"mqtt.status_interval": "1h", "mqtt.reconnect_initial": "50ms", "mqtt.reconnect_max": "200ms",
		"http.listen":    "127.0.0.1:0",
		"motion.enabled": "false",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		base[kv[i]] = kv[i+1]
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range base {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := l.Set(k, base[k], "test"); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := l.Config()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// observer records what arrives on its subscriptions.
type observer struct {
	mu   gosync.Mutex
	msgs []mqtt.Message
	c    mqtt.Client
}

// observe connects to url, retrying while the broker is not up yet (an embedded one starts with
// the agent), and subscribes to filter.
func observe(t *testing.T, url, filter string) *observer {
	t.Helper()
	o := &observer{}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("obs-%d", time.Now().UnixNano())).
		SetAutoReconnect(false).SetConnectTimeout(2 * time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		o.c = mqtt.NewClient(opts)
		tok := o.c.Connect()
		if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observer cannot connect to %s: %v", url, tok.Error())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tok := o.c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		o.mu.Lock()
		o.msgs = append(o.msgs, m)
		o.mu.Unlock()
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("observer subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { o.c.Disconnect(0) })
	return o
}

func (o *observer) on(topic string) [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out [][]byte
	for _, m := range o.msgs {
		if m.Topic() == topic {
			out = append(out, m.Payload())
		}
	}
	return out
}

func (o *observer) lastJSON(topic string) map[string]any {
	p := o.on(topic)
	if len(p) == 0 {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(p[len(p)-1], &m)
	return m
}

func (o *observer) publish(t *testing.T, topic string, retained bool, payload string) {
	t.Helper()
	tok := o.c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

// acks returns the cmd_ack events' fields by command id.
func (o *observer) acks(topic string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, p := range o.on(topic) {
		var ev struct {
			Kind   string         `json:"kind"`
			Fields map[string]any `json:"fields"`
		}
		if json.Unmarshal(p, &ev) == nil && ev.Kind == "cmd_ack" {
			id, _ := ev.Fields["id"].(string)
			out[id] = ev.Fields
		}
	}
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isShutdownStatus(m map[string]any) bool {
	return m["state"] == "offline" && m["reason"] == "shutdown" && m["device"] == "test-pi"
}

// TestShutdownLeavesNoGoroutine runs the agent with MQTT on, on the embedded broker and on a real
// mosquitto, stops it, and checks that the subscriber saw the offline status and that nothing Run
// started is still running.
func TestShutdownLeavesNoGoroutine(t *testing.T) {
	for _, name := range []string{"embedded", "mosquitto"} {
		t.Run(name, func(t *testing.T) {
			var url string
			var cfg Config
			if name == "embedded" {
				addr := freeAddr(t)
				cfg = setAll(t, "mqtt.embedded_listen", addr)
				url = "tcp://" + addr
			} else {
				b := mqtttest.Start(t, mqtttest.Options{})
				url = b.URL()
				cfg = setAll(t, "mqtt.url", url)
			}
			before := goleak.IgnoreCurrent()
			var out syncBuffer
			r := startRun(t, cfg, Options{Print: &out})
			obs := observe(t, url, "edge/test-pi/#")
			waitUntil(t, 20*time.Second, "records published", func() bool { return len(obs.on("edge/test-pi/predictions")) >= 5 })
			r.stop(t)
			waitUntil(t, 5*time.Second, "the offline status", func() bool { return isShutdownStatus(obs.lastJSON("edge/test-pi/status")) })
			obs.c.Disconnect(0)
			goleak.VerifyNone(t, before,
				// paho's and mosquitto-helper goroutines of this test's own observer, and the
				// test harness's log pipes.
				goleak.IgnoreAnyFunction("github.com/eclipse/paho.mqtt.golang.(*router).matchAndDispatch.func1"),
				goleak.IgnoreTopFunction("os/exec.(*Cmd).Wait"))
		})
	}
}

// TestReloadWhileCameraMissing sends a reload while the camera is missing and its next retry is
// half a minute away: the reload (the one that fixes camera.source) must be applied at once, not
// after a frame that never comes.
func TestReloadWhileCameraMissing(t *testing.T) {
	cfg := setAll(t, "camera.source", "/dev/video97", "camera.reconnect_initial", "30s", "camera.reconnect_max", "30s",
		"mqtt.enabled", "false")
	fixed := cfg
	fixed.Camera.Source = sampleClip
	reload := make(chan struct{}, 1)
	var out syncBuffer
	startRun(t, cfg, Options{Print: &out, Reload: reload, Load: func() (Config, error) { return fixed, nil }})
	time.Sleep(300 * time.Millisecond) // the first attempt has failed; the next is 30 s away
	sent := time.Now()
	reload <- struct{}{}
	waitUntil(t, 20*time.Second, "a record from the reloaded camera", func() bool { return len(out.records(t)) > 0 })
	if d := time.Since(sent); d >= cfg.Camera.ReconnectInitial {
		t.Fatalf("reload applied after %s, not within one backoff step (%s)", d, cfg.Camera.ReconnectInitial)
	}
}

// TestCommands drives every command, good and bad, through a real mosquitto.
func TestCommands(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := setAll(t, "mqtt.url", b.URL())
	fromFile := cfg
	fromFile.Model.TopK = 2
	obs := observe(t, b.URL(), "edge/test-pi/#")
	// A retained command reaches every new subscription: it must not run at each (re)connect.
	obs.publish(t, "edge/test-pi/cmd/status", true, `{"v":1,"id":"retained"}`)
	var out syncBuffer
	startRun(t, cfg, Options{Print: &out, Load: func() (Config, error) { return fromFile, nil }})
	const events, status = "edge/test-pi/events", "edge/test-pi/status"
	waitUntil(t, 20*time.Second, "online", func() bool { return obs.lastJSON(status)["state"] == "online" })
	cmd := func(name, payload string) map[string]any {
		t.Helper()
		var id struct{ ID string }
		_ = json.Unmarshal([]byte(payload), &id)
		obs.publish(t, "edge/test-pi/cmd/"+name, false, payload)
		var ack map[string]any
		waitUntil(t, 20*time.Second, "the ack of "+payload, func() bool { ack = obs.acks(events)[id.ID]; return ack != nil })
		return ack
	}
	ok := func(ack map[string]any) {
		t.Helper()
		if ack["ok"] != true {
			t.Fatalf("ack %v, want ok", ack)
		}
	}
	fails := func(ack map[string]any, want string) {
		t.Helper()
		if e, _ := ack["error"].(string); ack["ok"] != false || !strings.Contains(e, want) {
			t.Errorf("ack %v, want an error containing %q", ack, want)
		}
	}

	n := len(obs.on(status))
	ok(cmd("status", `{"v":1,"id":"st"}`))
	waitUntil(t, 5*time.Second, "a fresh status", func() bool { return len(obs.on(status)) > n })

	for _, boxes := range []string{"false", "true"} {
		before := len(obs.on("edge/test-pi/snapshot"))
		ok(cmd("snapshot", `{"v":1,"id":"snap-`+boxes+`","boxes":`+boxes+`}`))
		snaps := obs.on("edge/test-pi/snapshot")
		if len(snaps) != before+1 {
			t.Fatalf("%d snapshots, want %d", len(snaps), before+1)
		}
		img, err := jpeg.Decode(bytes.NewReader(snaps[len(snaps)-1]))
		if err != nil || img.Bounds().Dx() == 0 || len(snaps[len(snaps)-1]) > int(cfg.Snapshot.MaxBytes) {
			t.Fatalf("snapshot: %v, %d bytes (max %d)", err, len(snaps[len(snaps)-1]), cfg.Snapshot.MaxBytes)
		}
	}

	// capturedAfter returns the records of frames captured after t0. The ack comes once the
	// pipeline has the new settings, so every frame captured after it was inferred with them;
	// records of earlier frames may still be on their way to the output (the recorder's queue
	// holds up to 64).
	capturedAfter := func(t0 time.Time) []Record {
		var recs []Record
		for _, r := range out.records(t) {
			if r.TS.After(t0) {
				recs = append(recs, r)
			}
		}
		return recs
	}
	ok(cmd("set", `{"v":1,"id":"set1","values":{"model.score_threshold":0.05,"model.top_k":1}}`))
	applied := time.Now()
	waitUntil(t, 60*time.Second, "records after set", func() bool { return len(capturedAfter(applied)) > 3 })
	for _, r := range capturedAfter(applied) {
		if len(r.Classes) > 1 || (len(r.Classes) == 1 && r.Classes[0].Score < 0.05) {
			t.Fatalf("record after set: %+v", r.Classes)
		}
	}
	ok(cmd("set", `{"v":1,"id":"fps","values":{"camera.max_fps":4}}`))
	applied = time.Now()
	waitUntil(t, 60*time.Second, "records at 4 fps", func() bool { return len(capturedAfter(applied)) >= 5 })
	recs := capturedAfter(applied)[:5]
	if span := recs[4].TS.Sub(recs[0].TS); span < 4*200*time.Millisecond {
		t.Errorf("5 frames in %s after max_fps 4", span)
	}
	ok(cmd("set", `{"v":1,"id":"fps2","values":{"camera.max_fps":20}}`))

	fails(cmd("set", `{"v":1,"id":"b1","values":{"model.score_threshold":2}}`), "model.score_threshold: must be between 0 and 1")
	fails(cmd("set", `{"v":1,"id":"b2","values":{"store.max_bytes":5}}`), "cannot be set at run time")
	fails(cmd("set", `{"v":1,"id":"b3","values":{"model.top_k":"x"}}`), "want a number")
	fails(cmd("set", `{"v":1,"id":"b4","values":{"model.top_k":1.5}}`), "invalid integer")
	fails(cmd("set", `{"v":1,"id":"b5","values":{}}`), "nothing to set")
	fails(cmd("set", `{"v":1,"id":"b6","threshold":1}`), `unknown field "threshold"`)
	fails(cmd("snapshot", `{"v":1,"id":"b7","boxes":"yes"}`), "bad arguments")
	fails(cmd("status", `{"v":1,"id":"b8","now":true}`), `unexpected argument "now"`)
	fails(cmd("reboot", `{"v":1,"id":"b9"}`), `unknown command "reboot"`)
	fails(cmd("set", `{"v":2,"id":"b10"}`), `without "v":1`)

	// A reload from the file restores the file's values: top_k 2, threshold 0.
	ok(cmd("reload", `{"v":1,"id":"rl"}`))
	applied = time.Now()
	waitUntil(t, 60*time.Second, "records after reload", func() bool { return len(capturedAfter(applied)) > 3 })
	for _, r := range capturedAfter(applied) {
		if len(r.Classes) != 2 {
			t.Fatalf("after reload: %+v", r.Classes)
		}
	}

	if obs.acks(events)["retained"] != nil {
		t.Fatal("a retained command was run")
	}
}

// TestBrokerURLFromEnvironment sets the broker the way the README says, through the environment:
// the records must reach that broker, not an embedded one.
func TestBrokerURLFromEnvironment(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	l := NewLoader()
	if err := l.LoadEnv([]string{"EDGE_AGENT_MQTT_URL=" + b.URL()}); err != nil {
		t.Fatal(err)
	}
	base := setAll(t)
	for k, v := range map[string]string{"device.id": "test-pi", "camera.source": sampleClip, "model.path": classifyModel,
		"model.labels": classifyLabels, "model.runtime": "go", "state_dir": base.StateDir, "camera.max_fps": "20", "http.listen": "127.0.0.1:0"} {
		if err := l.Set(k, v, "test"); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := l.Config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Embedded {
		t.Fatal("EDGE_AGENT_MQTT_URL left the embedded broker on")
	}
	obs := observe(t, b.URL(), "edge/test-pi/predictions")
	startRun(t, cfg, Options{})
	waitUntil(t, 20*time.Second, "records at the configured broker", func() bool { return len(obs.on("edge/test-pi/predictions")) >= 3 })
}

// TestDamagedStoreKeepsDeviceUp starts the agent on a store file that is garbage: it moves the file
// aside, runs on a fresh one, says so on the events and status topics, and numbers its records
// above every seq issued before.
func TestDamagedStoreKeepsDeviceUp(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := setAll(t, "mqtt.url", b.URL())
	// A first run issues some numbers, then the card loses the file's pages.
	var out syncBuffer
	first := setAll(t, "mqtt.enabled", "false", "camera.loop", "false", "camera.max_fps", "0", "state_dir", cfg.StateDir)
	if err := Run(context.Background(), first, Options{Logger: testLogger(t), Print: &out}); err != nil {
		t.Fatal(err)
	}
	recs := out.records(t)
	last := recs[len(recs)-1].Seq
	if err := os.WriteFile(cfg.Store.Path, bytes.Repeat([]byte("lost page "), 5000), 0o600); err != nil {
		t.Fatal(err)
	}

	obs := observe(t, b.URL(), "edge/test-pi/#")
	var out2 syncBuffer
	startRun(t, cfg, Options{Print: &out2})
	waitUntil(t, 20*time.Second, "records after the recovery", func() bool { return len(out2.records(t)) > 0 })
	if s := out2.records(t)[0].Seq; s <= last {
		t.Fatalf("first seq after recovery %d, want above %d", s, last)
	}
	waitUntil(t, 20*time.Second, "the store_recovered warning", func() bool {
		for _, p := range obs.on("edge/test-pi/events") {
			if bytes.Contains(p, []byte(`"warning":"store_recovered"`)) {
				return true
			}
		}
		return false
	})
	// The status is its own message, published beside the event, not necessarily before it.
	var st, rec map[string]any
	waitUntil(t, 20*time.Second, "a status with store_recovered", func() bool {
		st = obs.lastJSON("edge/test-pi/status")
		rec, _ = st["store_recovered"].(map[string]any)
		return rec != nil
	})
	moved, _ := rec["moved_to"].(string)
	if _, err := os.Stat(moved); err != nil || !strings.Contains(moved, "edge-agent.db.corrupt-") {
		t.Fatalf("status %v: the damaged file is not kept where it says (%v)", st, err)
	}
}
