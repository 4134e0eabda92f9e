package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/tflite/backend"
	"github.com/edge-agent/edge-agent/tflite/native"
	"github.com/edge-agent/edge-agent/tflite/native/nativetest"
)

// bogusLibraries are a library path that does not exist and a file that is no library.
func bogusLibraries(t *testing.T) map[string]string {
	t.Helper()
	corrupt := filepath.Join(t.TempDir(), "libtensorflowlite_c.so")
	if err := os.WriteFile(corrupt, []byte("\x7fELF and then nothing a loader could map"), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"missing": filepath.Join(t.TempDir(), "nowhere", "libtensorflowlite_c.so"), "corrupt": corrupt}
}

// TestCheckRuntime: Check (run --check, start, reload) refuses model.runtime tflite with a library
// that is missing or corrupt, naming model.library and the file; auto with the same library
// passes, as it runs the model on go; an unknown runtime is refused while the configuration loads.
func TestCheckRuntime(t *testing.T) {
	for name, lib := range bogusLibraries(t) {
		t.Run(name, func(t *testing.T) {
			cfg := setAll(t, "model.runtime", "tflite", "model.library", lib, "mqtt.enabled", "false")
			err := Check(cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != "model.library" || !strings.Contains(err.Error(), lib) {
				t.Fatalf("Check with runtime tflite and library %s: %v (want a ConfigError for model.library naming the file)", lib, err)
			}
			cfg = setAll(t, "model.runtime", "auto", "model.library", lib, "mqtt.enabled", "false")
			if err := Check(cfg); err != nil {
				t.Errorf("Check with runtime auto and library %s: %v (want the pure-Go runtime)", lib, err)
			}
		})
	}
	// Without model.library the error is about model.runtime (the default places had nothing;
	// this process may have loaded the library by now, which the loader's search would find).
	cfg := setAll(t, "model.runtime", "tflite", "mqtt.enabled", "false")
	notFound := fmt.Errorf("native: %w: %w in /usr/lib/edge-agent/libtensorflowlite_c.so", native.ErrUnavailable, native.ErrNotFound)
	if key := modelKey(cfg, notFound); key != "model.runtime" {
		t.Errorf("no library anywhere: the error is about %s, want model.runtime", key)
	}

	l := NewLoader()
	if err := l.Set("model.runtime", "fast", "test"); err != nil {
		t.Fatal(err)
	}
	_, err := l.Config()
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "model.runtime" || !strings.Contains(err.Error(), "auto, go or tflite") {
		t.Errorf("model.runtime fast: %v", err)
	}
}

// runtimeStatus waits for the retained status with the runtime choice and returns it.
func runtimeStatus(t *testing.T, o *observer) (status map[string]any, choice map[string]any) {
	t.Helper()
	waitUntil(t, 60*time.Second, "a status with the runtime choice", func() bool {
		status = o.lastJSON("edge/test-pi/status")
		choice, _ = status["runtime_choice"].(map[string]any)
		return choice != nil
	})
	return status, choice
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// scrape returns the agent's metrics.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, b := httpGet(t, base+"metrics")
	parser := expfmt.NewTextParser(promodel.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(b))
	if code != 200 || err != nil {
		t.Fatalf("metrics: %d %v", code, err)
	}
	return fams
}

// metricValue returns the gauge of family name whose labels include want (label, value pairs).
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	for _, m := range fams[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(want); i += 2 {
			ok = ok && labels[want[i]] == want[i+1]
		}
		if ok {
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("%s has no sample with labels %v: %v", name, want, fams[name])
	return 0
}

// TestRunOnTheOfficialRuntime runs the agent with model.runtime tflite on the provisioned
// library: the status, the metrics and the HTTP predict endpoint say and use the official runtime,
// a reload swaps the model on it (the old interpreter freed between two frames), and a stop frees
// the last one after the frame in flight.
func TestRunOnTheOfficialRuntime(t *testing.T) {
	lib := nativetest.Library(t)
	b := mqtttest.Start(t, mqtttest.Options{})
	o := observe(t, b.URL(), "edge/test-pi/#")
	cfg := setAll(t, "mqtt.url", b.URL(), "model.runtime", "tflite", "model.library", lib.Path())
	var mu gosync.Mutex
	next := cfg
	load := func() (Config, error) { mu.Lock(); defer mu.Unlock(); return next, nil }
	reload := make(chan struct{}, 1)
	urls := make(chan string, 1)
	var out syncBuffer
	r := startRun(t, cfg, Options{OnHTTP: func(u string) { urls <- u }, Print: &out, Reload: reload, Load: load})
	base := <-urls

	status, choice := runtimeStatus(t, o)
	if status["runtime"] != "tflite" || choice["runtime"] != "tflite" || choice["requested"] != "tflite" ||
		choice["version"] != lib.Version() || choice["library"] != lib.Path() || choice["xnnpack"] == nil {
		t.Errorf("status: runtime %v, runtime_choice %v", status["runtime"], choice)
	}
	waitUntil(t, 30*time.Second, "records", func() bool { return len(out.records(t)) >= 3 })
	if rec := out.records(t)[0]; len(rec.Classes) == 0 || rec.Classes[0].Label == "" {
		t.Errorf("a record on the official runtime: %+v", rec)
	}
	fams := scrape(t, base)
	if v := metricValue(t, fams, "edge_agent_model_info", "runtime", "tflite", "requested", "tflite"); v != 1 {
		t.Errorf("model_info{runtime=tflite} = %v", v)
	}

	resp, err := http.Post(base+"v1/predict", "image/jpeg", bytes.NewReader(mustRead(t, "../testdata/models/classify_quant/burger.jpg")))
	if err != nil {
		t.Fatal(err)
	}
	var rec Record
	json.NewDecoder(resp.Body).Decode(&rec)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(rec.Classes) == 0 || rec.Classes[0].Label != "cheeseburger" {
		t.Errorf("predict on the official runtime: %d %+v", resp.StatusCode, rec)
	}

	// A reload to the float model: swapped in on the official runtime, the quantized one freed.
	mu.Lock()
	next.Model.Path, next.Model.Labels, next.Model.Name = "../testdata/models/classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite", "", "float"
	mu.Unlock()
	reload <- struct{}{}
	last := func() Record { rs := out.records(t); return rs[len(rs)-1] }
	waitUntil(t, 30*time.Second, "records of the reloaded model", func() bool { return last().Model.Name == "float" })
	if rec := last(); len(rec.Classes) == 0 || rec.Classes[0].Label == "" {
		t.Errorf("a record of the float model on the official runtime: %+v", rec)
	}
	r.stop(t)
	checkDocumented(t, o)
}

// TestAutoRuntime: model.runtime auto with a library that does not load runs the model on go and
// says why in the log, the status and the metrics; with the provisioned library it measures both
// runtimes and publishes both timings and its choice.
func TestAutoRuntime(t *testing.T) {
	t.Run("bogus library", func(t *testing.T) {
		lib := bogusLibraries(t)["corrupt"]
		b := mqtttest.Start(t, mqtttest.Options{})
		o := observe(t, b.URL(), "edge/test-pi/#")
		var logs syncBuffer
		cfg := setAll(t, "mqtt.url", b.URL(), "model.runtime", "auto", "model.library", lib)
		urls := make(chan string, 1)
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		r := startRun(t, cfg, Options{OnHTTP: func(u string) { urls <- u }, Logger: log})
		base := <-urls
		status, choice := runtimeStatus(t, o)
		fallback, _ := choice["fallback"].(string)
		if status["runtime"] != "go" || choice["requested"] != "auto" || !strings.Contains(fallback, lib) {
			t.Errorf("status: runtime %v, runtime_choice %v (want go, the fallback naming %s)", status["runtime"], choice, lib)
		}
		if v := metricValue(t, scrape(t, base), "edge_agent_runtime_state", "state", "fallback"); v != 1 {
			t.Errorf("runtime_state{fallback} = %v", v)
		}
		r.stop(t)
		if text := logs.String(); !strings.Contains(text, `level=WARN msg="model.runtime auto: using the go runtime"`) || !strings.Contains(text, lib) {
			t.Errorf("the log does not report the fallback:\n%s", text)
		}
		checkDocumented(t, o)
	})
	t.Run("provisioned library", func(t *testing.T) {
		lib := nativetest.Library(t)
		b := mqtttest.Start(t, mqtttest.Options{})
		o := observe(t, b.URL(), "edge/test-pi/#")
		cfg := setAll(t, "mqtt.url", b.URL(), "model.runtime", "auto", "model.library", lib.Path())
		urls := make(chan string, 1)
		r := startRun(t, cfg, Options{OnHTTP: func(u string) { urls <- u }})
		base := <-urls
		status, choice := runtimeStatus(t, o)
		goMs, _ := choice["go_ms"].(float64)
		tfMs, _ := choice["tflite_ms"].(float64)
		want := "go"
		if tfMs < goMs {
			want = "tflite"
		}
		if goMs <= 0 || tfMs <= 0 || status["runtime"] != want || choice["runtime"] != want || choice["disagreement"] != nil {
			t.Errorf("status: runtime %v, runtime_choice %v", status["runtime"], choice)
		}
		fams := scrape(t, base)
		for rt, ms := range map[string]float64{"go": goMs, "tflite": tfMs} {
			if v := metricValue(t, fams, "edge_agent_runtime_invoke_seconds", "runtime", rt); v != ms/1000 {
				t.Errorf("runtime_invoke_seconds{runtime=%s} = %v, the status says %v ms", rt, v, ms)
			}
		}
		r.stop(t)
		checkDocumented(t, o)
	})
}

// TestLoadModelReusesChoice: a second interpreter for the same model file and settings (the HTTP
// predictor's, a reload that keeps the model) runs on the runtime the first one was given, without
// measuring again; other settings (threads) or another file are measured anew.
func TestLoadModelReusesChoice(t *testing.T) {
	lib := nativetest.Library(t)
	c := setAll(t, "model.runtime", "auto", "model.library", lib.Path(), "mqtt.enabled", "false").Model
	first, err := loadModel(t.Context(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.close()
	if first.choice.GoRuns == 0 || first.choice.TFLiteRuns == 0 || first.ip.Runtime() != first.choice.Runtime {
		t.Fatalf("auto did not measure both runtimes: %+v", first.choice)
	}
	// Pretend the other runtime won, so that reuse shows in which one runs.
	prior := first.choiceOf()
	prior.choice.Runtime = map[string]string{"go": "tflite", "tflite": "go"}[first.choice.Runtime]
	again, err := loadModel(t.Context(), c, prior)
	if err != nil {
		t.Fatal(err)
	}
	defer again.close()
	if again.ip.Runtime() != prior.choice.Runtime || again.choice != prior.choice {
		t.Errorf("the same model and settings: runs on %s with %+v, want the prior choice %+v", again.ip.Runtime(), again.choice, prior.choice)
	}
	other := c
	other.Threads = 2
	measured, err := loadModel(t.Context(), other, prior)
	if err != nil {
		t.Fatal(err)
	}
	defer measured.close()
	if measured.choice == prior.choice || measured.choice.GoRuns == 0 {
		t.Errorf("other threads reused the choice made for one: %+v", measured.choice)
	}
}

// TestLogChoiceLevels: auto without a library (armhf, a clone before make) is reported at info
// level; a library that is there but unusable, and a disagreement, at warning level.
func TestLogChoiceLevels(t *testing.T) {
	for _, c := range []struct {
		choice backend.Choice
		want   string
	}{
		{backend.Choice{Runtime: "go", Requested: "auto", Fallback: "tflite: native: " + native.ErrUnavailable.Error() + ": " + native.ErrNotFound.Error() + " in /usr/lib/edge-agent/libtensorflowlite_c.so"},
			`level=INFO msg="model.runtime auto: using the go runtime"`},
		{backend.Choice{Runtime: "go", Requested: "auto", Fallback: "tflite: native: " + native.ErrIncompatible.Error()},
			`level=WARN msg="model.runtime auto: using the go runtime"`},
		{backend.Choice{Runtime: "tflite", Requested: "auto", Disagreement: "output 0: element 3 is 1 vs 2"},
			`level=WARN msg="the two TensorFlow Lite runtimes disagree on this model (a bug to report; the model runs on)"`},
	} {
		var logs syncBuffer
		a := &agent{log: slog.New(slog.NewTextHandler(&logs, nil))}
		a.logChoice(&model{choice: c.choice, ref: ModelRef{Name: "m"}})
		if !strings.Contains(logs.String(), c.want) {
			t.Errorf("%+v logged %q, want %s", c.choice, logs.String(), c.want)
		}
	}
}
