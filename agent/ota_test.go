package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/operator"
	"github.com/edge-agent/edge-agent/ota/otatest"
	"github.com/edge-agent/edge-agent/tflite/native/nativetest"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

const (
	floatClassify = "../testdata/models/classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite"
	// slowClassify takes 10-20 ms here, more than any latency bound an operator can set (whole
	// milliseconds): the MobileNets take under one.
	slowClassify = "../testdata/models/synthetic/slow_classifier.tflite"
	mnistModel   = "../testdata/models/tiny/mnist_model.tflite"
	ssdModelPath = "../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
)

// otaAgent is a running agent with model updates on, and what its broker shows.
type otaAgent struct {
	t      *testing.T
	cfg    Config
	broker *mqtttest.Broker
	key    otatest.Signer
	obs    *observer
	conn   *operator.Conn
	run    *running
}

func startOTAAgent(t *testing.T, kv ...string) *otaAgent {
	t.Helper()
	b := mqtttest.Start(t, mqtttest.Options{})
	key := otatest.NewSigner(t)
	cfg := setAll(t, append([]string{"mqtt.url", b.URL(), "device.groups", "lobby",
		"ota.trusted_keys", key.Pub.Inline(), "ota.health_frames", "3", "ota.shadow_every", "1"}, kv...)...)
	a := &otaAgent{t: t, cfg: cfg, broker: b, key: key, obs: observe(t, b.URL(), "edge/test-pi/#")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := operator.Dial(ctx, operator.Broker{URL: b.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	a.conn = conn
	a.start()
	return a
}

func (a *otaAgent) start() {
	a.run = startRun(a.t, a.cfg, Options{Logger: testLogger(a.t)})
	waitFor(a.t, func() bool { return a.modelStatus().State != "" })
}

// records returns the predictions published so far.
func (a *otaAgent) records() []Record {
	var recs []Record
	for _, p := range a.obs.on("edge/test-pi/predictions") {
		var r Record
		if json.Unmarshal(p, &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}

func (a *otaAgent) modelStatus() ota.Status {
	var s ota.Status
	if ps := a.obs.on("edge/test-pi/model/status"); len(ps) > 0 {
		_ = json.Unmarshal(ps[len(ps)-1], &s)
	}
	return s
}

func (a *otaAgent) states(manifest string) []string {
	var out []string
	for _, p := range a.obs.on("edge/test-pi/model/status") {
		var s ota.Status
		if json.Unmarshal(p, &s) == nil && s.Update != nil && s.Update.Manifest == manifest &&
			(len(out) == 0 || out[len(out)-1] != s.State) {
			out = append(out, s.State)
		}
	}
	return out
}

// push signs and pushes model to the lobby group and waits for the outcome.
func (a *otaAgent) push(model []byte, o ota.UpdateOptions) (*ota.Manifest, operator.Report) {
	a.t.Helper()
	if len(o.Target.Devices)+len(o.Target.Groups) == 0 {
		o.Target = ota.Target{Groups: []string{"lobby"}}
	}
	if o.Name == "" {
		o.Name = "pushed"
	}
	m, env, err := operator.SignUpdate(model, a.key.Priv, o)
	if err != nil {
		a.t.Fatal(err)
	}
	res, err := operator.Push(context.Background(), a.conn, operator.PushOptions{Model: model, Envelope: env, Wait: 90 * time.Second})
	if err != nil {
		a.t.Fatal(err)
	}
	if len(res.Devices) != 1 || !res.Devices[0].Done() {
		a.t.Fatalf("push %s: %+v", o.Version, res.Devices)
	}
	return m, res.Devices[0]
}

// waitRecordsOf waits for a prediction made by the model with that SHA-256 and returns it.
func (a *otaAgent) waitRecordsOf(sha string) Record {
	a.t.Helper()
	var got Record
	waitFor(a.t, func() bool {
		recs := a.records()
		i := slices.IndexFunc(recs, func(r Record) bool { return r.Model.SHA256 == sha })
		if i >= 0 {
			got = recs[i]
		}
		return i >= 0
	})
	return got
}

// TestOTAUpdateSwitchesModel pushes a different real model to a running agent: its predictions
// switch to it without a restart, the status topic shows every step, the records carry the new
// name, version and SHA-256, and a restart keeps it.
func TestOTAUpdateSwitchesModel(t *testing.T) {
	a := startOTAAgent(t)
	first := a.waitRecordsOf(a.records0SHA())
	if first.Model.Name != "mobilenet_v1_0.25_224_quant" {
		t.Fatalf("base model %+v", first.Model)
	}
	labels, err := vision.LoadLabels(classifyLabels)
	if err != nil {
		t.Fatal(err)
	}
	model := otatest.ReadFile(t, floatClassify)
	m, r := a.push(model, ota.UpdateOptions{Name: "mobilenet-float", Version: "2.0", Labels: labels})
	if r.Status.State != ota.StateCommitted {
		t.Fatalf("push: %+v", r.Status)
	}
	rec := a.waitRecordsOf(m.SHA256)
	if rec.Model != (ModelRef{Name: "mobilenet-float", Version: "2.0", SHA256: m.SHA256}) || len(rec.Classes) == 0 || rec.Classes[0].Label == "" {
		t.Fatalf("record of the new model: %+v", rec)
	}
	// The operator saw the commit on its own connection; the observer's copy may be behind it.
	want := []string{ota.StateReceiving, ota.StateVerifying, ota.StateActivated, ota.StateCommitted}
	seq := a.states(m.ID)
	for deadline := time.Now().Add(10 * time.Second); len(seq) < len(want) && time.Now().Before(deadline); seq = a.states(m.ID) {
		time.Sleep(20 * time.Millisecond)
	}
	if !slices.Equal(seq, want) {
		t.Fatalf("status sequence %v", seq)
	}
	// No restart: the sequence numbers of the records go on.
	recs := a.records()
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq <= recs[i-1].Seq {
			t.Fatalf("records restarted their sequence: %d after %d", recs[i].Seq, recs[i-1].Seq)
		}
	}
	var swap float64
	for _, p := range a.obs.on("edge/test-pi/events") {
		var ev struct {
			Kind   string         `json:"kind"`
			Fields map[string]any `json:"fields"`
		}
		if json.Unmarshal(p, &ev) == nil && ev.Kind == "model_activated" {
			swap, _ = ev.Fields["swap_ms"].(float64)
		}
	}
	t.Logf("swap between two frames took %.3f ms", swap)

	// The device status carries the update state; a restart loads the installed model.
	a.obs.publish(t, "edge/test-pi/cmd/status", false, `{"v":1,"id":"s1"}`)
	waitFor(t, func() bool {
		ps := a.obs.on("edge/test-pi/status")
		var s struct {
			OTA          map[string]any `json:"ota"`
			ModelVersion string         `json:"model_version"`
		}
		return len(ps) > 0 && json.Unmarshal(ps[len(ps)-1], &s) == nil && s.OTA["state"] == ota.StateCommitted && s.ModelVersion == "2.0"
	})
	a.run.stop(t)
	n := len(a.records())
	a.start()
	waitFor(t, func() bool { return len(a.records()) > n+2 })
	if r := a.records()[n+1]; r.Model.SHA256 != m.SHA256 {
		t.Fatalf("after a restart the agent runs %+v", r.Model)
	}
}

// records0SHA returns the SHA-256 of the configured model.
func (a *otaAgent) records0SHA() string {
	sum, err := ota.FileSHA256(a.cfg.Model.Path)
	if err != nil {
		a.t.Fatal(err)
	}
	return sum
}

// TestOTABadUpdatesKeepTheModel pushes models the agent's pipeline cannot run: each is rejected
// by the agent's validator with its reason, and the running model keeps serving.
func TestOTABadUpdatesKeepTheModel(t *testing.T) {
	a := startOTAAgent(t, "model.task", "classify")
	base := a.records0SHA()
	a.waitRecordsOf(base)
	notModel := []byte(strings.Repeat("not a model ", 400))
	for i, tc := range []struct {
		name   string
		model  []byte
		reason string
	}{
		{"not a tflite file", notModel, "not a TFLite model"},
		{"unsupported op", otatest.UnsupportedOp(t), "SIN"},
		{"input the pipeline cannot feed", otatest.ReadFile(t, mnistModel), "want an image"},
		{"output the configured task cannot decode", otatest.ReadFile(t, ssdModelPath), "task classify needs one output"},
	} {
		m, r := a.push(tc.model, ota.UpdateOptions{Version: string(rune('2' + i))})
		if r.Status.State != ota.StateRejected || r.Status.Check != ota.CheckValidate || !strings.Contains(r.Status.Reason, tc.reason) {
			t.Fatalf("%s: %+v, want validate: ...%s", tc.name, r.Status, tc.reason)
		}
		n := len(a.records())
		waitFor(t, func() bool { return len(a.records()) > n+2 })
		recs := a.records()
		if got := recs[len(recs)-1].Model.SHA256; got != base || got == m.SHA256 {
			t.Fatalf("%s: the agent runs %s", tc.name, got)
		}
	}
	if files, _ := os.ReadDir(filepath.Join(a.cfg.StateDir, "models")); len(files) != 1 {
		t.Fatalf("model store keeps %v", files)
	}
}

// TestOTAShadow runs candidates beside the live model on live frames: a detector cannot be
// compared with the classifier; a candidate slower than the operator allows is refused; one
// within the thresholds is activated.
func TestOTAShadow(t *testing.T) {
	// A still test picture, not the sample clip: both classifiers see the same picture on every
	// frame, so their agreement does not depend on which of the clip's frames the shadow run got
	// (the quantized and float MobileNet 0.25 agree on some of the clip's scenes only).
	a := startOTAAgent(t, "camera.source", gstPattern("smpte100"), "camera.frozen_after", "0")
	a.waitRecordsOf(a.records0SHA())
	float := otatest.ReadFile(t, floatClassify)

	_, r := a.push(otatest.ReadFile(t, ssdModelPath), ota.UpdateOptions{Version: "2", Shadow: &ota.ShadowSpec{Frames: 4}})
	if r.Status.State != ota.StateRejected || !strings.Contains(r.Status.Reason, "the candidate detects and the active model classifies") {
		t.Fatalf("detector: %+v", r.Status)
	}
	_, r = a.push(otatest.ReadFile(t, slowClassify), ota.UpdateOptions{Version: "3", Shadow: &ota.ShadowSpec{Frames: 4, MaxLatencyMS: 1}})
	if r.Status.State != ota.StateRejected || r.Status.Check != ota.CheckShadow || !strings.Contains(r.Status.Reason, "exceeds 1 ms") {
		t.Fatalf("slow candidate: %+v", r.Status)
	}
	t.Logf("refused: %s", r.Status.Reason)
	m, r := a.push(float, ota.UpdateOptions{Version: "4", Shadow: &ota.ShadowSpec{Frames: 6, MinAgreementPct: 50}})
	if r.Status.State != ota.StateCommitted || r.Status.Shadow == nil || r.Status.Shadow.Frames != 6 {
		t.Fatalf("candidate within the thresholds: %+v", r.Status)
	}
	t.Logf("shadow figures: %+v", *r.Status.Shadow)
	a.waitRecordsOf(m.SHA256)
}

// TestOTAChecksWithGating pushes a model, with a shadow run, to an agent whose gate infers
// nothing (a still picture, no heartbeat): no frame for the shadow run nor the health window.
// While a model update is checked every frame is inferred (trigger model_update), so the good
// model passes both and is committed, and gating resumes after.
func TestOTAChecksWithGating(t *testing.T) {
	a := startOTAAgent(t, "camera.source", gstPattern("smpte100"), "camera.frozen_after", "0",
		"motion.enabled", "true", "motion.heartbeat", "24h", "ota.health_frames", "5", "ota.health_timeout", "30s",
		"ota.shadow_timeout", "30s")
	a.waitRecordsOf(a.records0SHA())
	model := otatest.ReadFile(t, floatClassify)
	m, r := a.push(model, ota.UpdateOptions{Name: "mobilenet-float", Version: "2.0", Shadow: &ota.ShadowSpec{Frames: 4}})
	if r.Status.State != ota.StateCommitted || r.Status.Shadow == nil || r.Status.Shadow.Frames != 4 {
		t.Fatalf("push with gating on: %+v (shadow %+v)", r.Status, r.Status.Shadow)
	}
	triggers := map[string]int{}
	count := func() {
		clear(triggers)
		for _, rec := range a.records() {
			if rec.Model.SHA256 == m.SHA256 && rec.Motion != nil {
				triggers[rec.Motion.Trigger]++
			}
		}
	}
	// The health window's records may still be on their way to the broker.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if count(); triggers["model_update"] >= 5 {
			break
		}
	}
	if triggers["model_update"] < 5 {
		t.Errorf("records of the new model by trigger %v: want its health window inferred frame by frame", triggers)
	}
	// Committed: the gate is back, and the still picture is not inferred.
	time.Sleep(time.Second)
	n := len(a.records())
	time.Sleep(time.Second)
	if got := len(a.records()) - n; got > 0 {
		t.Errorf("%d records in a second after the commit: gating did not resume", got)
	}
}

// TestOTAOnTheOfficialRuntime: with model.runtime tflite an update is validated, shadowed and
// activated on the official library: a model it refuses (tflite-micro's person_detect, which the
// pure-Go runtime runs) is rejected by validation, and a good one, after its shadow run, runs on
// it and the status says so.
func TestOTAOnTheOfficialRuntime(t *testing.T) {
	lib := nativetest.Library(t)
	a := startOTAAgent(t, "model.runtime", "tflite", "model.library", lib.Path())
	a.waitRecordsOf(a.records0SHA())
	_, r := a.push(otatest.ReadFile(t, "../testdata/models/int8_person/person_detect.tflite"), ota.UpdateOptions{Version: "2"})
	if r.Status.State != ota.StateRejected || r.Status.Check != ota.CheckValidate {
		t.Fatalf("a model the library refuses: %+v", r.Status)
	}
	t.Logf("refused: %s", r.Status.Reason)
	m, r := a.push(otatest.ReadFile(t, floatClassify), ota.UpdateOptions{Version: "3", Shadow: &ota.ShadowSpec{Frames: 4}})
	if r.Status.State != ota.StateCommitted || r.Status.Shadow == nil || r.Status.Shadow.Frames != 4 {
		t.Fatalf("a good model: %+v", r.Status)
	}
	a.waitRecordsOf(m.SHA256)
	a.obs.publish(t, "edge/test-pi/cmd/status", false, `{"v":1,"id":"s1"}`)
	waitFor(t, func() bool {
		s := a.obs.lastJSON("edge/test-pi/status")
		choice, _ := s["runtime_choice"].(map[string]any)
		return s["model_sha256"] == m.SHA256 && s["runtime"] == "tflite" && choice["version"] == lib.Version()
	})
	checkDocumented(t, a.obs)
}
