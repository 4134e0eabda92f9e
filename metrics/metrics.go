// Package metrics holds the agent's Prometheus instruments on a registry of its own (never the
// global default one), and serves them in the Prometheus text format.
//
// Two kinds of metric live here. The pipeline's own events (frames captured, inferred, dropped or
// skipped, the time each stage took, the model in use) are instruments the agent updates as they
// happen. What other parts already count (the outbox's backlog and drops, the MQTT client's
// publishes, acks and reconnects, the camera's state) is read from them at scrape time through
// Sources, so nothing is counted twice. Other packages add their own collectors (OTA state, the
// motion gate) to Registry.
//
// Names follow the Prometheus conventions: the edge_agent_ prefix, base units (seconds, bytes)
// and _total for counters.
package metrics

import (
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
)

// Namespace starts every metric name of the agent.
const Namespace = "edge_agent"

// Stage is one step of the per-frame pipeline, the stage label of edge_agent_stage_duration_seconds.
type Stage string

// Pipeline stages.
const (
	// StageCapture is the time spent in Source.Next: waiting for and reading the frame.
	StageCapture Stage = "capture"
	// StagePreprocess is resizing and converting the frame into the model input.
	StagePreprocess Stage = "preprocess"
	// StageInfer is the interpreter's Invoke; it also feeds edge_agent_inference_duration_seconds.
	StageInfer Stage = "infer"
	// StageDecode is turning the model outputs into classes or detections.
	StageDecode Stage = "decode"
	// StageRecord is from handing a record to the recorder until its batch is committed.
	StageRecord Stage = "record"
)

// Stages lists every stage, in pipeline order.
var Stages = []Stage{StageCapture, StagePreprocess, StageInfer, StageDecode, StageRecord}

// Reasons a frame is dropped (edge_agent_frames_dropped_total) or skipped
// (edge_agent_frames_skipped_total). Every reason listed here is exported from the start, at 0.
const (
	DropStale      = "stale"      // a live source replaced it with a newer frame before it was taken
	DropPreprocess = "preprocess" // preprocessing failed
	DropInfer      = "infer"      // the interpreter failed
	DropDecode     = "decode"     // decoding the outputs failed
	// The motion gate's reasons to skip a frame (camera/motion.Reason's names).
	SkipNoMotion = "no_motion" // nothing moved
	SkipSettling = "settling"  // the camera is settling after a scene change
	SkipBlank    = "blank"     // the frame is blank
	SkipFrozen   = "frozen"    // the camera is frozen
)

// Reasons records leave the outbox without being delivered (edge_agent_records_dropped_total):
// the store's bounds (store.DropMaxRecords, DropMaxBytes, DropMaxAge) and RecordStoreError.
const RecordStoreError = "store_error" // the append failed (disk full, I/O error)

// BuildInfo identifies the running binary (edge_agent_build_info).
type BuildInfo struct {
	Version string // the agent's version (git describe)
}

// ModelInfo identifies the model in use (edge_agent_model_info).
type ModelInfo struct {
	Name    string
	Version string
	SHA256  string
	// Runtime names the inference runtime running it: go (the pure-Go interpreter) or tflite (the
	// official TensorFlow Lite library); Requested is the one configured (auto, go or tflite).
	Runtime   string
	Requested string
	// GoSeconds and TFLiteSeconds are auto's measured median Invoke times when the model loaded;
	// zero for a runtime not measured (edge_agent_runtime_invoke_seconds leaves it out).
	GoSeconds, TFLiteSeconds float64
	// Disagree: the two runtimes' outputs differed beyond the agreement bounds; Fallback: auto
	// could not use one of them (the library is absent, or it cannot run the model).
	Disagree, Fallback bool
}

// Sources are read at every scrape. Each may be nil: its metrics are then left out (Sync is nil
// when MQTT is off). They must be quick and safe to call from the scraping goroutine.
type Sources struct {
	Store  func() store.Stats
	Sync   func() sync.Stats
	Camera func() camera.State
}

// Metrics is the agent's set of instruments. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	framesCaptured prometheus.Counter
	framesInferred prometheus.Counter
	framesDropped  *prometheus.CounterVec
	framesSkipped  *prometheus.CounterVec
	storeErrors    atomic.Uint64 // records lost to failed appends; exported in records_dropped
	inference      prometheus.Histogram
	stages         *prometheus.HistogramVec
	model          *prometheus.GaugeVec
	runtimeInvoke  *prometheus.GaugeVec
	runtimeFlags   *prometheus.GaugeVec
}

// Latency buckets, in seconds: a stage takes from well under a millisecond (decode) to a couple of
// seconds (a large model on a slow board).
var (
	stageBuckets     = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	inferenceBuckets = []float64{.005, .01, .02, .03, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2, 5}
)

// New creates the instruments on a new registry, with the Go runtime and process collectors and
// collectors reading src at scrape time.
func New(build BuildInfo, src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		framesCaptured: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace,
			Name: "frames_captured_total", Help: "Frames read from the camera, including the ones dropped before inference."}),
		framesInferred: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace,
			Name: "frames_inferred_total", Help: "Frames run through the model and decoded."}),
		framesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace,
			Name: "frames_dropped_total", Help: "Frames captured but not inferred, by reason."}, []string{"reason"}),
		framesSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace,
			Name: "frames_skipped_total", Help: "Frames deliberately not inferred, by reason."}, []string{"reason"}),
		inference: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace,
			Name: "inference_duration_seconds", Help: "Time the interpreter takes for one frame.", Buckets: inferenceBuckets}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace,
			Name: "stage_duration_seconds", Help: "Time each pipeline stage takes per frame (capture, preprocess, infer, decode, record).",
			Buckets: stageBuckets}, []string{"stage"}),
		model: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace,
			Name: "model_info", Help: "The model in use; always 1."}, []string{"name", "version", "sha256", "runtime", "requested"}),
		runtimeInvoke: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace,
			Name: "runtime_invoke_seconds", Help: "model.runtime auto: each runtime's median Invoke time on the model in use, measured when it loaded."},
			[]string{"runtime"}),
		runtimeFlags: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace,
			Name: "runtime_state", Help: "1 when, on the model in use, the runtimes disagreed (disagreement) or auto fell back to one (fallback)."},
			[]string{"state"}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace,
		Name: "build_info", Help: "The agent's build; always 1."}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(build.Version, runtime.Version()).Set(1)

	for _, r := range []string{DropStale, DropPreprocess, DropInfer, DropDecode} {
		m.framesDropped.WithLabelValues(r)
	}
	for _, r := range []string{SkipNoMotion, SkipSettling, SkipBlank, SkipFrozen} {
		m.framesSkipped.WithLabelValues(r)
	}
	for _, s := range Stages {
		m.stages.WithLabelValues(string(s))
	}
	reg.MustRegister(m.framesCaptured, m.framesInferred, m.framesDropped, m.framesSkipped, m.inference,
		m.stages, m.model, m.runtimeInvoke, m.runtimeFlags, buildInfo, &sourceCollector{src: src, storeErrors: &m.storeErrors},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where other parts register their own collectors (OTA state, motion gate).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format (or OpenMetrics, if asked for).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// FramesCaptured counts n frames read from the camera: the gap between the sequence numbers
// (camera.Frame.Seq) of two frames taken, so frames a live source dropped count too. The n-1
// frames that were never taken should also be passed to FrameDropped(DropStale, n-1).
func (m *Metrics) FramesCaptured(n uint64) { m.framesCaptured.Add(float64(n)) }

// FrameInferred counts a frame run through the model and decoded.
func (m *Metrics) FrameInferred() { m.framesInferred.Inc() }

// FrameDropped counts n frames captured but not inferred, for reason (DropStale, DropPreprocess...).
func (m *Metrics) FrameDropped(reason string, n uint64) {
	m.framesDropped.WithLabelValues(reason).Add(float64(n))
}

// FrameSkipped counts a frame deliberately not inferred, for reason (SkipNoMotion...).
func (m *Metrics) FrameSkipped(reason string) { m.framesSkipped.WithLabelValues(reason).Inc() }

// RecordsNotStored counts records lost because their append failed; they are exported as
// edge_agent_records_dropped_total{reason="store_error"}.
func (m *Metrics) RecordsNotStored(n int) { m.storeErrors.Add(uint64(n)) }

// ObserveStage records how long stage s took for one frame (StageRecord: for one record).
func (m *Metrics) ObserveStage(s Stage, d time.Duration) {
	sec := d.Seconds()
	m.stages.WithLabelValues(string(s)).Observe(sec)
	if s == StageInfer {
		m.inference.Observe(sec)
	}
}

// SetModel replaces the model in edge_agent_model_info and its runtime's measurements (at start
// and after a model reload or update).
func (m *Metrics) SetModel(info ModelInfo) {
	m.model.Reset()
	m.model.WithLabelValues(info.Name, info.Version, info.SHA256, info.Runtime, info.Requested).Set(1)
	m.runtimeInvoke.Reset()
	for rt, sec := range map[string]float64{"go": info.GoSeconds, "tflite": info.TFLiteSeconds} {
		if sec > 0 {
			m.runtimeInvoke.WithLabelValues(rt).Set(sec)
		}
	}
	m.runtimeFlags.WithLabelValues("disagreement").Set(b2f(info.Disagree))
	m.runtimeFlags.WithLabelValues("fallback").Set(b2f(info.Fallback))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
