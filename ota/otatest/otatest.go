// Package otatest simulates devices for tests and benchmarks of OTA: the real device side (the
// ota.Updater, the agent's sync.Client and a store.DB outbox) with a stand-in for the agent's
// runtime, so that one process can hold many devices.
package otatest

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"os"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/tflite"
)

// Testdata returns the path of a file under the repository's testdata directory.
func Testdata(elem ...string) string { return RepoFile(append([]string{"testdata"}, elem...)...) }

// RepoFile returns the path of a file of the repository, found by walking up from the working
// directory to go.mod.
func RepoFile(elem ...string) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(append([]string{dir}, elem...)...)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join(elem...)
		}
		dir = parent
	}
}

// Real models from testdata/models (see its README for their sources).
var (
	HelloFloat = Testdata("models", "tiny", "hello_world_float.tflite")
	HelloInt8  = Testdata("models", "tiny", "hello_world_int8.tflite")
	Sin        = Testdata("models", "tiny", "sin_model.tflite")
	Mobilenet  = Testdata("models", "classify_quant", "mobilenet_v1_0.25_224_quant.tflite")
	// SSD is the bundled detector, 4.2 MB.
	SSD = RepoFile("models", "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite")
)

// ReadFile reads a file or fails the test.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Signer is an operator's signing key.
type Signer struct {
	Priv ed25519.PrivateKey
	Pub  ota.PublicKey
}

// NewSigner generates a key.
func NewSigner(t testing.TB) Signer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return Signer{priv, ota.PublicKey{ID: ota.KeyID(pub), Key: pub}}
}

// Update builds and signs an update manifest for model (name "test-model" unless set).
func (s Signer) Update(t testing.TB, model []byte, o ota.UpdateOptions) (*ota.Manifest, []byte) {
	t.Helper()
	o.KeyID = s.Pub.ID
	if o.Name == "" {
		o.Name = "test-model"
	}
	m, err := ota.NewUpdate(model, o)
	if err != nil {
		t.Fatal(err)
	}
	return m, s.Sign(t, m)
}

// Sign signs m (setting its key id).
func (s Signer) Sign(t testing.TB, m *ota.Manifest) []byte {
	t.Helper()
	m.KeyID = s.Pub.ID
	env, err := ota.Sign(m, s.Priv)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// LoadAndRun is the stand-in validator's check: the model loads in the real TFLite runtime with
// every op supported, and one inference on a zero input runs.
func LoadAndRun(path string) error {
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

// Runtime stands in for the agent: Validate and Activate load the model with the real TFLite
// runtime (LoadAndRun); Loop plays the capture loop, reporting a frame every FrameEvery (and a
// shadow sample per frame while a shadow runs).
type Runtime struct {
	// FrameEvery is the frame period of Loop (default 5 ms).
	FrameEvery time.Duration
	// Cheap skips LoadAndRun in Validate and Activate (benchmarks with hundreds of devices).
	Cheap bool

	mu           gosync.Mutex
	u            *ota.Updater
	current      ota.Model
	activations  []string
	frameErr     map[string]error
	activateErr  map[string]error
	paused       bool
	shadow       *ota.Model
	shadowSample func(n int) ota.ShadowSample
	shadowFrames int
}

// NewRuntime returns a stand-in runtime.
func NewRuntime() *Runtime {
	return &Runtime{frameErr: map[string]error{}, activateErr: map[string]error{}}
}

func (r *Runtime) check(path string) error {
	if r.Cheap {
		_, err := os.Stat(path)
		return err
	}
	return LoadAndRun(path)
}

// Validate implements ota.Validator.
func (r *Runtime) Validate(ctx context.Context, m ota.Model) error { return r.check(m.Path) }

// Activate implements ota.Activator; it fails for a model given to SetActivateErr.
func (r *Runtime) Activate(ctx context.Context, m ota.Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.activateErr[m.SHA256]; err != nil {
		return err
	}
	if err := r.check(m.Path); err != nil {
		return err
	}
	r.current = m
	r.activations = append(r.activations, m.SHA256)
	return nil
}

// StartShadow implements ota.Shadower.
func (r *Runtime) StartShadow(ctx context.Context, m ota.Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.check(m.Path); err != nil {
		return err
	}
	r.shadow = &m
	return nil
}

// StopShadow implements ota.Shadower.
func (r *Runtime) StopShadow() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shadow = nil
}

// Load makes m the running model, as the agent does at start: when it does not load, it asks
// u for the next one (ota.Updater.LoadFailed).
func (r *Runtime) Load(u *ota.Updater) (ota.Model, error) {
	m := u.Model()
	for {
		err := r.check(m.Path)
		if err == nil {
			break
		}
		if m, err = u.LoadFailed(m, err); err != nil {
			return ota.Model{}, err
		}
	}
	r.mu.Lock()
	r.u, r.current = u, m
	r.mu.Unlock()
	return m, nil
}

// Running returns the model the stand-in agent runs.
func (r *Runtime) Running() ota.Model {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// Activations returns the SHA-256 of every model activated so far.
func (r *Runtime) Activations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.activations...)
}

// Shadowing reports whether a shadow model runs.
func (r *Runtime) Shadowing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shadow != nil
}

// SetFrameErr makes every frame of the model with that SHA-256 fail with err.
func (r *Runtime) SetFrameErr(sha string, err error) {
	r.mu.Lock()
	r.frameErr[sha] = err
	r.mu.Unlock()
}

// SetActivateErr makes activating the model with that SHA-256 fail with err.
func (r *Runtime) SetActivateErr(sha string, err error) {
	r.mu.Lock()
	r.activateErr[sha] = err
	r.mu.Unlock()
}

// SetPaused stops (or resumes) the frames, as a camera that delivers none.
func (r *Runtime) SetPaused(p bool) {
	r.mu.Lock()
	r.paused = p
	r.mu.Unlock()
}

// SetShadowSample sets what the shadow run sees on its n-th frame.
func (r *Runtime) SetShadowSample(fn func(n int) ota.ShadowSample) {
	r.mu.Lock()
	r.shadowSample = fn
	r.mu.Unlock()
}

// Loop reports frames to the updater until ctx ends.
func (r *Runtime) Loop(ctx context.Context) {
	every := r.FrameEvery
	if every <= 0 {
		every = 5 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		u, cur, err, paused := r.u, r.current, r.frameErr[r.current.SHA256], r.paused
		var sample *ota.ShadowSample
		if r.shadow != nil && r.shadowSample != nil && !paused {
			s := r.shadowSample(r.shadowFrames)
			r.shadowFrames++
			sample = &s
		}
		r.mu.Unlock()
		if paused || u == nil {
			continue
		}
		u.FrameDone(cur.SHA256, err)
		if sample != nil {
			u.ShadowFrame(*sample)
		}
	}
}

// UnsupportedOp returns hello_world_float with its FULLY_CONNECTED op code changed to SIN,
// which the runtime does not implement: a valid model the device cannot run.
func UnsupportedOp(t testing.TB) []byte {
	t.Helper()
	b := ReadFile(t, HelloFloat)
	u32 := func(o int) int { return int(binary.LittleEndian.Uint32(b[o:])) }
	field := func(table, slot int) int { // absolute offset of a table field, 0 if absent
		vt := table - int(int32(binary.LittleEndian.Uint32(b[table:])))
		if 4+2*slot >= int(binary.LittleEndian.Uint16(b[vt:])) {
			return 0
		}
		if off := int(binary.LittleEndian.Uint16(b[vt+4+2*slot:])); off != 0 {
			return table + off
		}
		return 0
	}
	root := u32(0)
	codes := field(root, 1) // Model.operator_codes
	vec := codes + u32(codes)
	for i := range u32(vec) {
		elem := vec + 4 + 4*i
		code := elem + u32(elem)
		if f := field(code, 0); f != 0 { // deprecated_builtin_code (int8)
			b[f] = 66
		}
		if f := field(code, 3); f != 0 { // builtin_code (int32)
			binary.LittleEndian.PutUint32(b[f:], 66)
		}
	}
	return b
}
