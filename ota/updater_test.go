package ota

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestGoodPush pushes a real model to a group: the device receives it, verifies it, activates
// it between frames, passes the health window and commits it; the status topic shows every step.
func TestGoodPush(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	w := watchStatuses(t, b.URL())
	op := newOperator(t, b.URL())
	s := newSigner(t)
	d := startDevice(t, b.URL(), deviceConfig(t, "cam-1", s.pub))
	d.waitState(StateIdle, "", 5*time.Second)
	base := d.checkOneValidModel()

	model := readFile(t, modelSin)
	m, env := s.update(t, model, UpdateOptions{Name: "sin", Version: "2.0", ChunkSize: 1024,
		Target: Target{Groups: []string{"lobby"}}, Labels: []string{"y"}})
	op.offer(GroupTopic(op.prefix, "lobby", topicManifest), GroupTopic(op.prefix, "lobby", topicChunk), env, m, model, nil)

	st := d.waitState(StateCommitted, m.ID, 20*time.Second)
	if st.Active.SHA256 != m.SHA256 || st.Active.Version != "2.0" || st.Previous.SHA256 != base.SHA256 {
		t.Fatalf("status after commit: %+v", st)
	}
	got := d.checkOneValidModel()
	if got.Name != "sin" || got.Path != filepath.Join(d.cfg.StateDir, "models", m.SHA256+".tflite") {
		t.Fatalf("active model %+v", got)
	}
	if labels := readFile(t, got.LabelsPath); string(labels) != "y\n" {
		t.Fatalf("labels file %q", labels)
	}
	if a := d.rt.activations; len(a) != 1 || a[0] != m.SHA256 {
		t.Fatalf("activations %v", a)
	}
	waitFor(t, 5*time.Second, "the committed status on the broker", func() bool {
		return slices.Contains(w.sequence("cam-1"), StateCommitted)
	})
	if seq := w.sequence("cam-1"); !containsInOrder(seq, []string{StateReceiving, StateVerifying, StateActivated, StateCommitted}) {
		t.Fatalf("status sequence %v", seq)
	}
	// The store holds the new model, its labels, and nothing else (the base stays where it is).
	if files := d.storeFiles(); !slices.Equal(files, []string{m.SHA256 + ".labels", m.SHA256 + ".tflite"}) {
		t.Fatalf("model store %v", files)
	}

	// The retained manifest comes again on every connection: nothing happens.
	d.restart()
	d.checkOneValidModel()
	time.Sleep(500 * time.Millisecond)
	if st := d.u.Status(); st.State != StateCommitted || st.Update.Manifest != m.ID || len(d.rt.activations) != 0 {
		t.Fatalf("after restart: %+v, activations %v", st, d.rt.activations)
	}

	// Pushing the active model again reports it committed at once, without a transfer.
	m2, env2 := s.update(t, model, UpdateOptions{Name: "sin", Version: "2.0", ChunkSize: 1024, Target: Target{Devices: []string{"cam-1"}}})
	op.offer(DeviceTopic(op.prefix, "cam-1", topicManifest), "", env2, nil, nil, nil)
	if st := d.waitState(StateCommitted, m2.ID, 10*time.Second); st.Reason != "already active" {
		t.Fatalf("re-push: %+v", st)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unsupportedOp returns hello_world_float with its FULLY_CONNECTED op code changed to SIN,
// which the runtime does not implement: a valid model the device cannot run.
func unsupportedOp(t *testing.T) []byte {
	t.Helper()
	b := readFile(t, modelHelloFloat)
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

// TestBadPushes pushes each kind of bad update: each is rejected with its reason, the running
// model is untouched and the model store keeps nothing of it.
func TestBadPushes(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	good := readFile(t, modelSin)
	notTFLite := bytes.Repeat([]byte("not a model "), 300)

	type push struct {
		model    []byte
		manifest *Manifest
		env      []byte
		topic    string // manifest topic; the device's own by default
		send     func(int) bool
		tamper   func(int, []byte) []byte
	}
	var dev string // the device of the running case
	update := func(model []byte, o UpdateOptions) push {
		if o.Version == "" {
			o.Version = "2.0"
		}
		if o.ChunkSize == 0 {
			o.ChunkSize = 1024
		}
		if len(o.Target.Devices)+len(o.Target.Groups) == 0 {
			o.Target = Target{Devices: []string{dev}}
		}
		m, env := s.update(t, model, o)
		return push{model: model, manifest: m, env: env}
	}
	resign := func(p push, edit func(m *Manifest)) push {
		edit(p.manifest)
		p.env = s.sign(t, p.manifest)
		return p
	}
	for i, tc := range []struct {
		name   string
		push   func() push
		cfg    func(*Config)
		check  string
		reason string
	}{
		{"untrusted key", func() push {
			p := update(good, UpdateOptions{})
			p.env = newSigner(t).sign(t, p.manifest)
			return p
		}, nil, CheckSignature, "not in ota.trusted_keys"},
		{"tampered manifest", func() push {
			p := update(good, UpdateOptions{})
			p.env = bytes.Replace(p.env, []byte(`"version":"2.0"`), []byte(`"version":"9.0"`), 1)
			return p
		}, nil, CheckSignature, "does not verify"},
		{"tampered byte", func() push {
			p := update(good, UpdateOptions{})
			p.send = func(i int) bool { return i != 3 }
			p.tamper = func(i int, d []byte) []byte {
				if i == 3 {
					d = bytes.Clone(d)
					d[100] ^= 1
				}
				return d
			}
			return p
		}, nil, CheckSHA256, "chunk 3 of 7 arrived 3 times with data that does not match"},
		{"truncated transfer", func() push {
			p := update(good, UpdateOptions{})
			p.send = func(i int) bool { return i < 4 }
			return p
		}, func(c *Config) { c.StallTimeout = 1500 * time.Millisecond }, CheckTransfer, "3 of 7 chunks missing"},
		{"wrong size", func() push {
			return resign(update(good, UpdateOptions{}), func(m *Manifest) { m.Size -= 10 })
		}, nil, CheckSize, "chunk 6 holds 960 bytes; the manifest's size 7094 makes it 950"},
		{"assembled hash", func() push {
			return resign(update(good, UpdateOptions{}), func(m *Manifest) {
				sum := sha256.Sum256([]byte("other"))
				m.SHA256 = fmt.Sprintf("%x", sum)
			})
		}, nil, CheckSHA256, "the assembled file hashes to"},
		{"too large", func() push { return update(good, UpdateOptions{}) },
			func(c *Config) { c.MaxModelBytes = 4096 }, CheckSize, "more than ota.max_model_bytes (4096)"},
		{"not tflite", func() push { return update(notTFLite, UpdateOptions{}) }, nil, CheckValidate, "invalid model"},
		{"unsupported op", func() push { return update(unsupportedOp(t), UpdateOptions{}) }, nil, CheckValidate, "SIN"},
		{"downgrade", func() push { return update(good, UpdateOptions{Version: "0.9"}) }, nil, CheckVersion, "0.9 is older than the active 1.0"},
		{"same version, other bytes", func() push { return update(good, UpdateOptions{Version: "1.0.0"}) }, nil, CheckVersion, "bump the version"},
		{"wrong target", func() push {
			return update(good, UpdateOptions{Target: Target{Devices: []string{"other"}, Groups: []string{"garage"}}})
		},
			nil, CheckTarget, "for devices [other] and groups [garage]; this is device dev-11 in groups [lobby]"},
		{"group of another device", func() push {
			p := update(good, UpdateOptions{Target: Target{Groups: []string{"garage"}}})
			p.topic = GroupTopic(op.prefix, "lobby", topicManifest)
			return p
		}, nil, CheckTarget, "groups [garage]"},
		{"not enough disk", func() push { return update(good, UpdateOptions{}) },
			func(c *Config) { c.ReserveBytes = 1 << 60 }, CheckDisk, "kept for the outbox"},
	} {
		dev = fmt.Sprintf("dev-%d", i)
		t.Run(tc.name, func(t *testing.T) {
			cfg := deviceConfig(t, dev, s.pub)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			d := startDevice(t, b.URL(), cfg)
			d.waitState(StateIdle, "", 5*time.Second)
			before := d.checkOneValidModel()
			p := tc.push()
			if p.tamper != nil {
				op.serve(p.model, p.tamper)
				t.Cleanup(op.stopServing)
			}
			topic := p.topic
			if topic == "" {
				topic = DeviceTopic(op.prefix, dev, topicManifest)
			}
			t.Cleanup(func() { op.publish(topic, true, nil) }) // clear the retained manifest for the next cases
			op.offer(topic, DeviceTopic(op.prefix, dev, topicChunk), p.env, p.manifest, p.model, p.send)
			st := d.waitState(StateRejected, "", 20*time.Second)
			if st.Check != tc.check || !strings.Contains(st.Reason, tc.reason) || !strings.HasPrefix(st.Reason, tc.check+": ") {
				t.Fatalf("rejected with %q (check %s), want check %s and %q", st.Reason, st.Check, tc.check, tc.reason)
			}
			if after := d.checkOneValidModel(); after != before || len(d.rt.activations) != 0 {
				t.Fatalf("model changed from %+v to %+v (activations %v)", before, after, d.rt.activations)
			}
			if files := d.storeFiles(); len(files) != 0 {
				t.Fatalf("model store keeps %v", files)
			}
			// The retained manifest is not handled again after a restart.
			d.restart()
			time.Sleep(300 * time.Millisecond)
			if st2 := d.u.Status(); st2.State != StateRejected || st2.Reason != st.Reason {
				t.Fatalf("after restart: %+v", st2)
			}
		})
	}
}

// TestDowngradeWithRollbackFlag: an older version goes in when the manifest allows it.
func TestDowngradeWithRollbackFlag(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	d := startDevice(t, b.URL(), deviceConfig(t, "dev", s.pub))
	model := readFile(t, modelSin)
	m, env := s.update(t, model, UpdateOptions{Version: "0.9", Rollback: true, ChunkSize: 2048, Target: Target{Devices: []string{"dev"}}})
	op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), env, m, model, nil)
	d.waitState(StateCommitted, m.ID, 20*time.Second)
	if got := d.checkOneValidModel(); got.Version != "0.9" {
		t.Fatalf("active %+v", got)
	}
}

// TestOTAOff: with no trusted key nothing is subscribed and the status says why.
func TestOTAOff(t *testing.T) {
	cfg := deviceConfig(t, "dev")
	u, err := Open(cfg, newFakeRuntime())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if subs := u.Subscriptions(); len(subs) != 0 {
		t.Fatalf("subscriptions %v", subs)
	}
	st := u.Status()
	if st.OTA != "off" || st.State != StateOff || !strings.Contains(st.Reason, "ota.trusted_keys") {
		t.Fatalf("status %+v", st)
	}
	if m := u.Model(); m.Path != modelHelloFloat || m.Version != "1.0" {
		t.Fatalf("model %+v", m)
	}
}

var _ = os.Remove
