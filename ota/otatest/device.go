package otatest

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
)

// Config returns a device configuration with short timeouts for tests: the base model is
// HelloFloat ("hello" 1.0), the group "lobby", and the state in a temporary directory.
func Config(t testing.TB, id string, keys ...ota.PublicKey) ota.Config {
	return ota.Config{
		DeviceID:      id,
		Groups:        []string{"lobby"},
		StateDir:      t.TempDir(),
		TrustedKeys:   keys,
		Base:          ota.Model{Path: HelloFloat, Name: "hello", Version: "1.0"},
		HealthFrames:  5,
		HealthTimeout: 10 * time.Second,
		StallTimeout:  time.Minute,
		RequestIdle:   300 * time.Millisecond,
		ReserveBytes:  -1,
		Logger:        Logger(t),
	}
}

// Logger discards, unless OTA_TEST_LOG is set: then it logs at debug level to stderr.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("OTA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// Device is one simulated device: the real sync.Client over a real store.DB outbox, the real
// ota.Updater, and Runtime as the agent. Its files live in Cfg.StateDir, so Restart behaves as a
// process restart.
type Device struct {
	T      testing.TB
	Cfg    ota.Config
	Broker string
	// Brokers, when set, replaces Broker with a list the client fails over between (the nodes
	// of a cluster).
	Brokers []string
	// NewRuntime, if set, makes the runtime of each start (default NewRuntime).
	NewRuntime func() *Runtime
	// Username and Password authenticate the device's MQTT connection.
	Username, Password string

	RT *Runtime
	U  *ota.Updater
	DB *store.DB
	CL *sync.Client

	cancel    context.CancelFunc
	wg        gosync.WaitGroup
	connected atomic.Bool
}

// StartDevice starts a device and stops it at the end of the test.
func StartDevice(t testing.TB, broker string, cfg ota.Config) *Device {
	t.Helper()
	d := NewDevice(t, broker, cfg)
	d.Start()
	return d
}

// NewDevice returns a device that Start starts; it is stopped at the end of the test.
func NewDevice(t testing.TB, broker string, cfg ota.Config) *Device {
	d := &Device{T: t, Cfg: cfg, Broker: broker}
	t.Cleanup(d.Stop)
	return d
}

// Start opens the updater, loads its model as the agent would and connects, returning once the
// update topics are subscribed.
func (d *Device) Start() {
	d.T.Helper()
	if err := d.StartAsync(); err != nil {
		d.T.Fatal(err)
	}
	d.WaitConnected(10 * time.Second)
}

// StartAsync is Start without waiting for the connection.
func (d *Device) StartAsync() error {
	rt := NewRuntime()
	if d.NewRuntime != nil {
		rt = d.NewRuntime()
	}
	u, err := ota.Open(d.Cfg, rt)
	if err != nil {
		return err
	}
	if _, err := rt.Load(u); err != nil {
		u.Close()
		return err
	}
	db, err := store.Open(filepath.Join(d.Cfg.StateDir, "edge-agent.db"), store.Options{MaxCommitDelay: -1})
	if err != nil {
		u.Close()
		return err
	}
	d.connected.Store(false)
	cl, err := sync.New(sync.Config{
		Broker: d.Broker, Brokers: d.Brokers, DeviceID: d.Cfg.DeviceID, Verify: sync.VerifyOff, TopicPrefix: d.Cfg.TopicPrefix,
		Username: d.Username, Password: d.Password,
		Subscriptions: u.Subscriptions(),
		OnConnect: func(ctx context.Context) {
			d.connected.Store(true) // the subscriptions are made before OnConnect runs
			u.OnConnect(ctx)
		},
		Backoff: sync.Backoff{Initial: 100 * time.Millisecond, Max: time.Second},
	}, db, nil)
	if err != nil {
		u.Close()
		db.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.RT, d.U, d.DB, d.CL, d.cancel = rt, u, db, cl, cancel
	d.wg.Go(func() { _ = cl.Run(ctx) })
	d.wg.Go(func() { _ = u.Run(ctx, cl) })
	d.wg.Go(func() { rt.Loop(ctx) })
	return nil
}

// WaitConnected waits until the device has subscribed to its update topics.
func (d *Device) WaitConnected(timeout time.Duration) {
	d.T.Helper()
	WaitFor(d.T, timeout, "the device to connect and subscribe", d.connected.Load)
}

// Stop ends the device's goroutines and closes its files, like a process exit.
func (d *Device) Stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.wg.Wait()
	if err := d.U.Close(); err != nil {
		d.T.Errorf("close updater: %v", err)
	}
	if err := d.DB.Close(); err != nil {
		d.T.Errorf("close store: %v", err)
	}
	d.cancel = nil
}

// Restart stops and starts the device.
func (d *Device) Restart() {
	d.T.Helper()
	d.Stop()
	d.Start()
}

// WaitState waits for the updater's status to reach state, about manifest when it is set.
func (d *Device) WaitState(state, manifest string, timeout time.Duration) ota.Status {
	d.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := d.U.Status()
		if s.State == state && (manifest == "" || (s.Update != nil && s.Update.Manifest == manifest)) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(s)
			d.T.Fatalf("device %s: state %s not reached within %s; status %s", d.Cfg.DeviceID, state, timeout, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// CheckOneValidModel checks what a restarted agent relies on: Model names an intact file of the
// SHA-256 it claims, which the runtime loads, and the stand-in agent runs it.
func (d *Device) CheckOneValidModel() ota.Model {
	d.T.Helper()
	m := d.U.Model()
	if sum, err := ota.FileSHA256(m.Path); err != nil || sum != m.SHA256 {
		d.T.Fatalf("active model %+v: file sha %s, %v", m, sum, err)
	}
	if err := LoadAndRun(m.Path); err != nil {
		d.T.Fatalf("active model %s does not load: %v", m.Path, err)
	}
	if r := d.RT.Running(); r.SHA256 != m.SHA256 {
		d.T.Fatalf("the agent runs %s, the registry says %s", r.SHA256, m.SHA256)
	}
	return m
}

// StoreFiles lists the model store, without the registry mirror.
func (d *Device) StoreFiles() []string {
	ents, _ := os.ReadDir(filepath.Join(d.Cfg.StateDir, "models"))
	var names []string
	for _, e := range ents {
		if e.Name() != "registry.json" {
			names = append(names, e.Name())
		}
	}
	return names
}

// WaitFor polls cond until it holds, or fails the test after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
