package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edge-agent/edge-agent/agent"
	"github.com/edge-agent/edge-agent/internal/browsertest"
	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// agentProcess is the real agent binary running until the test stops it.
type agentProcess struct {
	cmd    *exec.Cmd
	url    chan string // the status page's address, from stderr
	mu     gosync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func startAgent(t *testing.T, bin string, env []string, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{url: make(chan string, 1), done: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"run"}, args...)...)
	p.cmd.Env = env
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if u, ok := strings.CutPrefix(line, "edge-agent: status page at "); ok {
				p.url <- u
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *agentProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func request(t *testing.T, method, url, token, contentType string, body io.Reader) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStatusPageAndHomeAssistant runs the real agent on the sample clip with a token and Home
// Assistant discovery, against a real mosquitto: the HTTP endpoints answer (and refuse a missing
// or wrong token), the status page in headless chromium shows the model, a cat from the clip,
// frames per second and the live frame, Home Assistant finds the device and its sensors, and
// everything published on the broker is what docs/asyncapi.yaml describes.
func TestStatusPageAndHomeAssistant(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the agent binary")
	}
	bin := buildAgent(t)
	browser := browsertest.Start(t)
	broker := mqtttest.Start(t, mqtttest.Options{})
	const device, token = "e2e-page", "e2e-token-0123456789abcdef"
	watch := subscribe(t, broker.URL(), "#")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(agentEnv(),
		agent.EnvName("http.token_file")+"="+tokenFile,
		agent.EnvName("ha.discovery")+"=true",
		agent.EnvName("ha.labels")+"=cat,dog,person")
	p := startAgent(t, bin, env, "--source", sampleClip, "--model", ssdModel, "--labels", ssdLabels,
		"--mqtt-url", broker.URL(), "--device-id", device, "--state-dir", t.TempDir())
	var base string
	select {
	case base = <-p.url:
	case err := <-p.done:
		t.Fatalf("agent exited: %v\n%s", err, p.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("the agent never printed its status page address\n%s", p.log())
	}

	// Liveness needs no token; everything else does, and a wrong one is refused.
	if r := request(t, "GET", base+"healthz", "", "", nil); r.code != 200 {
		t.Errorf("/healthz: %d", r.code)
	}
	if r := request(t, "GET", base+"v1/status", "", "", nil); r.code != http.StatusUnauthorized {
		t.Errorf("/v1/status without the token: %d", r.code)
	}
	if r := request(t, "GET", base+"v1/status", "wrong-token-of-some-length", "", nil); r.code != http.StatusUnauthorized {
		t.Errorf("/v1/status with a wrong token: %d", r.code)
	}
	eventually(t, "the agent ready (camera and broker connected)", 60*time.Second, func() bool {
		return request(t, "GET", base+"readyz", token, "", nil).code == 200
	})
	var status map[string]any
	eventually(t, "frames per second in the status", 60*time.Second, func() bool {
		status = nil
		json.Unmarshal(request(t, "GET", base+"v1/status", token, "", nil).body, &status)
		fps, _ := status["fps"].(float64)
		return fps > 0
	})
	if status["device"] != device || status["camera"] != "connected" || status["runtime"] == nil || status["agent_version"] != "dev" {
		t.Errorf("status %v", status)
	}

	r := request(t, "GET", base+"metrics", token, "", nil)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(r.body))
	if r.code != 200 || err != nil {
		t.Fatalf("/metrics: %d %v", r.code, err)
	}
	if v := fams["edge_agent_frames_inferred_total"].GetMetric()[0].GetCounter().GetValue(); v < 1 {
		t.Errorf("frames inferred %v", v)
	}
	if v := fams["edge_agent_mqtt_connected"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("mqtt connected %v", v)
	}

	// A prediction from the running model: the published cats of the photo.
	cats, err := os.ReadFile("../../testdata/models/detect/cats_and_dogs.jpg")
	if err != nil {
		t.Fatal(err)
	}
	r = request(t, "POST", base+"v1/predict", token, "image/jpeg", bytes.NewReader(cats))
	var rec agent.Record
	if err := json.Unmarshal(r.body, &rec); r.code != 200 || err != nil || rec.Detections == nil {
		t.Fatalf("predict: %d %v %s", r.code, err, r.body)
	}
	if ds := *rec.Detections; len(ds) < 3 || ds[0].Label != "cat" || ds[0].Score < 0.59 || ds[0].Score > 0.69 || rec.Frame != (agent.FrameSize{W: 1200, H: 600}) {
		t.Errorf("predict on cats_and_dogs.jpg: %s", r.body)
	}
	if r := request(t, "POST", base+"v1/predict", token, "text/plain", strings.NewReader("a cat")); r.code != http.StatusUnsupportedMediaType {
		t.Errorf("predict text/plain: %d", r.code)
	}
	r = request(t, "GET", base+"v1/snapshot.jpg", token, "", nil)
	if img, err := jpeg.Decode(bytes.NewReader(r.body)); r.code != 200 || err != nil || img.Bounds().Dx() != 640 {
		t.Errorf("snapshot: %d %v", r.code, err)
	}

	// The page, as a person opens it.
	browser.StatusPage(t, base, browsertest.Want{Token: token, Model: "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29", Label: "cat"})

	// Home Assistant: the device's discovery payload, its sensors' state, and the payload again
	// after Home Assistant's birth message.
	configTopic := "homeassistant/device/" + device + "/config"
	eventually(t, "the discovery payload", 30*time.Second, func() bool { return len(watch.get(configTopic)) > 0 })
	var disc struct {
		Availability []struct{ Topic string }
		Components   map[string]map[string]any
	}
	if err := json.Unmarshal(watch.get(configTopic)[0], &disc); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"count_cat", "count_dog", "count_person", "last_detection", "fps", "inference_latency", "backlog", "model_version"} {
		if disc.Components[id]["unique_id"] == nil {
			t.Errorf("discovery payload has no %s: %s", id, watch.get(configTopic)[0])
		}
	}
	if len(disc.Availability) != 1 || disc.Availability[0].Topic != "edge/"+device+"/status" {
		t.Errorf("availability %+v", disc.Availability)
	}
	eventually(t, "a cat counted on the state topic", 60*time.Second, func() bool {
		for _, b := range watch.get("edge/" + device + "/ha/state") {
			var st struct{ Counts map[string]int }
			if json.Unmarshal(b, &st) == nil && st.Counts["cat"] > 0 {
				return true
			}
		}
		return false
	})
	n := len(watch.get(configTopic))
	watch.publish(t, "homeassistant/status", "online")
	eventually(t, "the discovery payload after the birth message", 30*time.Second, func() bool { return len(watch.get(configTopic)) > n })

	// A command, answered on the events topic.
	watch.publish(t, "edge/"+device+"/cmd/status", `{"v":1,"id":"e2e-1"}`)
	eventually(t, "the command's ack", 30*time.Second, func() bool {
		for _, b := range watch.get("edge/" + device + "/events") {
			if bytes.Contains(b, []byte(`"kind":"cmd_ack"`)) && bytes.Contains(b, []byte(`"id":"e2e-1"`)) && bytes.Contains(b, []byte(`"ok":true`)) {
				return true
			}
		}
		return false
	})

	// SIGTERM: a clean stop, the offline status, the port closed.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("agent exit after SIGTERM: %v\n%s", err, p.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent still running 30 s after SIGTERM\n%s", p.log())
	}
	eventually(t, "the offline status", 10*time.Second, func() bool {
		st := watch.get("edge/" + device + "/status")
		return len(st) > 0 && bytes.Contains(st[len(st)-1], []byte(`"reason":"shutdown"`))
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if req, _ := http.NewRequestWithContext(ctx, "GET", base+"healthz", nil); req != nil {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Error("the HTTP server answers after the agent stopped")
		}
	}

	// Everything on the broker, the agent's and Home Assistant's side, is in docs/asyncapi.yaml.
	watch.checkAsyncAPI(t)
}
