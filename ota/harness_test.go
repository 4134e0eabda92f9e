package ota

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
	"github.com/edge-agent/edge-agent/tflite"
)

// Real models from testdata (see testdata/models/README.md).
var (
	modelHelloFloat = filepath.Join("..", "testdata", "models", "tiny", "hello_world_float.tflite")
	modelHelloInt8  = filepath.Join("..", "testdata", "models", "tiny", "hello_world_int8.tflite")
	modelSin        = filepath.Join("..", "testdata", "models", "tiny", "sin_model.tflite")
	modelMobilenet  = filepath.Join("..", "testdata", "models", "classify_quant", "mobilenet_v1_0.25_224_quant.tflite")
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signer is an operator's key.
type signer struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

func newSigner(t testing.TB) signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer{priv, PublicKey{ID: KeyID(pub), Key: pub}}
}

// update builds and signs an update manifest for model.
func (s signer) update(t testing.TB, model []byte, o UpdateOptions) (*Manifest, []byte) {
	t.Helper()
	o.KeyID = s.pub.ID
	if o.Name == "" {
		o.Name = "test-model"
	}
	m, err := NewUpdate(model, o)
	if err != nil {
		t.Fatal(err)
	}
	return m, s.sign(t, m)
}

func (s signer) sign(t testing.TB, m *Manifest) []byte {
	t.Helper()
	m.KeyID = s.pub.ID
	env, err := Sign(m, s.priv)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// fakeRuntime stands in for the agent: Validate loads the model with the real TFLite runtime
// and runs it once; Activate switches the "running" model; a loop plays the capture loop,
// reporting a frame every few milliseconds (and shadow samples while a shadow runs).
type fakeRuntime struct {
	mu           gosync.Mutex
	u            *Updater
	current      Model
	activations  []string // SHA-256 of each model activated
	frameErr     map[string]error
	activateErr  map[string]error
	paused       bool
	shadow       *Model
	shadowSample func(n int) ShadowSample
	shadowFrames int
	validated    int
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{frameErr: map[string]error{}, activateErr: map[string]error{}}
}

func (r *fakeRuntime) Validate(ctx context.Context, m Model) error {
	r.mu.Lock()
	r.validated++
	r.mu.Unlock()
	return loadAndRun(m.Path)
}

// loadAndRun is the stand-in validator's check: load, build an interpreter (every op
// supported), one inference on a zero input.
func loadAndRun(path string) error {
	mdl, err := tflite.LoadFile(path)
	if err != nil {
		return err
	}
	ip, err := tflite.NewInterpreter(mdl, tflite.WithThreads(1))
	if err != nil {
		return err
	}
	defer ip.Close()
	return ip.Invoke()
}

func (r *fakeRuntime) Activate(ctx context.Context, m Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.activateErr[m.SHA256]; err != nil {
		return err
	}
	if err := loadAndRun(m.Path); err != nil {
		return err
	}
	r.current = m
	r.activations = append(r.activations, m.SHA256)
	return nil
}

func (r *fakeRuntime) StartShadow(ctx context.Context, m Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := loadAndRun(m.Path); err != nil {
		return err
	}
	r.shadow = &m
	return nil
}

func (r *fakeRuntime) StopShadow() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shadow = nil
}

func (r *fakeRuntime) running() Model {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

func (r *fakeRuntime) setPaused(p bool) {
	r.mu.Lock()
	r.paused = p
	r.mu.Unlock()
}

// loop reports a frame every 5 ms until ctx ends.
func (r *fakeRuntime) loop(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		cur, err, paused, shadow := r.current, r.frameErr[r.current.SHA256], r.paused, r.shadow
		var sample *ShadowSample
		if shadow != nil && r.shadowSample != nil && !paused {
			s := r.shadowSample(r.shadowFrames)
			r.shadowFrames++
			sample = &s
		}
		r.mu.Unlock()
		if paused {
			continue
		}
		r.u.FrameDone(cur.SHA256, err)
		if sample != nil {
			r.u.ShadowFrame(*sample)
		}
	}
}

// device is one simulated device: the real sync.Client over a real store.DB outbox, and the
// real Updater, with fakeRuntime as the agent.
type device struct {
	t      *testing.T
	cfg    Config
	broker string
	rt     *fakeRuntime
	u      *Updater
	db     *store.DB
	cl     *sync.Client
	cancel context.CancelFunc
	wg     gosync.WaitGroup
}

// deviceConfig returns a configuration with short timeouts for tests.
func deviceConfig(t *testing.T, id string, keys ...PublicKey) Config {
	return Config{
		DeviceID:      id,
		Groups:        []string{"lobby"},
		StateDir:      t.TempDir(),
		TrustedKeys:   keys,
		Base:          Model{Path: modelHelloFloat, Name: "hello", Version: "1.0"},
		HealthFrames:  5,
		HealthTimeout: 10 * time.Second,
		StallTimeout:  time.Minute,
		RequestIdle:   300 * time.Millisecond,
		ReserveBytes:  -1,
		Logger:        testLogger(t),
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("OTA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func startDevice(t *testing.T, broker string, cfg Config) *device {
	t.Helper()
	d := &device{t: t, cfg: cfg, broker: broker}
	d.start()
	t.Cleanup(d.stop)
	return d
}

// start opens the updater and loads its model as the agent would, then connects.
func (d *device) start() {
	t := d.t
	t.Helper()
	rt := newFakeRuntime()
	u, err := Open(d.cfg, rt)
	if err != nil {
		t.Fatal(err)
	}
	rt.u = u
	m := u.Model()
	for {
		if err := loadAndRun(m.Path); err == nil {
			break
		} else if m, err = u.LoadFailed(m, err); err != nil {
			t.Fatal(err)
		}
	}
	rt.current = m
	db, err := store.Open(filepath.Join(d.cfg.StateDir, "edge-agent.db"), store.Options{MaxCommitDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sync.New(sync.Config{
		Broker: d.broker, DeviceID: d.cfg.DeviceID, Verify: sync.VerifyOff,
		Subscriptions: u.Subscriptions(), OnConnect: u.OnConnect,
		Backoff: sync.Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
	}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.rt, d.u, d.db, d.cl, d.cancel = rt, u, db, cl, cancel
	d.wg.Go(func() { _ = cl.Run(ctx) })
	d.wg.Go(func() { _ = u.Run(ctx, cl) })
	d.wg.Go(func() { rt.loop(ctx) })
	waitFor(t, 10*time.Second, "the device to connect and subscribe", u.isConn.Load)
}

// stop ends the device's goroutines and closes its files, like a process exit.
func (d *device) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.wg.Wait()
	if err := d.u.Close(); err != nil {
		d.t.Errorf("close updater: %v", err)
	}
	if err := d.db.Close(); err != nil {
		d.t.Errorf("close store: %v", err)
	}
	d.cancel = nil
}

func (d *device) restart() {
	d.t.Helper()
	d.stop()
	d.start()
}

// waitState waits for the updater's status to reach state (about manifest, when set).
func (d *device) waitState(state, manifest string, timeout time.Duration) Status {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := d.u.Status()
		if s.State == state && (manifest == "" || (s.Update != nil && s.Update.Manifest == manifest)) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(s)
			d.t.Fatalf("device %s: state %s not reached within %s; status %s", d.cfg.DeviceID, state, timeout, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkOneValidModel checks what a restarted agent relies on: Model names an intact file of
// the SHA-256 it claims, which the runtime loads, and the fake agent runs it.
func (d *device) checkOneValidModel() Model {
	d.t.Helper()
	m := d.u.Model()
	sum, err := fileSHA256(m.Path)
	if err != nil || sum != m.SHA256 {
		d.t.Fatalf("active model %+v: file sha %s, %v", m, sum, err)
	}
	if err := loadAndRun(m.Path); err != nil {
		d.t.Fatalf("active model %s does not load: %v", m.Path, err)
	}
	if r := d.rt.running(); r.SHA256 != m.SHA256 {
		d.t.Fatalf("the agent runs %s, the registry says %s", r.SHA256, m.SHA256)
	}
	return m
}

// storeFiles lists the model store, without the registry mirror.
func (d *device) storeFiles() []string {
	ents, _ := os.ReadDir(filepath.Join(d.cfg.StateDir, "models"))
	var names []string
	for _, e := range ents {
		if e.Name() != "registry.json" {
			names = append(names, e.Name())
		}
	}
	return names
}

// operator publishes manifests and chunks and serves requests with a plain paho client, the way
// the operator tools do (the real ones are tested in ota/operator).
type operator struct {
	t      *testing.T
	c      mqtt.Client
	prefix string

	mu     gosync.Mutex
	served map[string]int // device -> chunks sent in answer to requests
	reqs   int
}

func newOperator(t *testing.T, broker string) *operator {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("op-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &operator{t: t, c: c, prefix: DefaultTopicPrefix, served: map[string]int{}}
}

func (o *operator) publish(topic string, retained bool, payload []byte) {
	o.t.Helper()
	tok := o.c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		o.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// offer publishes a manifest retained on topic and broadcasts the chunks for which send
// returns true (all when send is nil) on chunkTopic.
func (o *operator) offer(manifestTopic, chunkTopic string, env []byte, m *Manifest, model []byte, send func(i int) bool) {
	o.t.Helper()
	o.publish(manifestTopic, true, env)
	if m == nil || m.Kind != KindUpdate {
		return
	}
	var sha [32]byte // the manifest's, which a correct push has computed from model
	if _, err := hex.Decode(sha[:], []byte(m.SHA256)); err != nil {
		o.t.Fatal(err)
	}
	for i := range m.ChunkCount {
		if send == nil || send(i) {
			o.publish(chunkTopic, false, ChunkMessage(model, sha, m.ChunkSize, i))
		}
	}
}

// serve answers chunk requests for model; tamper may change a chunk's data before it goes.
func (o *operator) serve(model []byte, tamper func(i int, data []byte) []byte) {
	o.t.Helper()
	sha := sha256.Sum256(model)
	h := fmt.Sprintf("%x", sha)
	tok := o.c.Subscribe(RequestFilter(o.prefix), 1, func(_ mqtt.Client, msg mqtt.Message) {
		dev, ok := DeviceOf(o.prefix, msg.Topic())
		r, err := ParseRequest(msg.Payload())
		if !ok || err != nil || r.SHA256 != h {
			return
		}
		o.mu.Lock()
		o.reqs++
		o.mu.Unlock()
		go func() {
			for _, rg := range r.Ranges {
				for i := rg[0]; i <= rg[1] && i*r.ChunkSize < len(model); i++ {
					data := model[i*r.ChunkSize : min((i+1)*r.ChunkSize, len(model))]
					if tamper != nil {
						data = tamper(i, data)
					}
					c := AppendChunk(nil, Chunk{SHA256: sha, ChunkSize: r.ChunkSize, Index: i, Data: data})
					o.c.Publish(DeviceTopic(o.prefix, dev, topicChunk), 1, false, c).Wait()
					o.mu.Lock()
					o.served[dev]++
					o.mu.Unlock()
				}
			}
		}()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		o.t.Fatalf("subscribe: %v", tok.Error())
	}
}

func (o *operator) stopServing() {
	o.c.Unsubscribe(RequestFilter(o.prefix)).WaitTimeout(5 * time.Second)
}

func (o *operator) servedTo(dev string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.served[dev]
}

// watcher records every model status published, per device.
type watcher struct {
	mu     gosync.Mutex
	states map[string][]string
	last   map[string]Status
}

func watchStatuses(t *testing.T, broker string) *watcher {
	t.Helper()
	w := &watcher{states: map[string][]string{}, last: map[string]Status{}}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("watch-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(true)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(StatusFilter(DefaultTopicPrefix), 1, func(_ mqtt.Client, m mqtt.Message) {
		var s Status
		if json.Unmarshal(m.Payload(), &s) != nil {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if st := w.states[s.Device]; len(st) == 0 || st[len(st)-1] != s.State {
			w.states[s.Device] = append(st, s.State)
		}
		w.last[s.Device] = s
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher subscribe: %v", tok.Error())
	}
	return w
}

func (w *watcher) sequence(dev string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.states[dev])
}

// containsInOrder reports whether want appears in got in order (other states may come between).
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

var errTest = errors.New("test failure")

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
