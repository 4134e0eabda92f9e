package agent

import (
	"context"
	"log/slog"
	"math"
	"net"
	"strings"
	gosync "sync"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/hass"
	"github.com/edge-agent/edge-agent/httpapi"
	"github.com/edge-agent/edge-agent/metrics"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
	"github.com/edge-agent/edge-agent/tflite/native"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// The ways to look at a running agent: the metrics, the HTTP server (status page, REST predict,
// probes) and Home Assistant discovery. They read the agent's state and are fed by the capture
// loop (frames, detections) and the recorder (stored records).

// httpShutdownTimeout bounds stopping the HTTP server (a prediction in flight is still waited
// for: its interpreter is closed after it).
const httpShutdownTimeout = 2 * time.Second

func (a *agent) startMetrics() {
	src := metrics.Sources{
		Store:  func() store.Stats { return a.db.Stats() },
		Camera: func() camera.State { return camera.State(a.camCode.Load()) },
	}
	if a.cfg.MQTT.Enabled {
		// Read at scrape time; the client is made right after.
		src.Sync = func() sync.Stats {
			if a.mqtt == nil {
				return sync.Stats{}
			}
			return a.mqtt.Stats()
		}
	}
	a.metrics = metrics.New(metrics.BuildInfo{Version: a.opts.Version}, src)
	a.setModelMetric()
}

func (a *agent) setModelMetric() {
	ref, ch := a.modelRef.Load(), a.runtime.Load().choice
	a.metrics.SetModel(metrics.ModelInfo{Name: ref.Name, Version: ref.Version, SHA256: ref.SHA256,
		Runtime: ch.Runtime, Requested: ch.Requested,
		GoSeconds: ch.GoMs / 1000, TFLiteSeconds: ch.TFLiteMs / 1000,
		Disagree: ch.Disagreement != "", Fallback: ch.Fallback != ""})
}

// modelChanged publishes the running model's settings and runtime to the predictor, the status
// and the metrics; the capture loop calls it whenever the model or its thresholds change.
func (a *agent) modelChanged() {
	c := a.model.cfg
	a.modelCfg.Store(&c)
	a.runtime.Store(a.model.choiceOf())
	if a.metrics != nil {
		a.setModelMetric()
	}
}

// logChoice logs which runtime runs m and why: auto's two timings, a fallback (at warning level
// unless no library was named and none is installed, as on armhf) and, as a warning, a disagreement between the
// runtimes, which is a bug in one of them to report.
func (a *agent) logChoice(m *model) {
	ch := m.choice
	if ch.Fallback != "" {
		level := slog.LevelWarn
		if m.cfg.Library == "" && strings.Contains(ch.Fallback, native.ErrNotFound.Error()) {
			level = slog.LevelInfo
		}
		a.log.Log(context.Background(), level, "model.runtime "+ch.Requested+": using the "+ch.Runtime+" runtime",
			"model", m.ref.Name, "reason", ch.Fallback)
	}
	if ch.Disagreement != "" {
		a.log.Warn("the two TensorFlow Lite runtimes disagree on this model (a bug to report; the model runs on)",
			"model", m.ref.Name, "sha256", m.ref.SHA256, "runtime", ch.Runtime, "disagreement", ch.Disagreement)
	}
}

// newDiscovery makes the Home Assistant discovery, before the MQTT client that carries it. With
// ha.discovery off it is still made: it clears a device published by an earlier run.
func (a *agent) newDiscovery() error {
	c := a.cfg.HA
	d, err := hass.New(hass.Config{
		Discovery:        c.Discovery,
		Prefix:           c.Prefix,
		TopicPrefix:      a.cfg.MQTT.TopicPrefix,
		DeviceID:         a.cfg.Device.ID,
		Name:             c.Name,
		Labels:           c.LabelList(),
		AgentVersion:     a.opts.Version,
		ConfigurationURL: a.pageURLForOthers(),
	}, hass.PublisherFunc(func(ctx context.Context, topic string, qos byte, retain bool, p []byte) error {
		return a.mqtt.Publish(ctx, topic, qos, retain, p)
	}), a.log)
	if err != nil {
		return a.cfg.errorAt("ha.labels", err)
	}
	a.ha = d
	return nil
}

// pageURLForOthers is the status page's address as another machine (Home Assistant) reaches it:
// only when the server listens on a named, non-loopback host.
func (a *agent) pageURLForOthers() string {
	if !a.cfg.HTTP.Enabled {
		return ""
	}
	host, port, err := net.SplitHostPort(a.cfg.HTTP.Listen)
	if err != nil || port == "0" || host == "" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) || host == "localhost" {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

func (a *agent) startHTTP() error {
	c := a.cfg.HTTP
	a.predict = &predictor{a: a, device: a.cfg.Device.ID}
	srv, err := httpapi.New(httpapi.Config{
		Listen:             c.Listen,
		TokenFile:          c.TokenFile,
		PredictMaxBytes:    int64(c.PredictMaxBytes),
		PredictConcurrency: c.PredictConcurrency,
	}, httpapi.Deps{Agent: a, Predictor: a.predict, Metrics: a.metrics.Handler(), Logger: a.log.With("component", "http")})
	if err != nil {
		return a.cfg.errorAt("http.token_file", err)
	}
	if err := srv.Start(); err != nil {
		return a.cfg.errorAt("http.listen", err)
	}
	a.http = srv
	if a.opts.OnHTTP != nil {
		a.opts.OnHTTP(srv.URL())
	}
	return nil
}

func (a *agent) stopHTTP() {
	if a.http == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := a.http.Shutdown(ctx); err != nil {
		a.log.Warn("http server did not stop in time; its connections were closed", "err", err)
	}
	a.predict.close()
}

// countFrame counts the frames the source read up to f: the gap in their sequence numbers is
// the frames a live source replaced before they were taken.
func (a *agent) countFrame(f *camera.Frame) {
	seq := f.Seq()
	if seq <= a.lastSeq { // a reopened file starts over
		a.lastSeq = 0
	}
	n := seq - a.lastSeq
	a.lastSeq = seq
	a.metrics.FramesCaptured(n)
	if n > 1 {
		a.metrics.FrameDropped(metrics.DropStale, n-1)
	}
}

// show hands a processed frame to the live view (when someone watches) and its detections to
// Home Assistant.
func (a *agent) show(f *camera.Frame, rec *Record) {
	if a.ha != nil {
		var dets []hass.Detection
		if rec.Detections != nil {
			for _, d := range *rec.Detections {
				dets = append(dets, hass.Detection{Label: d.Label, Score: float64(d.Score)})
			}
		}
		for _, c := range rec.Classes {
			dets = append(dets, hass.Detection{Label: c.Label, Score: float64(c.Score)})
		}
		a.ha.Observe(rec.TS, dets)
	}
	if a.http == nil || !a.http.WantFrame() {
		return
	}
	jpg := rec.SnapshotJPEG // drawn already when snapshots are on
	if jpg == nil {
		var dets []vision.Detection
		if rec.Detections != nil {
			dets = *rec.Detections
		}
		var err error
		if jpg, err = a.snapshot(f, dets, true); err != nil {
			a.log.Debug("live view frame skipped", "err", err)
			return
		}
	}
	a.http.PublishFrame(httpapi.Frame{JPEG: jpg, Time: f.Time()})
}

// published hands a stored record to the live view, without its snapshot (the page shows the
// frame from /v1/snapshot.jpg).
func (a *agent) published(rec *Record) {
	if a.http == nil {
		return
	}
	r := *rec
	r.SnapshotJPEG = nil
	a.http.PublishRecord(&r)
}

// Status is the status payload for the HTTP API: the one published on the status topic, or,
// with MQTT off, the same fields without the client's.
func (a *agent) Status() any {
	if a.mqtt != nil {
		return a.mqtt.StatusPayload()
	}
	info := a.status()
	m := make(map[string]any, len(info.Extra)+8)
	for k, v := range info.Extra {
		m[k] = v
	}
	for k, v := range map[string]any{
		"v": sync.PayloadVersion, "state": "online", "device": a.cfg.Device.ID, "agent_version": a.opts.Version,
		"model": info.Model, "uptime_s": int64(time.Since(a.started).Seconds()), "backlog": info.Backlog,
		"drops": info.Drops, "ts": time.Now().UTC().Format(time.RFC3339Nano),
	} {
		m[k] = v
	}
	return m
}

// Checks is the readiness of the camera, the model, the store and the broker.
func (a *agent) Checks() []httpapi.Check {
	cam := httpapi.Check{Name: "camera", State: a.camState.Load().(string)}
	cam.Ready = cam.State == camera.StateConnected.String()
	cam.Reason = a.camErr.Load().(string)

	ref := a.modelRef.Load()
	short := ref.SHA256
	if len(short) > 12 {
		short = short[:12]
	}
	model := httpapi.Check{Name: "model", Ready: true, State: "loaded", Reason: ref.Name + " " + short}

	st := a.db.Stats()
	db := httpapi.Check{Name: "store", Ready: !a.health.storeError.Load(), State: "writable"}
	if !db.Ready {
		db.State, db.Reason = "failing", st.LastError
	}

	broker := httpapi.Check{Name: "broker", Ready: true, State: "disabled"}
	if a.mqtt != nil {
		s := a.mqtt.Stats()
		broker.State = s.State.String()
		broker.Ready = s.State == sync.StateConnected && !s.PublishDenied
		if s.PublishDenied {
			broker.State = "publish denied"
		}
		if !broker.Ready && s.LastError != nil {
			broker.Reason = s.LastError.Error()
		}
	}
	return []httpapi.Check{cam, model, db, broker}
}

// fpsMeter measures the processing rate over the last frames.
type fpsMeter struct {
	mu    gosync.Mutex
	times [32]time.Time // ring of completion times
	n     int           // how many are set
	next  int
}

// fpsWindow is how old the newest frame may be for the rate to count: a stalled pipeline reads 0.
const fpsWindow = 5 * time.Second

func (m *fpsMeter) tick(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.times[m.next] = t
	m.next = (m.next + 1) % len(m.times)
	m.n = min(m.n+1, len(m.times))
}

// rate returns frames per second, rounded to 0.01, over the recorded frames.
func (m *fpsMeter) rate(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n < 2 {
		return 0
	}
	newest := m.times[(m.next-1+len(m.times))%len(m.times)]
	oldest := m.times[(m.next-m.n+len(m.times))%len(m.times)]
	if now.Sub(newest) > fpsWindow || !newest.After(oldest) {
		return 0
	}
	r := float64(m.n-1) / newest.Sub(oldest).Seconds()
	return math.Round(r*100) / 100
}
