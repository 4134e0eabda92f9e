package ota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/edge-agent/edge-agent/sync"
)

// Defaults applied by Open to zero Config fields.
const (
	DefaultTopicPrefix       = "edge"
	DefaultMaxModelBytes     = 64 << 20
	DefaultReserveBytes      = 64 << 20
	DefaultHealthFrames      = 10
	DefaultHealthTimeout     = 2 * time.Minute
	DefaultHealthMaxRestarts = 1
	DefaultShadowTimeout     = 10 * time.Minute
	DefaultStallTimeout      = time.Hour
	DefaultRequestWindow     = 32
	DefaultRequestIdle       = 2 * time.Second
	DefaultRequestBackoffMax = time.Minute
)

// Config configures an Updater. DeviceID, StateDir and Base.Path are required.
type Config struct {
	DeviceID string
	// Groups are the device's groups (device.groups): it takes updates addressed to any of them.
	Groups      []string
	TopicPrefix string
	// StateDir holds ota.db and the model store, models/<sha256>.tflite.
	StateDir string
	// TrustedKeys verify manifests (ota.trusted_keys); several allow key rotation. With none,
	// OTA is off: no update topic is subscribed and the status says so.
	TrustedKeys []PublicKey
	// Base is the model of the configuration (model.path and its name, version and labels).
	// It is active until an update installs another, and the last resort when none loads.
	// Changing its path in the configuration makes it active again.
	Base Model
	// MaxModelBytes refuses larger models (ota.max_model_bytes).
	MaxModelBytes int64
	// ReserveBytes is the free space a transfer must leave on the state directory's file system,
	// so that the outbox keeps room; negative means none.
	ReserveBytes int64
	// HealthFrames and HealthTimeout are the health window (ota.health_frames,
	// ota.health_timeout): an activated model must infer HealthFrames frames without an error
	// within HealthTimeout to be committed, or the previous model is restored. A manifest may
	// override them.
	HealthFrames  int
	HealthTimeout time.Duration
	// HealthMaxRestarts is how many agent restarts a health window survives; one more rolls the
	// model back (a model that crashes the agent must not keep it in a restart loop). Negative
	// means none.
	HealthMaxRestarts int
	// ShadowTimeout bounds a shadow run; a candidate that has not seen its frames by then is
	// refused.
	ShadowTimeout time.Duration
	// StallTimeout refuses a transfer that received no chunk for this long while connected
	// (ota.stall_timeout). Time offline does not count.
	StallTimeout time.Duration
	// RequestWindow is the most chunks one request asks for.
	RequestWindow int
	// RequestIdle is how long the device lets chunks stop arriving (a push's broadcast) before
	// it asks for the missing ones; RequestBackoffMax caps the wait between unanswered requests.
	RequestIdle       time.Duration
	RequestBackoffMax time.Duration
	Logger            *slog.Logger

	crash func(point string) // tests: called at each crash point
}

// Validator is implemented by the agent: Validate checks that m loads with every op supported,
// that the camera pipeline can feed its input and decode its output for the configured task,
// and runs one inference. It must not disturb the running model. Its error is the reason
// reported after "validate: ".
type Validator interface {
	Validate(ctx context.Context, m Model) error
}

// Activator is implemented by the agent: Activate swaps the running model for m between two
// frames and returns once the capture loop uses it. On error the running model must be the one
// from before the call.
type Activator interface {
	Activate(ctx context.Context, m Model) error
}

// Runtime is the agent's side of an update.
type Runtime interface {
	Validator
	Activator
}

// Shadower is implemented by an agent that can run a candidate beside the active model. After
// StartShadow, the agent runs m on some live frames, at a rate that keeps the pipeline's frame
// rate, and reports each pair of results with Updater.ShadowFrame; StopShadow releases m.
type Shadower interface {
	StartShadow(ctx context.Context, m Model) error
	StopShadow()
}

// Publisher publishes a message; sync.Client implements it.
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error
}

// Updater is the device side of OTA. Open it before loading the model, load Model(), then
// start Run with the MQTT client. Its methods are safe for concurrent use.
type Updater struct {
	cfg       Config
	rt        Runtime
	log       *slog.Logger
	modelsDir string

	// mu is held by Run while it handles an event, and by Model and LoadFailed.
	mu     gosync.Mutex
	db     *stateDB
	reg    *registry
	man    *Manifest // the update in progress, parsed
	closed bool

	// transfer state, owned by Run
	have        []bool
	haveN       int
	bad         map[int]int
	badTotal    int
	dups        uint64
	foreign     uint64
	lastChunk   time.Time
	lastProgess time.Time
	nextReq     time.Time
	reqFails    int
	outstanding map[int]bool
	lastPublish time.Time
	statusDirty bool // a progress status was held back
	connected   bool
	pending     []byte // a manifest that waits for the health window to end

	shadow     *shadowRun
	shadowFig  *ShadowFigures // of the current or last shadow run of the update in progress
	windowDone bool           // the chunks of the last request have all arrived
	healthNeed atomic.Int64   // frames the health window needs
	healthDue  time.Time

	// inputs from other goroutines
	manifests gosync.Mutex
	manQueue  map[string][]byte // topic -> latest manifest payload not yet handled
	manWake   chan struct{}
	chunks    chan []byte
	shadowCh  chan ShadowSample
	connWake  chan struct{}
	isConn    atomic.Bool
	connGen   atomic.Uint64 // counts connections
	seenGen   uint64        // the connection Run last handled
	trialSHA  atomic.Pointer[string]
	healthOK  atomic.Int64
	healthErr atomic.Pointer[string]
	frameWake chan struct{}
	dropped   atomic.Uint64

	recent []string // digests of envelopes rejected before verification, not reported again

	view atomic.Pointer[Status]
	out  *statusOut
}

// Open opens (or creates) the OTA state in cfg.StateDir and recovers from any interruption: an
// update that was verifying, shadowing or in its health window resumes or is concluded, and
// Model returns the one model to load. A damaged ota.db is moved aside; the model files and
// models/registry.json still tell which model was active.
func Open(cfg Config, rt Runtime) (*Updater, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if rt == nil {
		return nil, errors.New("ota: nil runtime")
	}
	u := &Updater{cfg: cfg, rt: rt, log: cfg.Logger.With("component", "ota"),
		modelsDir: filepath.Join(cfg.StateDir, "models"),
		manQueue:  map[string][]byte{}, manWake: make(chan struct{}, 1),
		chunks: make(chan []byte, 32), shadowCh: make(chan ShadowSample, 16), connWake: make(chan struct{}, 1),
		frameWake: make(chan struct{}, 1), bad: map[int]int{}, outstanding: map[int]bool{}}
	if err := os.MkdirAll(u.modelsDir, 0o750); err != nil {
		return nil, fmt.Errorf("ota: model store: %w", err)
	}
	base := cfg.Base
	if base.SHA256 == "" {
		// A missing configured model must not keep an installed one from running: the agent
		// finds out when it loads it (LoadFailed).
		if base.SHA256, err = FileSHA256(base.Path); err != nil {
			u.log.Warn("the configured model cannot be read", "path", base.Path, "err", err)
		}
	}
	if base.Name == "" {
		base.Name = strings.TrimSuffix(filepath.Base(base.Path), filepath.Ext(base.Path))
	}
	u.cfg.Base = base

	path := filepath.Join(cfg.StateDir, "ota.db")
	db, err := openStateDB(path, u.log)
	var recovered *mirror
	damaged := errors.Is(err, errDamaged)
	if damaged {
		aside, merr := moveAside(path)
		if merr != nil {
			return nil, fmt.Errorf("ota: %w; moving it aside failed: %w", err, merr)
		}
		u.log.Error("OTA state damaged; moved aside, continuing with the model files in the store", "err", err, "moved_to", aside)
		if recovered, merr = readMirror(u.modelsDir); merr != nil && !errors.Is(merr, os.ErrNotExist) {
			u.log.Warn("model store registry unreadable; using the configured model", "err", merr)
		}
		db, err = openStateDB(path, u.log)
	}
	if err != nil {
		return nil, err
	}
	u.db = db
	reg, err := db.loadRegistry()
	if errors.Is(err, errDamaged) {
		// Readable file, unreadable registry: start the registry again from the mirror.
		u.log.Error("OTA registry damaged; continuing with the model files in the store", "err", err)
		recovered, _ = readMirror(u.modelsDir)
		reg, err, damaged = nil, nil, true
	}
	if err != nil {
		_ = db.close()
		return nil, err
	}
	if reg == nil {
		reg = u.newRegistry(recovered)
		if damaged {
			reg.Last = &outcome{State: StateRejected, Check: CheckDisk, At: time.Now().UTC(),
				Reason: "disk: the OTA state was damaged and has been reset; an update in progress was abandoned"}
		}
	}
	u.reg = reg
	if err := u.recover(); err != nil {
		_ = db.close()
		return nil, err
	}
	u.out = newStatusOut(u)
	u.refreshView()
	return u, nil
}

func (c Config) withDefaults() (Config, error) {
	if !ValidName(c.DeviceID) {
		return c, fmt.Errorf("ota: device id %q is not 1-64 of A-Z a-z 0-9 _ . -", c.DeviceID)
	}
	groups := slices.Clone(c.Groups)
	slices.Sort(groups)
	c.Groups = slices.Compact(groups)
	for _, g := range c.Groups {
		if !ValidName(g) {
			return c, fmt.Errorf("ota: group %q is not 1-64 of A-Z a-z 0-9 _ . -", g)
		}
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	if c.StateDir == "" {
		return c, errors.New("ota: no state directory")
	}
	if c.Base.Path == "" {
		return c, errors.New("ota: no base model (model.path)")
	}
	if c.MaxModelBytes <= 0 {
		c.MaxModelBytes = DefaultMaxModelBytes
	}
	if c.ReserveBytes == 0 {
		c.ReserveBytes = DefaultReserveBytes
	}
	c.ReserveBytes = max(c.ReserveBytes, 0)
	if c.HealthFrames <= 0 {
		c.HealthFrames = DefaultHealthFrames
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = DefaultHealthTimeout
	}
	if c.HealthMaxRestarts == 0 {
		c.HealthMaxRestarts = DefaultHealthMaxRestarts
	}
	c.HealthMaxRestarts = max(c.HealthMaxRestarts, 0)
	if c.ShadowTimeout <= 0 {
		c.ShadowTimeout = DefaultShadowTimeout
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.RequestWindow <= 0 {
		c.RequestWindow = DefaultRequestWindow
	}
	c.RequestWindow = min(c.RequestWindow, MaxChunkCount)
	if c.RequestIdle <= 0 {
		c.RequestIdle = DefaultRequestIdle
	}
	if c.RequestBackoffMax <= 0 {
		c.RequestBackoffMax = DefaultRequestBackoffMax
	}
	c.RequestBackoffMax = max(c.RequestBackoffMax, c.RequestIdle)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// newRegistry starts a registry: the base model active, or what the mirror of a damaged
// registry says, for the entries whose files are still intact.
func (u *Updater) newRegistry(m *mirror) *registry {
	base := u.baseEntry()
	reg := &registry{V: 1, Base: base, Active: base}
	if m == nil {
		return reg
	}
	intact := func(e *entry) *entry {
		if e == nil || e.State == entryBase {
			return nil
		}
		if sum, err := FileSHA256(e.Path); err != nil || sum != e.SHA256 {
			u.log.Warn("model in the store is missing or damaged", "path", e.Path, "err", err)
			return nil
		}
		return e
	}
	if a := intact(m.Active); a != nil && m.Base != nil && m.Base.Path == base.Path {
		a.State = entryCommitted
		reg.Active = a
		if p := intact(m.Previous); p != nil {
			reg.Previous = p
		} else if m.Previous != nil && m.Previous.State == entryBase {
			reg.Previous = base
		}
	}
	return reg
}

func (u *Updater) baseEntry() *entry {
	b := u.cfg.Base
	return &entry{Name: b.Name, Version: b.Version, SHA256: b.SHA256, Path: b.Path, LabelsPath: b.LabelsPath, State: entryBase}
}

// recover reconciles the registry with the configuration and the files, and concludes or
// prepares the update in progress. It runs in Open, before the agent loads a model.
func (u *Updater) recover() error {
	reg := u.reg
	base := u.baseEntry()
	switch {
	case reg.Base == nil || reg.Base.Path != base.Path:
		// model.path changed in the configuration: that is the operator's choice of model.
		if reg.Base != nil && reg.Active.State != entryBase {
			u.log.Warn("model.path changed in the configuration; it replaces the model installed by OTA",
				"path", base.Path, "ota_model", reg.Active.Name, "ota_version", reg.Active.Version)
		}
		reg.Update = nil // gcFiles below removes its files, dropStaleChunks its chunks
		reg.Base, reg.Active, reg.Previous = base, base, nil
	default:
		reg.Base = base // name, version, labels or contents may have changed in place
		if reg.Active.State == entryBase {
			reg.Active = base
		}
		if reg.Previous != nil && reg.Previous.State == entryBase {
			reg.Previous = base
		}
	}

	if up := reg.Update; up != nil {
		m, err := OpenEnvelope(up.Envelope, u.cfg.TrustedKeys)
		switch {
		case err != nil:
			// The key was removed from ota.trusted_keys since: the update is no longer trusted.
			u.concludeAtStart(reject(CheckSignature, "no longer trusted: %v", err))
		default:
			u.man = m
			u.shadowFig = up.Shadow
			if err := u.recoverPhase(); err != nil {
				return err
			}
		}
	}
	// The active model's file must be intact; otherwise fall back.
	for reg.Active.State != entryBase {
		sum, err := FileSHA256(reg.Active.Path)
		if err == nil && sum == reg.Active.SHA256 {
			break
		}
		u.log.Error("active model file missing or damaged; falling back", "path", reg.Active.Path, "err", err)
		u.fallBack(fmt.Sprintf("active model file missing or damaged: %v", errOr(err, "sha256 mismatch")))
	}
	u.gcFiles()
	if err := u.db.dropStaleChunks(u.transferKey()); err != nil {
		u.log.Warn("dropping stale chunks", "err", err)
	}
	return u.persist()
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// recoverPhase prepares the update found in the registry at start.
func (u *Updater) recoverPhase() error {
	up := u.reg.Update
	switch up.Phase {
	case phaseReceiving:
		return u.loadTransfer()
	case phaseVerifying:
		// Run verifies again; the chunks are still stored.
		return nil
	case phaseShadow:
		if up.Candidate == nil || !fileIntact(up.Candidate) {
			up.Phase, up.Candidate = phaseVerifying, nil
		}
		return nil
	case phaseHealth:
		up.HealthRestarts++
		if up.HealthRestarts > u.cfg.HealthMaxRestarts {
			u.rollbackRegistry(reject(CheckHealth, "the agent restarted %d times during the health window", up.HealthRestarts))
			return nil
		}
		up.HealthStart = time.Now().UTC()
		u.log.Warn("restarted during the health window of a new model; the window starts again",
			"model", u.reg.Active.Name, "version", u.reg.Active.Version, "restarts", up.HealthRestarts)
		return nil
	}
	u.concludeAtStart(reject(CheckManifest, "unknown update phase %q in the registry", up.Phase))
	return nil
}

func fileIntact(e *entry) bool {
	sum, err := FileSHA256(e.Path)
	return err == nil && sum == e.SHA256
}

// concludeAtStart ends the update in progress with a rejection before the agent has loaded
// anything; a model in its health window is rolled back.
func (u *Updater) concludeAtStart(r *Rejection) {
	up := u.reg.Update
	if up == nil {
		return
	}
	if up.Phase == phaseHealth {
		u.rollbackRegistry(r)
		return
	}
	if u.man != nil {
		u.finishRejected(r)
		return
	}
	u.log.Warn("update in progress abandoned", "check", r.Check, "reason", r.Err)
	u.reg.Update = nil
	u.reg.Last = &outcome{State: StateRejected, Check: r.Check, Reason: r.Error(), At: time.Now().UTC()}
	if err := u.db.dropChunks(); err != nil {
		u.log.Warn("dropping chunks", "err", err)
	}
}

// fallBack replaces an active model that cannot be used by the previous one, or the base.
func (u *Updater) fallBack(reason string) {
	reg := u.reg
	failed := reg.Active
	if reg.Update != nil && reg.Update.Phase == phaseHealth {
		u.rollbackRegistry(reject(CheckHealth, "%s", reason))
		return
	}
	switch {
	case reg.Previous != nil && reg.Previous.SHA256 != failed.SHA256:
		reg.Active, reg.Previous = reg.Previous, nil
	default:
		reg.Active, reg.Previous = reg.Base, nil
	}
	reg.Last = &outcome{State: StateRolledBack, Check: CheckHealth, Reason: reason, Name: failed.Name,
		Version: failed.Version, SHA256: failed.SHA256, Manifest: failed.Manifest, At: time.Now().UTC()}
}

// Model returns the model the agent must load now.
func (u *Updater) Model() Model {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reg.Active.model()
}

// LoadFailed tells the updater that the agent could not load m, the model Model returned, and
// returns the model to try instead: a model in its health window is rolled back, a committed
// one gives way to the previous model, then to the base model. Call it at start, before Run.
// It returns ErrNoModel when even the base model failed.
func (u *Updater) LoadFailed(m Model, loadErr error) (Model, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return Model{}, ErrClosed
	}
	a := u.reg.Active
	if a.SHA256 != m.SHA256 || a.Path != m.Path {
		return a.model(), nil
	}
	if a.State == entryBase {
		return Model{}, fmt.Errorf("%w: the configured model %s does not load: %v", ErrNoModel, a.Path, loadErr)
	}
	u.log.Error("model does not load; falling back", "model", a.Name, "version", a.Version, "err", loadErr)
	u.fallBack(fmt.Sprintf("the model does not load: %v", loadErr))
	if err := u.persist(); err != nil {
		u.log.Error("saving the OTA registry", "err", err)
	}
	u.refreshView()
	return u.reg.Active.model(), nil
}

// Rebase tells the updater that the configured model changed while the agent runs (a reload
// with a new model.path, applied while the configured model was running): it becomes the base
// model, and the active one if the base was active. Call it outside the Runtime's methods.
func (u *Updater) Rebase(base Model) {
	if base.SHA256 == "" {
		base.SHA256, _ = FileSHA256(base.Path)
	}
	if base.Name == "" {
		base.Name = strings.TrimSuffix(filepath.Base(base.Path), filepath.Ext(base.Path))
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	u.cfg.Base = base
	e := u.baseEntry()
	reg := u.reg
	reg.Base = e
	if reg.Active.State == entryBase {
		reg.Active = e
	}
	if reg.Previous != nil && reg.Previous.State == entryBase {
		reg.Previous = e
	}
	u.save()
	u.publishStatus(true)
}

// Subscriptions returns the update topics to subscribe on every connection: the device's own
// and its groups'. It is empty when OTA is off.
func (u *Updater) Subscriptions() []sync.Subscription {
	if len(u.cfg.TrustedKeys) == 0 {
		return nil
	}
	filters := []string{DeviceTopic(u.cfg.TopicPrefix, u.cfg.DeviceID, "+")}
	for _, g := range u.cfg.Groups {
		filters = append(filters, GroupTopic(u.cfg.TopicPrefix, g, "+"))
	}
	subs := make([]sync.Subscription, len(filters))
	for i, f := range filters {
		subs[i] = sync.Subscription{Filter: f, QoS: 1, Handler: u.receive}
	}
	return subs
}

// receive runs on a subscription's goroutine. Manifests are kept per topic (the latest wins)
// and never wait; chunks queue for Run.
func (u *Updater) receive(ctx context.Context, m sync.Message) {
	switch {
	case strings.HasSuffix(m.Topic, "/"+topicManifest):
		u.manifests.Lock()
		u.manQueue[m.Topic] = m.Payload
		u.manifests.Unlock()
		signal(u.manWake)
	case strings.HasSuffix(m.Topic, "/"+topicChunk):
		// Wait a little when Run is behind (a broadcast outruns the disk): the subscription's own
		// queue then holds what follows. A chunk dropped after that is requested again later.
		select {
		case u.chunks <- m.Payload:
			return
		default:
		}
		t := time.NewTimer(2 * time.Second)
		defer t.Stop()
		select {
		case u.chunks <- m.Payload:
		case <-t.C:
			u.dropped.Add(1)
		case <-ctx.Done():
		}
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// OnConnect is for sync.Config.OnConnect: it tells the updater a connection is up (it
// republishes the status and asks for missing chunks) until ctx ends with the connection.
func (u *Updater) OnConnect(ctx context.Context) {
	u.connGen.Add(1)
	u.isConn.Store(true)
	signal(u.connWake)
	<-ctx.Done()
	u.isConn.Store(false)
	signal(u.connWake)
}

// FrameDone reports one frame of the capture loop: the SHA-256 of the model that ran it and the
// inference or decoding error, if any. It is cheap and never blocks; the health window counts
// the frames of the model it watches.
func (u *Updater) FrameDone(sha string, err error) {
	p := u.trialSHA.Load()
	if p == nil || *p != sha {
		return
	}
	if err != nil {
		msg := err.Error()
		u.healthErr.CompareAndSwap(nil, &msg)
		signal(u.frameWake)
		return
	}
	if u.healthOK.Add(1) >= u.healthNeed.Load() {
		signal(u.frameWake)
	}
}

// ShadowFrame reports one frame run by both the active model and the shadow candidate. It
// never blocks; samples beyond what the updater can take are dropped.
func (u *Updater) ShadowFrame(s ShadowSample) {
	select {
	case u.shadowCh <- s:
	default:
	}
}

// Run handles updates until ctx ends, publishing with pub (the agent's sync.Client). It
// resumes an update found at Open.
func (u *Updater) Run(ctx context.Context, pub Publisher) error {
	if pub == nil {
		return errors.New("ota: nil publisher")
	}
	var wg gosync.WaitGroup
	defer wg.Wait()
	octx, stopOut := context.WithCancel(ctx)
	defer stopOut()
	wg.Go(func() { u.out.run(octx, pub) })

	u.mu.Lock()
	u.lastProgess = time.Now()
	u.resume(ctx)
	u.mu.Unlock()

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			u.mu.Lock()
			if u.shadow != nil {
				u.stopShadow()
			}
			u.mu.Unlock()
			return nil
		case <-u.manWake:
			u.locked(func() { u.handleManifests(ctx) })
		case p := <-u.chunks:
			u.locked(func() {
				u.handleManifests(ctx) // a manifest first, so its chunks are not foreign
				u.handleChunks(ctx, p)
			})
		case s := <-u.shadowCh:
			u.locked(func() { u.shadowSample(ctx, s) })
		case <-u.connWake:
			u.locked(u.connChanged)
		case <-u.frameWake:
			u.locked(func() { u.checkHealth(ctx) })
		case <-tick.C:
			u.locked(func() { u.tick(ctx) })
		}
	}
}

func (u *Updater) locked(fn func()) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	fn()
}

// resume continues the update found at Open.
func (u *Updater) resume(ctx context.Context) {
	up := u.reg.Update
	if up == nil {
		return
	}
	switch up.Phase {
	case phaseReceiving:
		if u.haveN == u.man.ChunkCount { // stopped between storing the last chunk and verifying
			up.Phase = phaseVerifying
			u.save()
			u.verify(ctx)
			return
		}
		u.publishStatus(true)
	case phaseVerifying:
		u.verify(ctx)
	case phaseShadow:
		u.startShadow(ctx)
	case phaseHealth:
		// The agent loaded the model in its health window at start (Model).
		u.armHealth()
		u.publishStatus(true)
	}
}

// connChanged notes a connection made or lost; a new connection (even one that replaced the
// last before Run noticed) republishes the status and resets the request backoff.
func (u *Updater) connChanged() {
	c, gen := u.isConn.Load(), u.connGen.Load()
	fresh := gen != u.seenGen
	u.seenGen = gen
	u.connected = c
	if !c || !fresh {
		return
	}
	u.lastProgess = time.Now() // the stall clock runs only while connected
	u.nextReq = time.Now()
	u.reqFails = 0
	clear(u.outstanding)
	u.publishStatus(true)
}

func (u *Updater) tick(ctx context.Context) {
	if u.statusDirty && time.Since(u.lastPublish) >= time.Second {
		u.publishStatus(true)
	}
	up := u.reg.Update
	if up == nil {
		return
	}
	switch up.Phase {
	case phaseReceiving:
		u.requestMissing()
	case phaseShadow:
		if u.shadow != nil && time.Now().After(u.shadow.deadline) {
			u.shadowTimeout()
		}
	case phaseHealth:
		u.checkHealth(ctx)
	}
}

// Close releases ota.db. Run must have returned.
func (u *Updater) Close() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil
	}
	u.closed = true
	return u.db.close()
}

// persist saves the registry, and its mirror when the models changed.
func (u *Updater) persist() error {
	if err := u.db.saveRegistry(u.reg); err != nil {
		return fmt.Errorf("ota: save registry: %w", err)
	}
	if err := writeMirror(u.modelsDir, u.reg); err != nil {
		u.log.Warn("writing the model store registry", "err", err)
	}
	return nil
}

// save persists and logs a failure: the in-memory state goes on, and the next save retries.
func (u *Updater) save() {
	if err := u.persist(); err != nil {
		u.log.Error("saving OTA state", "err", err)
	}
}

func (u *Updater) crash(point string) {
	if u.cfg.crash != nil {
		u.cfg.crash(point)
	}
}

// backoff returns the wait after n unanswered requests: RequestIdle doubled n times, capped,
// with ±20% jitter.
func (u *Updater) backoff(n int) time.Duration {
	d := u.cfg.RequestIdle
	for i := 0; i < n && d < u.cfg.RequestBackoffMax; i++ {
		d *= 2
	}
	d = min(d, u.cfg.RequestBackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
