package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/hass"
	"github.com/edge-agent/edge-agent/httpapi"
	"github.com/edge-agent/edge-agent/metrics"
	"github.com/edge-agent/edge-agent/ota"
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
	// returns the new configuration. The reload command uses Load too.
	Reload <-chan struct{}
	Load   func() (Config, error)
	// OnHTTP, when set, is called with the status page's address once the HTTP server listens.
	OnHTTP func(url string)
}

// Bounds of the shutdown. systemd's TimeoutStopSec (30 s in the shipped unit) must cover the
// frame in flight, the backlog grace, the offline status and closing the store; closing the camera
// runs beside them with its own bound.
const (
	// backlogGrace bounds how long a stopping agent waits for the broker to acknowledge the backlog.
	backlogGrace = 5 * time.Second
	// cameraCloseTimeout bounds the wait for the camera to close. A network stream that hangs
	// inside FFmpeg cannot be interrupted (it returns after FFmpeg's own 30 s read timeout); Run
	// then stops waiting for it and the process exit ends the read.
	cameraCloseTimeout = 10 * time.Second
)

// agent is one run of the pipeline:
//
//	camera.Source --frame--> captureLoop (preprocess, infer, decode) --Record--> recorder
//	    --> store.DB (durable outbox) --> sync.Client (MQTT)
//
// The capture loop owns the source and the model and is the only goroutine that touches them;
// other goroutines hand it work between frames (betweenFrames). The recorder owns the appends;
// the sync client drains the outbox on its own.
type agent struct {
	log     *slog.Logger
	opts    Options
	started time.Time

	// The parts, in start order. shutdown stops them in its one order; a nil part never started.
	db      *store.DB
	broker  *sync.EmbeddedBroker
	mqtt    *sync.Client
	mqttRun *group // the client's Run and its start-up report
	events  *group // the event publisher
	// ota is the model updater (opened before the model is loaded, it names the model to run);
	// otaRun runs it while MQTT is on; otaRT is the agent's side of an update.
	ota    *ota.Updater
	otaRun *group
	otaRT  *otaRuntime
	// recorder appends records; it stops when records is closed.
	records     chan *Record
	recorderEnd chan struct{}
	watchers    *group           // the systemd watchdog and the reload watcher
	closers     gosync.WaitGroup // camera sources being closed (after a reload, at shutdown)
	// The ways to look at the device: Prometheus metrics, the HTTP server with its predictor,
	// Home Assistant discovery (nil when off).
	metrics *metrics.Metrics
	http    *httpapi.Server
	predict *predictor
	ha      *hass.Discovery

	// cfg, src, model and shadow belong to the capture loop.
	cfg    Config
	src    camera.Source
	model  *model
	shadow *shadow // a candidate model run beside the active one (OTA shadow mode), or nil
	// fileModel is the model section as configured (the OTA base); cfg.Model names the model
	// running, which an update may have replaced.
	fileModel ModelConfig

	mu       gosync.Mutex       // guards todo, wake and ended
	todo     []job              // work for the capture loop, between two frames
	wake     context.CancelFunc // interrupts the capture loop's wait for a frame; nil when not waiting
	ended    bool               // the capture loop has returned: betweenFrames refuses work
	loopDone chan struct{}      // closed when the capture loop has returned

	health health
	mot    motionState // motion gating and camera health (motion.go)
	evq    chan event
	// snap is the pending snapshot command, answered by the capture loop on the next frame.
	snap atomic.Pointer[snapshotRequest]
	// counters for the status payload
	frames     atomic.Uint64
	storeDrops atomic.Uint64
	camState   atomic.Value // string
	camCode    atomic.Int32 // camera.State, for the metrics
	camErr     atomic.Value // string: why the camera is not connected
	inferNanos atomic.Int64 // last frame's inference time
	modelRef   atomic.Pointer[ModelRef]
	modelCfg   atomic.Pointer[ModelConfig] // the running model's settings, for the predictor
	// runtime is the running model's runtime choice, for the status, the metrics, the predictor
	// and a reload (which reuse it rather than measure beside the pipeline).
	runtime    atomic.Pointer[runtimeChoice]
	recovered  atomic.Pointer[store.Recovery]
	fps        fpsMeter
	firstFrame bool   // the capture loop has processed a frame
	lastSeq    uint64 // the capture loop's previous frame's Seq (0 after a new source)
}

// job is work handed to the capture loop. running is false when the loop ended before it could
// run it: the job then releases what it holds and reports that it was not applied.
type job func(running bool)

type event struct {
	kind   string
	fields map[string]any
}

// group is goroutines that stop together: stop cancels their context and waits for them all.
type group struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     gosync.WaitGroup
}

func newGroup(parent context.Context) *group {
	ctx, cancel := context.WithCancel(parent)
	return &group{ctx: ctx, cancel: cancel}
}

func (g *group) Go(f func(ctx context.Context)) { g.wg.Go(func() { f(g.ctx) }) }

func (g *group) stop() {
	if g != nil {
		g.cancel()
		g.wg.Wait()
	}
}

// Run runs the agent until ctx is done or, for a video file that does not loop, until the file
// ends, and returns once everything it started has stopped. It first runs the checks of Check;
// their errors are *ConfigError (and only those are). Other errors say which part could not
// start (store, embedded broker) or why capture stopped.
func Run(ctx context.Context, cfg Config, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &agent{log: opts.Logger, opts: opts, started: time.Now(), fileModel: cfg.Model,
		records: make(chan *Record, 64), evq: make(chan event, 32), loopDone: make(chan struct{})}
	p, err := a.prepareRun(cfg)
	if err != nil {
		return err
	}
	a.cfg, a.model = p.cfg, p.model
	a.camState.Store("connecting")
	a.camCode.Store(int32(camera.StateConnecting))
	a.camErr.Store("")
	a.modelRef.Store(&a.model.ref)
	a.modelChanged()
	a.setMotion(a.cfg, p.motion)
	p.motion = nil
	defer a.shutdown()
	if err := a.start(ctx, p); err != nil {
		a.runTodo(true)
		close(a.loopDone)
		return err
	}
	// Every part runs: tell systemd, even if the camera is still missing (the agent waits for it
	// and reports it; the watchdog covers a pipeline that stalls).
	notify(a.log, daemon.SdNotifyReady)
	return a.captureLoop(ctx)
}

// start starts the parts in dependency order: store, MQTT (embedded broker, client, events),
// recorder, camera, watchers. The parts outlive ctx: shutdown stops them, in order, once the
// capture loop is done.
func (a *agent) start(ctx context.Context, p *prepared) error {
	cfg := a.cfg
	a.log.Info("model loaded", "path", cfg.Model.Path, "task", a.model.dec.Task, "sha256", a.model.ref.SHA256,
		"input", a.model.input.Shape(), "type", a.model.input.Type(), "runtime", a.model.choice)
	a.logChoice(a.model)
	if err := a.openStore(); err != nil {
		return err
	}
	bg := context.WithoutCancel(ctx)
	a.startMetrics()
	if cfg.MQTT.Enabled {
		if err := a.newDiscovery(); err != nil {
			return err
		}
		if err := a.startMQTT(bg, p.mqtt); err != nil {
			return err
		}
	}
	a.events = newGroup(bg)
	a.events.Go(a.publishEvents)
	a.recorderEnd = make(chan struct{})
	go func() {
		defer close(a.recorderEnd)
		a.record()
	}()
	if cfg.HTTP.Enabled {
		if err := a.startHTTP(); err != nil {
			return err
		}
	}
	src, err := a.openCamera(ctx, p.camera)
	if err != nil {
		return cfg.errorAt("camera.source", err)
	}
	a.src = src
	a.watchers = newGroup(ctx)
	a.watchers.Go(func(ctx context.Context) { watchdog(ctx, a.log, &a.health) })
	a.watchers.Go(a.watchReload)
	return nil
}

// openStore opens the outbox; a damaged file is moved aside and a fresh one started, so that a
// Pi whose SD card lost a page keeps working (see store.Options.RecoverCorrupt).
func (a *agent) openStore() error {
	c := a.cfg.Store
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o750); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	db, err := store.Open(c.Path, store.Options{
		MaxBytes:       int64(c.MaxBytes),
		MaxRecords:     c.MaxRecords,
		MaxAge:         c.MaxAge,
		MaxCommitDelay: commitDelay(c.CommitDelay),
		VerifyOnOpen:   true,
		RecoverCorrupt: true,
		Logger:         a.log.With("component", "store"),
	})
	if err != nil {
		return err // names the file
	}
	a.db = db
	if r := db.Recovered(); r != nil {
		a.recovered.Store(r)
		a.log.Error("store was damaged: moved aside and started afresh; sequence numbers continue above every one issued before",
			"moved_to", r.MovedTo, "cause", r.Cause, "next_seq", r.NextSeq)
		a.emit("warning", map[string]any{"warning": "store_recovered", "moved_to": r.MovedTo,
			"error": r.Cause.Error(), "next_seq": r.NextSeq})
	}
	return nil
}

// commitDelay maps the config's "0 = commit at once" to the store's negative value (its zero
// means the default).
func commitDelay(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// shutdown stops what start started, in the one order that keeps the agent's promises:
//
//  1. the capture loop has stopped after the frame in flight (Run's caller cancelled ctx, or
//     the file ended); the watchdog and reload watcher stop; the HTTP server stops (bounded by
//     httpShutdownTimeout, and after the prediction in flight) and its interpreter is released;
//  2. the camera starts closing, beside the rest, with its own bound (a hung stream must not
//     eat systemd's stop timeout);
//  3. the recorder stores what is queued;
//  4. the broker gets backlogGrace to acknowledge the backlog; events stop;
//  5. the MQTT client publishes offline (reason shutdown), waits for its PUBACK, disconnects;
//  6. the embedded broker stops, after its last subscriber got that status;
//  7. the camera has closed (or its bound passed), the model is released, the store closes.
func (a *agent) shutdown() {
	notify(a.log, daemon.SdNotifyStopping)
	a.watchers.stop()
	a.stopHTTP()
	a.otaRun.stop() // the capture loop has ended: no model swap can happen any more
	deadline := time.Now().Add(cameraCloseTimeout)
	if a.src != nil {
		a.closeSource(a.src)
	}
	if a.recorderEnd != nil {
		close(a.records)
		<-a.recorderEnd
	}
	a.flush()
	a.events.stop()
	a.mqttRun.stop()
	if a.broker != nil {
		if err := a.broker.Close(); err != nil {
			a.log.Warn("closing the embedded MQTT broker", "err", err)
		}
	}
	a.waitSources(deadline)
	if a.shadow != nil {
		a.shadow.stop()
	}
	if a.ota != nil {
		if err := a.ota.Close(); err != nil {
			a.log.Error("closing the OTA state", "err", err)
		}
	}
	a.model.close()
	a.mot.parts.close()
	if a.db != nil {
		st := a.db.Stats()
		if err := a.db.Close(); err != nil {
			a.log.Error("closing store", "err", err)
		}
		a.log.Info("agent stopped", "frames", a.frames.Load(), "backlog", st.Records, "last_seq", st.LastSeq,
			"motion", a.motionStatus())
	}
}

// closeSource closes src in the background: Close waits for a read in progress, which a hung
// stream makes last up to FFmpeg's read timeout.
func (a *agent) closeSource(src camera.Source) {
	a.closers.Go(func() {
		if err := src.Close(); err != nil {
			a.log.Warn("closing camera", "err", err)
		}
	})
}

// waitSources waits for the sources being closed, until deadline.
func (a *agent) waitSources(deadline time.Time) {
	done := make(chan struct{})
	go func() {
		a.closers.Wait()
		close(done)
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		a.log.Warn("camera did not close in time (a read hangs in the backend); stopping without it",
			"waited", cameraCloseTimeout)
	}
}

// flush waits, up to backlogGrace, for the broker to acknowledge the backlog.
func (a *agent) flush() {
	if a.mqtt == nil || a.db == nil {
		return
	}
	deadline := time.Now().Add(backlogGrace)
	for a.db.Stats().Records > 0 && time.Now().Before(deadline) && a.mqtt.State() == sync.StateConnected {
		time.Sleep(20 * time.Millisecond)
	}
	if n := a.db.Stats().Records; n > 0 {
		a.log.Info("stopping with records not yet acknowledged; they are sent after the next start", "backlog", n)
	}
}

// betweenFrames queues fn for the capture loop, which runs it between two frames, and wakes the
// loop if it is waiting for a frame (a missing camera may keep it waiting for good). fn runs
// exactly once: with running false if the loop has ended.
func (a *agent) betweenFrames(fn job) {
	a.mu.Lock()
	if a.ended {
		a.mu.Unlock()
		fn(false)
		return
	}
	a.todo = append(a.todo, fn)
	if a.wake != nil {
		a.wake()
	}
	a.mu.Unlock()
}

// runTodo runs the work queued by betweenFrames; end marks the loop as ended first, so that no
// work is queued after the last call.
func (a *agent) runTodo(end bool) {
	a.mu.Lock()
	todo := a.todo
	a.todo = nil
	a.ended = a.ended || end
	a.mu.Unlock()
	for _, fn := range todo {
		fn(!end)
	}
}

// waitFrame waits for the next frame. Work queued meanwhile interrupts the wait: the check for it
// and the installation of wake happen under one lock, so no betweenFrames can slip in between and
// be missed.
func (a *agent) waitFrame(ctx context.Context) (f *camera.Frame, woken bool, err error) {
	nextCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	if len(a.todo) > 0 {
		a.mu.Unlock()
		return nil, true, nil
	}
	a.wake = cancel
	a.mu.Unlock()
	f, err = a.src.Next(nextCtx)
	a.mu.Lock()
	a.wake = nil
	a.mu.Unlock()
	if err != nil && nextCtx.Err() != nil && ctx.Err() == nil {
		return nil, true, nil
	}
	return f, false, err
}

// captureLoop takes frames until ctx is done or a non-looping file ends, running queued work
// between frames.
func (a *agent) captureLoop(ctx context.Context) error {
	defer close(a.loopDone)
	defer a.runTodo(true)
	for {
		a.runTodo(false)
		waitStart := time.Now()
		f, woken, err := a.waitFrame(ctx)
		switch {
		case woken:
		case err == nil:
			a.metrics.ObserveStage(metrics.StageCapture, time.Since(waitStart))
			a.process(ctx, f)
		case errors.Is(err, io.EOF):
			a.log.Info("video file ended")
			return nil
		case ctx.Err() != nil:
			return nil
		default:
			return err // the camera's errors say "camera:" already
		}
	}
}

// emit queues an event without blocking.
func (a *agent) emit(kind string, fields map[string]any) {
	select {
	case a.evq <- event{kind, fields}:
	default: // events are best effort; never stall the camera for them
	}
}

// cameraConfig is the camera's configuration with the agent's state callback.
func (a *agent) cameraConfig(c camera.Config) camera.Config {
	c.OnState = a.onCameraState
	return c
}

// onCameraState runs on the camera's reader goroutine (which logs the change itself): queue an
// event without blocking. The state published is the source's, or, while it is connected, "frozen" or "blank" when its
// picture is (motion.go).
func (a *agent) onCameraState(s camera.StateChange) {
	a.camCode.Store(int32(s.State))
	a.health.cameraWaiting.Store(s.State == camera.StateConnecting || s.State == camera.StateReconnecting)
	if s.State == camera.StateConnected {
		a.mot.camGen.Add(1)
	}
	fields := map[string]any{}
	if s.Err != nil {
		fields["error"] = s.Err.Error()
	}
	if s.State == camera.StateReconnecting {
		fields["attempt"], fields["retry_in_ms"] = s.Attempt, s.RetryIn.Milliseconds()
	}
	a.publishCamera(fields, func(v *camView) bool {
		v.src, v.source, v.srcErr = s.State, s.Source, ""
		if s.Err != nil && s.State != camera.StateConnected {
			v.srcErr = s.Err.Error()
		}
		return true
	})
}
