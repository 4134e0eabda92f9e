package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
)

// Options are run-time choices that are not configuration.
type Options struct {
	// Logger receives the agent's logs; LogLevel, when set, is adjusted on reload.
	Logger   *slog.Logger
	LogLevel *slog.LevelVar
	// Version is the agent's version, published in the status.
	Version string
	// Print, when set, receives every stored record as one JSON line.
	Print io.Writer
	// Reload receives a value when the configuration should be reloaded (SIGHUP); Load then
	// returns the new configuration.
	Reload <-chan struct{}
	Load   func() (Config, error)
}

// shutdownGrace bounds how long a stopping agent waits for the broker to acknowledge the backlog.
const shutdownGrace = 5 * time.Second

// agent is one run of the pipeline:
//
//	camera.Source --frame--> process (preprocess, infer, decode) --Record--> recorder
//	    --> store.DB (durable outbox) --> sync.Client (MQTT)
//
// The capture loop owns the source and the model and is the only goroutine that touches them;
// the recorder owns the appends; the sync client drains the outbox on its own.
type agent struct {
	log     *slog.Logger
	opts    Options
	db      *store.DB
	mqtt    *sync.Client // nil when MQTT is off
	health  health
	started time.Time

	// cfg, src and model belong to the capture loop. Reloads are handed over through pending.
	cfg   Config
	src   camera.Source
	model *model

	mu      stdsync.Mutex // guards pending and wake
	pending *Config
	wake    context.CancelFunc // interrupts the capture loop's wait for a frame

	records chan *Record
	events  chan event
	// counters for the status payload
	frames     atomic.Uint64
	storeDrops atomic.Uint64
	camState   atomic.Value // string
	inferNanos atomic.Int64 // last frame's inference time
	modelRef   atomic.Pointer[ModelRef]
	firstFrame bool // the capture loop has processed a frame
}

type event struct {
	kind   string
	fields map[string]any
}

// Run runs the agent until ctx is done or, for a video file that does not loop, until the file
// ends. It returns an error if a part cannot start (model, store, camera file, MQTT settings).
func Run(ctx context.Context, cfg Config, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &agent{log: opts.Logger, opts: opts, cfg: cfg, started: time.Now(),
		records: make(chan *Record, 64), events: make(chan event, 32)}
	a.camState.Store("connecting")

	// Start in dependency order, and stop what started, in reverse, if a later part fails.
	var err error
	if a.model, err = loadModel(cfg.Model); err != nil {
		return err
	}
	defer func() { a.model.close() }()
	a.modelRef.Store(&a.model.ref)
	a.log.Info("model loaded", "path", cfg.Model.Path, "task", a.model.task, "sha256", a.model.ref.SHA256,
		"input", a.model.input.Shape(), "type", a.model.input.Type())

	if err := os.MkdirAll(filepath.Dir(cfg.Store.Path), 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	a.db, err = store.Open(cfg.Store.Path, store.Options{
		MaxBytes:       int64(cfg.Store.MaxBytes),
		MaxRecords:     cfg.Store.MaxRecords,
		MaxAge:         cfg.Store.MaxAge,
		MaxCommitDelay: commitDelay(cfg.Store.CommitDelay),
		Logger:         a.log.With("component", "store"),
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer func() {
		if err := a.db.Close(); err != nil {
			a.log.Error("closing store", "err", err)
		}
	}()

	var bg stdsync.WaitGroup // the MQTT client and the event publisher
	syncCtx, stopSync := context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		stopSync()
		bg.Wait()
	}()
	if cfg.MQTT.Enabled {
		if err := a.startMQTT(syncCtx, &bg); err != nil {
			return err
		}
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		a.publishEvents(syncCtx)
	}()

	if a.src, err = a.openCamera(ctx, cfg.Camera); err != nil {
		return err
	}
	defer func() { a.src.Close() }()

	var recWG stdsync.WaitGroup
	recWG.Add(1)
	go func() {
		defer recWG.Done()
		a.record()
	}()

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go notifier{a.log}.watchdog(watchCtx, &a.health)
	go a.watchReload(watchCtx)

	// Every part runs: tell systemd, even if the camera is still missing (the agent waits for it
	// and reports it; the watchdog covers a pipeline that stalls).
	notifier{a.log}.send(daemon.SdNotifyReady)
	loopErr := a.captureLoop(ctx)

	// Shutdown: capture has stopped and the frame in flight is done; store what is queued,
	// give the broker a moment to take the backlog, then stop MQTT (it publishes offline).
	notifier{a.log}.send(daemon.SdNotifyStopping)
	stopWatch()
	close(a.records)
	recWG.Wait()
	a.src.Close()
	if a.mqtt != nil {
		a.flush(ctx)
	}
	stopSync()
	bg.Wait()
	st := a.db.Stats()
	a.log.Info("agent stopped", "frames", a.frames.Load(), "backlog", st.Records, "last_seq", st.LastSeq)
	return loopErr
}

// commitDelay maps the config's "0 = commit at once" to the store's negative value (its zero
// means the default).
func commitDelay(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func (a *agent) startMQTT(ctx context.Context, bg *stdsync.WaitGroup) error {
	c := a.cfg.MQTT
	url := c.URL
	if c.Embedded {
		b, err := sync.StartEmbeddedBroker(ctx, c.EmbeddedListen, a.log)
		if err != nil {
			return fmt.Errorf("embedded MQTT broker: %w", err)
		}
		bg.Add(1)
		go func() {
			defer bg.Done()
			<-ctx.Done()
			b.Close()
		}()
		url = b.URL()
		a.log.Info("embedded MQTT broker listening", "addr", b.Addr())
	}
	password := c.Password
	if c.PasswordFile != "" {
		p, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return fmt.Errorf("mqtt.password_file: %w", err)
		}
		password = strings.TrimSpace(string(p))
	}
	client, err := sync.New(sync.Config{
		Broker:         url,
		DeviceID:       a.cfg.Device.ID,
		ClientID:       c.ClientID,
		Username:       c.Username,
		Password:       password,
		CAFile:         c.CAFile,
		CertFile:       c.CertFile,
		KeyFile:        c.KeyFile,
		KeepAlive:      c.KeepAlive,
		TopicPrefix:    c.TopicPrefix,
		InFlight:       c.InFlight,
		AgentVersion:   a.opts.Version,
		Status:         a.status,
		StatusInterval: c.StatusInterval,
		ConnectTimeout: c.ConnectTimeout,
		Backoff:        sync.Backoff{Initial: c.ReconnectInitial, Max: c.ReconnectMax, Jitter: 0.2},
		Verify:         c.Verify,
	}, a.db, a.log)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	a.mqtt = client
	bg.Add(2)
	go func() {
		defer bg.Done()
		if err := client.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("mqtt client stopped", "err", err)
		}
	}()
	// Surface settings that retrying cannot fix (a wrong CA, a rejected certificate or
	// password) at startup. The agent keeps running and buffering either way.
	go func() {
		defer bg.Done()
		wctx, cancel := context.WithTimeout(ctx, 2*c.ConnectTimeout)
		defer cancel()
		switch err := client.WaitConnected(wctx); {
		case err == nil:
			a.log.Info("connected to MQTT broker", "url", url)
		case errors.Is(err, sync.ErrTLS) || errors.Is(err, sync.ErrNotAuthorized):
			a.log.Error("MQTT broker refuses this agent; records are kept until the settings are fixed", "err", err)
		case ctx.Err() == nil:
			a.log.Warn("MQTT broker not reachable yet; records are kept and sent once it is", "err", err)
		}
	}()
	return nil
}

func (a *agent) openCamera(ctx context.Context, c CameraConfig) (camera.Source, error) {
	src, err := camera.Open(ctx, camera.Config{
		URL:              c.Source,
		MaxFPS:           c.MaxFPS,
		Loop:             c.Loop,
		ReconnectInitial: c.ReconnectInitial,
		ReconnectMax:     c.ReconnectMax,
		OnState:          a.onCameraState,
	}, a.log.With("component", "camera"))
	if err != nil {
		return nil, fmt.Errorf("camera: %w", err)
	}
	return src, nil
}

// onCameraState runs on the camera's reader goroutine (which logs the change itself): queue an
// event without blocking.
func (a *agent) onCameraState(s camera.StateChange) {
	a.camState.Store(s.State.String())
	a.health.cameraWaiting.Store(s.State == camera.StateConnecting || s.State == camera.StateReconnecting)
	fields := map[string]any{"state": s.State.String(), "source": s.Source}
	if s.Err != nil {
		fields["error"] = s.Err.Error()
	}
	if s.State == camera.StateReconnecting {
		fields["attempt"], fields["retry_in_ms"] = s.Attempt, s.RetryIn.Milliseconds()
	}
	a.emit("camera", fields)
}

func (a *agent) emit(kind string, fields map[string]any) {
	select {
	case a.events <- event{kind, fields}:
	default: // events are best effort; never stall the camera for them
	}
}

func (a *agent) publishEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-a.events:
			if a.mqtt == nil {
				continue
			}
			if err := a.mqtt.PublishEvent(ctx, ev.kind, ev.fields); err != nil {
				a.log.Debug("event not published", "kind", ev.kind, "err", err)
			}
		}
	}
}

// captureLoop takes frames until ctx is done or a non-looping file ends, applying reloaded
// configuration between frames.
func (a *agent) captureLoop(ctx context.Context) error {
	for {
		a.applyPending(ctx)
		nextCtx, cancel := context.WithCancel(ctx)
		a.mu.Lock()
		a.wake = cancel
		a.mu.Unlock()
		f, err := a.src.Next(nextCtx)
		cancel()
		switch {
		case err == nil:
			a.process(f)
		case errors.Is(err, io.EOF):
			a.log.Info("video file ended")
			return nil
		case ctx.Err() != nil:
			return nil
		case nextCtx.Err() != nil:
			// Woken up to apply a reload.
		default:
			return fmt.Errorf("camera: %w", err)
		}
	}
}

// process runs one frame through the model and hands the record to the recorder. It owns f.
func (a *agent) process(f *camera.Frame) {
	defer f.Close()
	m := a.model
	tr, err := m.pre.Run(f, m.input.Bytes())
	if err != nil {
		a.log.Warn("frame skipped: preprocessing failed", "err", err)
		return
	}
	t0 := time.Now()
	if err := m.ip.Invoke(); err != nil {
		a.log.Error("frame skipped: inference failed", "err", err)
		return
	}
	inferTime := time.Since(t0)
	rec := &Record{V: RecordVersion, Device: a.cfg.Device.ID, TS: f.Time().UTC(), Model: m.ref,
		Frame:   FrameSize{W: f.Width(), H: f.Height()},
		InferMS: float64(inferTime.Microseconds()) / 1000}
	if err := m.decode(rec, tr, a.cfg.Model.TopK, a.cfg.Model.ScoreThreshold); err != nil {
		a.log.Error("frame skipped: decoding failed", "err", err)
		return
	}
	if a.cfg.Snapshot.Enabled && rec.Detections != nil && len(*rec.Detections) > 0 {
		rec.SnapshotJPEG = a.snapshot(f, *rec.Detections)
	}
	a.frames.Add(1)
	a.inferNanos.Store(int64(inferTime))
	a.health.frameDone(time.Now())
	if !a.firstFrame {
		a.firstFrame = true
		a.log.Info("pipeline running", "frame", fmt.Sprintf("%dx%d", f.Width(), f.Height()), "infer_ms", rec.InferMS)
	}
	a.records <- rec
}

func (a *agent) snapshot(f *camera.Frame, dets []Detection) []byte {
	boxes := make([]camera.Box, len(dets))
	for i, d := range dets {
		boxes[i] = camera.Box{Label: fmt.Sprintf("%s %.2f", d.Label, d.Score)}
		boxes[i].Rect.Min.X, boxes[i].Rect.Min.Y = d.Box.X, d.Box.Y
		boxes[i].Rect.Max.X, boxes[i].Rect.Max.Y = d.Box.X+d.Box.W, d.Box.Y+d.Box.H
	}
	jpg, err := f.SnapshotJPEG(boxes, a.cfg.Snapshot.Quality, int(a.cfg.Snapshot.MaxBytes))
	if err != nil {
		a.log.Warn("snapshot skipped", "err", err)
		return nil
	}
	return jpg
}

// record appends records to the outbox until the channel closes, taking whatever has queued up
// meanwhile in one batch (one transaction, one fsync). A failed append (full disk, I/O error)
// loses those records only: they are counted, reported, and the agent goes on.
func (a *agent) record() {
	var failing bool
	batch := make([]*Record, 0, cap(a.records))
	payloads := make([][]byte, cap(a.records))
	for rec := range a.records {
		batch = append(batch[:0], rec)
	gather:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-a.records:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		_, err := a.db.AppendBatch(context.Background(), len(batch), func(i int, seq uint64) ([]byte, error) {
			b, err := batch[i].encode(seq)
			payloads[i] = b
			return b, err
		})
		if err != nil {
			a.storeDrops.Add(uint64(len(batch)))
			a.health.storeError.Store(true)
			if !failing {
				a.log.Error("records not stored", "count", len(batch), "err", err)
				a.emit("warning", map[string]any{"message": "records not stored", "error": err.Error()})
			}
			failing = true
			continue
		}
		if failing {
			a.log.Info("store writable again")
			failing = false
		}
		a.health.storeError.Store(false)
		if a.opts.Print != nil {
			for _, p := range payloads[:len(batch)] {
				fmt.Fprintf(a.opts.Print, "%s\n", p)
			}
		}
	}
}

// flush waits, up to shutdownGrace, for the broker to acknowledge the backlog.
func (a *agent) flush(ctx context.Context) {
	if a.mqtt.State() != sync.StateConnected {
		return
	}
	deadline := time.Now().Add(shutdownGrace)
	for a.db.Stats().Records > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// status is the agent's part of the MQTT status payload.
func (a *agent) status() sync.StatusInfo {
	st := a.db.Stats()
	ref := a.modelRef.Load()
	drops := make(map[string]uint64, len(st.Drops)+1)
	for k, v := range st.Drops {
		drops[k] = v
	}
	if n := a.storeDrops.Load(); n > 0 {
		drops["store_error"] = n
	}
	return sync.StatusInfo{
		Model:   ref.Name,
		Backlog: st.Records,
		Drops:   drops,
		Extra: map[string]any{
			"camera":       a.camState.Load(),
			"frames":       a.frames.Load(),
			"infer_ms":     float64(a.inferNanos.Load()/1000) / 1000,
			"model_sha256": ref.SHA256,
			"store_error":  st.LastError,
		},
	}
}

// watchReload loads the configuration on every reload signal and hands it to the capture loop.
func (a *agent) watchReload(ctx context.Context) {
	if a.opts.Reload == nil || a.opts.Load == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.opts.Reload:
			notifier{a.log}.send(daemon.SdNotifyReloading)
			cfg, err := a.opts.Load()
			if err != nil {
				a.log.Error("reload: configuration rejected, keeping the current one", "err", err)
				notifier{a.log}.send(daemon.SdNotifyReady)
				continue
			}
			a.mu.Lock()
			a.pending = &cfg
			if a.wake != nil {
				a.wake()
			}
			a.mu.Unlock()
		}
	}
}

// applyPending applies a reloaded configuration between frames: log level, thresholds and
// snapshots at once; a new camera or model is started first and swapped in only if it works.
// Store, MQTT and device changes need a restart.
func (a *agent) applyPending(ctx context.Context) {
	a.mu.Lock()
	next := a.pending
	a.pending = nil
	a.mu.Unlock()
	if next == nil {
		return
	}
	defer notifier{a.log}.send(daemon.SdNotifyReady)
	old := a.cfg
	if a.opts.LogLevel != nil {
		a.opts.LogLevel.Set(parseLevel(next.Log.Level))
	}
	applied := []string{"log", "snapshot", "model.top_k", "model.score_threshold"}
	a.cfg.Log, a.cfg.Snapshot = next.Log, next.Snapshot
	a.cfg.Model.TopK, a.cfg.Model.ScoreThreshold = next.Model.TopK, next.Model.ScoreThreshold

	if !reflect.DeepEqual(next.Camera, old.Camera) {
		if src, err := a.openCamera(ctx, next.Camera); err != nil {
			a.log.Error("reload: new camera source failed, keeping the current one", "err", err)
		} else {
			a.src.Close()
			a.src, a.cfg.Camera = src, next.Camera
			applied = append(applied, "camera")
		}
	}
	oldModel, newModel := old.Model, next.Model
	oldModel.TopK, oldModel.ScoreThreshold = newModel.TopK, newModel.ScoreThreshold
	if !reflect.DeepEqual(oldModel, newModel) {
		if m, err := loadModel(next.Model); err != nil {
			a.log.Error("reload: new model failed, keeping the current one", "err", err)
		} else {
			a.model.close()
			a.model, a.cfg.Model = m, next.Model
			a.modelRef.Store(&m.ref)
			applied = append(applied, "model")
		}
	}
	var restart []string
	for _, s := range []struct {
		name     string
		old, new any
	}{{"device", old.Device, next.Device}, {"store", old.Store, next.Store}, {"mqtt", old.MQTT, next.MQTT}, {"state_dir", old.StateDir, next.StateDir}} {
		if !reflect.DeepEqual(s.old, s.new) {
			restart = append(restart, s.name)
		}
	}
	a.log.Info("configuration reloaded", "applied", applied)
	if len(restart) > 0 {
		a.log.Warn("reload: these settings changed but take effect only after a restart", "sections", restart)
	}
}
