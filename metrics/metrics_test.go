package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
)

// rig is the real store and MQTT client the agent reads its metrics from.
type rig struct {
	db     *store.DB
	client *sync.Client
	cam    atomic.Int32 // camera.State
	m      *Metrics
	srv    *httptest.Server
}

func newRig(t *testing.T) *rig {
	t.Helper()
	b := mqtttest.Start(t, mqtttest.Options{Quiet: true})
	db, err := store.Open(filepath.Join(t.TempDir(), "m.db"), store.Options{MaxRecords: 3, MaxCommitDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	client, err := sync.New(sync.Config{Broker: b.URL(), DeviceID: "metrics-test", Verify: sync.VerifyOff}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	wg.Go(func() { client.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := client.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	r := &rig{db: db, client: client}
	r.cam.Store(int32(camera.StateConnecting))
	r.m = New(BuildInfo{Version: "v1.2.3-test"}, Sources{Store: db.Stats, Sync: client.Stats,
		Camera: func() camera.State { return camera.State(r.cam.Load()) }})
	r.srv = httptest.NewServer(r.m.Handler())
	t.Cleanup(r.srv.Close)
	return r
}

// scrape fetches /metrics as Prometheus would and parses it with the library's own parser.
func (r *rig) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest("GET", r.srv.URL, nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the value of the family's sample whose labels include want (a counter's or
// gauge's value, a histogram's sample count).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			match = match && labels[want[i]] == want[i+1]
		}
		if !match {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("%s has no sample with labels %v", name, want)
	return 0
}

func TestMetricsNamesAndTypes(t *testing.T) {
	r := newRig(t)
	r.m.SetModel(ModelInfo{Name: "ssd", Version: "1", SHA256: "61d5", Runtime: "go"})
	fams := r.scrape(t)
	want := map[string]dto.MetricType{
		"edge_agent_build_info":                      dto.MetricType_GAUGE,
		"edge_agent_model_info":                      dto.MetricType_GAUGE,
		"edge_agent_runtime_state":                   dto.MetricType_GAUGE,
		"edge_agent_frames_captured_total":           dto.MetricType_COUNTER,
		"edge_agent_frames_inferred_total":           dto.MetricType_COUNTER,
		"edge_agent_frames_dropped_total":            dto.MetricType_COUNTER,
		"edge_agent_frames_skipped_total":            dto.MetricType_COUNTER,
		"edge_agent_inference_duration_seconds":      dto.MetricType_HISTOGRAM,
		"edge_agent_stage_duration_seconds":          dto.MetricType_HISTOGRAM,
		"edge_agent_outbox_records":                  dto.MetricType_GAUGE,
		"edge_agent_outbox_bytes":                    dto.MetricType_GAUGE,
		"edge_agent_store_file_bytes":                dto.MetricType_GAUGE,
		"edge_agent_records_stored_total":            dto.MetricType_COUNTER,
		"edge_agent_records_dropped_total":           dto.MetricType_COUNTER,
		"edge_agent_store_commits_total":             dto.MetricType_COUNTER,
		"edge_agent_store_commit_errors_total":       dto.MetricType_COUNTER,
		"edge_agent_mqtt_connected":                  dto.MetricType_GAUGE,
		"edge_agent_mqtt_published_total":            dto.MetricType_COUNTER,
		"edge_agent_mqtt_acked_total":                dto.MetricType_COUNTER,
		"edge_agent_mqtt_reconnects_total":           dto.MetricType_COUNTER,
		"edge_agent_mqtt_publish_denied":             dto.MetricType_GAUGE,
		"edge_agent_camera_state":                    dto.MetricType_GAUGE,
		"go_goroutines":                              dto.MetricType_GAUGE,
		"process_resident_memory_bytes":              dto.MetricType_GAUGE,
		"promhttp_metric_handler_errors_total":       dto.MetricType_COUNTER,
		"edge_agent_mqtt_last_ack_timestamp_seconds": -1, // absent before the first ack
	}
	for name, typ := range want {
		f, ok := fams[name]
		if typ == -1 {
			if ok {
				t.Errorf("%s exported before any ack", name)
			}
			continue
		}
		if !ok {
			t.Errorf("no metric %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s has type %v, want %v", name, f.GetType(), typ)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}
	if v := value(t, fams, "edge_agent_build_info", "version", "v1.2.3-test"); v != 1 {
		t.Errorf("build_info = %v", v)
	}
	// Every drop reason and stage is there from the start, at zero.
	for _, reason := range []string{DropStale, DropPreprocess, DropInfer, DropDecode} {
		if v := value(t, fams, "edge_agent_frames_dropped_total", "reason", reason); v != 0 {
			t.Errorf("frames dropped %s = %v at start", reason, v)
		}
	}
	for _, reason := range []string{store.DropMaxRecords, store.DropMaxBytes, store.DropMaxAge, RecordStoreError} {
		value(t, fams, "edge_agent_records_dropped_total", "reason", reason)
	}
	for _, s := range Stages {
		value(t, fams, "edge_agent_stage_duration_seconds", "stage", string(s))
	}
	// The naming conventions, as Prometheus's own linter checks them.
	problems, err := testutil.GatherAndLint(r.m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsValuesMove(t *testing.T) {
	r := newRig(t)
	before := r.scrape(t)

	// The pipeline: 7 frames read, 2 of them replaced before they were taken, 1 failed in
	// preprocessing, 4 inferred, 1 skipped by the motion gate.
	r.m.FramesCaptured(7)
	r.m.FrameDropped(DropStale, 2)
	r.m.FrameDropped(DropPreprocess, 1)
	r.m.FrameSkipped(SkipNoMotion)
	for range 4 {
		r.m.ObserveStage(StageCapture, 2*time.Millisecond)
		r.m.ObserveStage(StagePreprocess, 3*time.Millisecond)
		r.m.ObserveStage(StageInfer, 40*time.Millisecond)
		r.m.ObserveStage(StageDecode, 100*time.Microsecond)
		r.m.ObserveStage(StageRecord, 12*time.Millisecond)
		r.m.FrameInferred()
	}
	r.m.RecordsNotStored(2)
	r.cam.Store(int32(camera.StateConnected))
	r.m.SetModel(ModelInfo{Name: "ssd", Version: "1", SHA256: "aaaa", Runtime: "go"})
	r.m.SetModel(ModelInfo{Name: "ssd", Version: "2", SHA256: "bbbb", Runtime: "go"})

	// The store and the MQTT client: 5 records through a 3-record outbox while publishing.
	for i := range 5 {
		if _, err := r.db.Append(context.Background(), func(seq uint64) ([]byte, error) {
			return fmt.Appendf(nil, `{"v":1,"seq":%d,"i":%d}`, seq, i), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.client.Stats().Acked == 0 || r.db.Stats().Records > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("records not acknowledged: %+v", r.client.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := r.scrape(t)

	moved := func(name string, by float64, labels ...string) {
		t.Helper()
		b, a := value(t, before, name, labels...), value(t, after, name, labels...)
		if a-b != by {
			t.Errorf("%s%v moved from %v to %v, want +%v", name, labels, b, a, by)
		}
	}
	moved("edge_agent_frames_captured_total", 7)
	moved("edge_agent_frames_dropped_total", 2, "reason", DropStale)
	moved("edge_agent_frames_dropped_total", 1, "reason", DropPreprocess)
	moved("edge_agent_frames_skipped_total", 1, "reason", SkipNoMotion)
	moved("edge_agent_frames_inferred_total", 4)
	moved("edge_agent_inference_duration_seconds", 4)
	for _, s := range Stages {
		moved("edge_agent_stage_duration_seconds", 4, "stage", string(s))
	}
	moved("edge_agent_records_dropped_total", 2, "reason", RecordStoreError)
	moved("edge_agent_records_stored_total", 5)
	moved("edge_agent_camera_state", 1, "state", "connected")
	moved("edge_agent_camera_state", -1, "state", "connecting")

	// The inference histogram puts 40 ms in the right bucket.
	h := after["edge_agent_inference_duration_seconds"].GetMetric()[0].GetHistogram()
	if s := h.GetSampleSum(); s < 0.159 || s > 0.161 {
		t.Errorf("inference sum = %v s, want 0.16", s)
	}
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == 0.03 && b.GetCumulativeCount() != 0 || b.GetUpperBound() == 0.05 && b.GetCumulativeCount() != 4 {
			t.Errorf("bucket le=%v holds %d", b.GetUpperBound(), b.GetCumulativeCount())
		}
	}

	// MQTT: what the client counted, read at scrape time.
	st := r.client.Stats()
	if v := value(t, after, "edge_agent_mqtt_published_total"); v != float64(st.Published) || v == 0 {
		t.Errorf("mqtt published = %v, client says %d", v, st.Published)
	}
	if v := value(t, after, "edge_agent_mqtt_acked_total"); v != float64(st.Acked) || v == 0 {
		t.Errorf("mqtt acked = %v, client says %d", v, st.Acked)
	}
	if v := value(t, after, "edge_agent_mqtt_connected"); v != 1 {
		t.Errorf("mqtt connected = %v", v)
	}
	if v := value(t, after, "edge_agent_mqtt_last_ack_timestamp_seconds"); time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("last ack at %v", v)
	}
	// Whatever the race between publishing and the 3-record bound, store drops and acks add up.
	if dropped := value(t, after, "edge_agent_records_dropped_total", "reason", store.DropMaxRecords); dropped+float64(st.Acked) < 5 {
		t.Errorf("dropped %v + acked %d < 5 appended", dropped, st.Acked)
	}
	if v := value(t, after, "edge_agent_outbox_records"); v != 0 {
		t.Errorf("outbox records = %v after every ack", v)
	}

	// Only the latest model is reported.
	models := after["edge_agent_model_info"].GetMetric()
	if len(models) != 1 {
		t.Fatalf("%d model_info samples after a reload, want 1", len(models))
	}
	if v := value(t, after, "edge_agent_model_info", "version", "2", "sha256", "bbbb", "runtime", "go"); v != 1 {
		t.Errorf("model_info = %v", v)
	}
}

// The runtime auto chose, its two timings and whether it fell back or saw a disagreement are
// exported with the model, and replaced with it.
func TestMetricsRuntimeChoice(t *testing.T) {
	r := newRig(t)
	r.m.SetModel(ModelInfo{Name: "ssd", Version: "1", SHA256: "aaaa", Runtime: "tflite", Requested: "auto",
		GoSeconds: 0.04, TFLiteSeconds: 0.015, Disagree: true})
	fams := r.scrape(t)
	if v := value(t, fams, "edge_agent_model_info", "runtime", "tflite", "requested", "auto"); v != 1 {
		t.Errorf("model_info = %v", v)
	}
	for rt, want := range map[string]float64{"go": 0.04, "tflite": 0.015} {
		if v := value(t, fams, "edge_agent_runtime_invoke_seconds", "runtime", rt); v != want {
			t.Errorf("runtime_invoke_seconds{runtime=%q} = %v, want %v", rt, v, want)
		}
	}
	if v := value(t, fams, "edge_agent_runtime_state", "state", "disagreement"); v != 1 {
		t.Errorf("runtime_state{disagreement} = %v", v)
	}
	if v := value(t, fams, "edge_agent_runtime_state", "state", "fallback"); v != 0 {
		t.Errorf("runtime_state{fallback} = %v", v)
	}
	// A model on go alone (the library absent): no timings, the fallback flagged.
	r.m.SetModel(ModelInfo{Name: "ssd", Version: "2", SHA256: "bbbb", Runtime: "go", Requested: "auto", Fallback: true})
	fams = r.scrape(t)
	if f := fams["edge_agent_runtime_invoke_seconds"]; f != nil && len(f.GetMetric()) > 0 {
		t.Errorf("runtime_invoke_seconds kept the previous model's timings: %v", f)
	}
	if v := value(t, fams, "edge_agent_runtime_state", "state", "disagreement"); v != 0 {
		t.Errorf("runtime_state{disagreement} = %v after the model changed", v)
	}
	if v := value(t, fams, "edge_agent_runtime_state", "state", "fallback"); v != 1 {
		t.Errorf("runtime_state{fallback} = %v", v)
	}
}

// The MQTT metrics follow the connection: a broker outage shows as disconnected, then a reconnect.
func TestMetricsMQTTReconnect(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Quiet: true})
	db, err := store.Open(filepath.Join(t.TempDir(), "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	client, err := sync.New(sync.Config{Broker: b.URL(), DeviceID: "metrics-test", Verify: sync.VerifyOff,
		Backoff: sync.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond}}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	wg.Go(func() { client.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	m := New(BuildInfo{}, Sources{Sync: client.Stats})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	r := &rig{srv: srv}

	waitFor := func(name string, want float64) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			fams := r.scrape(t)
			if value(t, fams, name) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never reached %v", name, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("edge_agent_mqtt_connected", 1)
	if v := value(t, r.scrape(t), "edge_agent_mqtt_broker_info", "url", b.URL()); v != 1 {
		t.Errorf("mqtt_broker_info{url=%q} = %v while connected", b.URL(), v)
	}
	b.Stop()
	waitFor("edge_agent_mqtt_connected", 0)
	if fams := r.scrape(t); fams["edge_agent_mqtt_broker_info"] != nil {
		t.Error("mqtt_broker_info exported while disconnected")
	}
	b.Start()
	waitFor("edge_agent_mqtt_connected", 1)
	waitFor("edge_agent_mqtt_reconnects_total", 1)
	if fams := r.scrape(t); fams["edge_agent_outbox_records"] != nil {
		t.Error("store metrics exported without a store source")
	}
}
