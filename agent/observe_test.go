package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
)

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// The HTTP server of a running agent answers from the live pipeline: readiness of its parts,
// the status payload with fps, metrics that move, a prediction from the running model on its
// own interpreter, the newest frame.
func TestHTTPOnTheRunningAgent(t *testing.T) {
	cfg := setAll(t, "mqtt.enabled", "false")
	urls := make(chan string, 1)
	r := startRun(t, cfg, Options{OnHTTP: func(u string) { urls <- u }})
	var base string
	select {
	case base = <-urls:
	case <-time.After(20 * time.Second):
		t.Fatal("the HTTP server never listened")
	}

	var ready struct {
		Ready  bool
		Checks map[string]struct {
			Ready         bool
			State, Reason string
		}
	}
	waitUntil(t, 20*time.Second, "the agent ready", func() bool {
		code, b := httpGet(t, base+"readyz")
		ready.Checks = nil
		json.Unmarshal(b, &ready)
		return code == 200 && ready.Ready
	})
	if c := ready.Checks; c["camera"].State != "connected" || c["broker"].State != "disabled" || !c["store"].Ready ||
		!strings.HasPrefix(c["model"].Reason, "mobilenet_v1_0.25_224_quant ") {
		t.Errorf("checks %+v", c)
	}

	var status map[string]any
	waitUntil(t, 20*time.Second, "fps in the status, records stored", func() bool {
		_, b := httpGet(t, base+"v1/status")
		status = nil
		json.Unmarshal(b, &status)
		fps, _ := status["fps"].(float64)
		frames, _ := status["frames"].(float64) // inferred: the first records are committed by the third
		return fps > 0 && frames >= 3
	})
	if status["device"] != "test-pi" || status["runtime"] != "go" || status["model"] != "mobilenet_v1_0.25_224_quant" || status["state"] != "online" {
		t.Errorf("status %v", status)
	}

	code, b := httpGet(t, base+"metrics")
	parser := expfmt.NewTextParser(promodel.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if code != 200 || err != nil {
		t.Fatalf("metrics: %d %v", code, err)
	}
	if n := fams["edge_agent_frames_inferred_total"].GetMetric()[0].GetCounter().GetValue(); n < 1 {
		t.Errorf("frames inferred %v", n)
	}
	for _, m := range fams["edge_agent_stage_duration_seconds"].GetMetric() {
		if m.GetHistogram().GetSampleCount() == 0 {
			t.Errorf("stage %v never observed", m.GetLabel())
		}
	}
	if fams["edge_agent_model_info"].GetMetric()[0].GetLabel()[0].GetValue() != "mobilenet_v1_0.25_224_quant" {
		t.Errorf("model_info %v", fams["edge_agent_model_info"])
	}

	burger, err := http.Post(base+"v1/predict", "image/jpeg", bytes.NewReader(mustRead(t, "../testdata/models/classify_quant/burger.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	json.NewDecoder(burger.Body).Decode(&rec)
	burger.Body.Close()
	if burger.StatusCode != 200 || len(rec.Classes) == 0 || rec.Classes[0].Label != "cheeseburger" || rec.Seq != 0 ||
		rec.Device != "test-pi" || rec.Frame != (FrameSize{480, 325}) || rec.Model.SHA256 == "" {
		t.Errorf("predict: %d %+v", burger.StatusCode, rec)
	}

	code, b = httpGet(t, base+"v1/snapshot.jpg")
	if code != 200 {
		t.Fatalf("snapshot: %d %s", code, b)
	}
	if img, err := jpeg.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() != 640 {
		t.Errorf("snapshot: %v", err)
	}

	r.stop(t)
	if c, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/"), time.Second); err == nil {
		c.Close()
		t.Error("the HTTP server still listens after the agent stopped")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// An HTTP port that is taken stops the agent at start, naming the key.
func TestHTTPListenTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := setAll(t, "mqtt.enabled", "false", "http.listen", l.Addr().String())
	err = Run(t.Context(), cfg, Options{Logger: testLogger(t)})
	var ce *ConfigError
	if err == nil || !strings.Contains(err.Error(), "http.listen") || !errors.As(err, &ce) {
		t.Fatalf("Run on a taken port: %v", err)
	}
}
