package ota_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/otatest"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestGoodPush pushes a real model to a group: the device receives it, verifies it, activates
// it between frames, passes the health window and commits it; the status topic shows every step.
func TestGoodPush(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	w := watchStatuses(t, b.URL())
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "cam-1", s.Pub))
	d.WaitState(ota.StateIdle, "", 5*time.Second)
	base := d.CheckOneValidModel()

	model := otatest.ReadFile(t, otatest.Sin)
	m, env := s.Update(t, model, ota.UpdateOptions{Name: "sin", Version: "2.0", ChunkSize: 1024,
		Target: ota.Target{Groups: []string{"lobby"}}, Labels: []string{"y"}})
	op.offerGroup("lobby", env, m, model)

	st := d.WaitState(ota.StateCommitted, m.ID, 20*time.Second)
	if st.Active.SHA256 != m.SHA256 || st.Active.Version != "2.0" || st.Previous.SHA256 != base.SHA256 {
		t.Fatalf("status after commit: %+v", st)
	}
	got := d.CheckOneValidModel()
	if got.Name != "sin" || got.Path != filepath.Join(d.Cfg.StateDir, "models", m.SHA256+".tflite") {
		t.Fatalf("active model %+v", got)
	}
	if labels := otatest.ReadFile(t, got.LabelsPath); string(labels) != "y\n" {
		t.Fatalf("labels file %q", labels)
	}
	if a := d.RT.Activations(); len(a) != 1 || a[0] != m.SHA256 {
		t.Fatalf("activations %v", a)
	}
	otatest.WaitFor(t, 5*time.Second, "the committed status on the broker", func() bool {
		return slices.Contains(w.sequence("cam-1"), ota.StateCommitted)
	})
	if seq := w.sequence("cam-1"); !containsInOrder(seq, []string{ota.StateReceiving, ota.StateVerifying, ota.StateActivated, ota.StateCommitted}) {
		t.Fatalf("status sequence %v", seq)
	}
	// The store holds the new model, its labels, and nothing else (the base stays where it is).
	if files := d.StoreFiles(); !slices.Equal(files, []string{m.SHA256 + ".labels", m.SHA256 + ".tflite"}) {
		t.Fatalf("model store %v", files)
	}

	// The retained manifest comes again on every connection: nothing happens.
	d.Restart()
	d.CheckOneValidModel()
	time.Sleep(500 * time.Millisecond)
	if st := d.U.Status(); st.State != ota.StateCommitted || st.Update.Manifest != m.ID || len(d.RT.Activations()) != 0 {
		t.Fatalf("after restart: %+v, activations %v", st, d.RT.Activations())
	}

	// Pushing the active model again reports it committed at once, without a transfer.
	m2, env2 := s.Update(t, model, ota.UpdateOptions{Name: "sin", Version: "2.0", ChunkSize: 1024, Target: ota.Target{Devices: []string{"cam-1"}}})
	op.offer(ota.DeviceTopic(op.prefix, "cam-1", "manifest"), "", env2, nil, nil, nil)
	if st := d.WaitState(ota.StateCommitted, m2.ID, 10*time.Second); st.Reason != "already active" {
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

// TestBadPushes pushes each kind of bad update: each is rejected with its reason, the running
// model is untouched and the model store keeps nothing of it.
func TestBadPushes(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	good := otatest.ReadFile(t, otatest.Sin)
	notTFLite := bytes.Repeat([]byte("not a model "), 300)

	type push struct {
		model    []byte
		manifest *ota.Manifest
		env      []byte
		topic    string // manifest topic; the device's own by default
		send     func(int) bool
		tamper   func(int, []byte) []byte
	}
	var dev string // the device of the running case
	update := func(model []byte, o ota.UpdateOptions) push {
		if o.Version == "" {
			o.Version = "2.0"
		}
		if o.ChunkSize == 0 {
			o.ChunkSize = 1024
		}
		if len(o.Target.Devices)+len(o.Target.Groups) == 0 {
			o.Target = ota.Target{Devices: []string{dev}}
		}
		m, env := s.Update(t, model, o)
		return push{model: model, manifest: m, env: env}
	}
	resign := func(p push, edit func(m *ota.Manifest)) push {
		edit(p.manifest)
		p.env = s.Sign(t, p.manifest)
		return p
	}
	for i, tc := range []struct {
		name   string
		push   func() push
		cfg    func(*ota.Config)
		check  string
		reason string
	}{
		{"untrusted key", func() push {
			p := update(good, ota.UpdateOptions{})
			p.env = otatest.NewSigner(t).Sign(t, p.manifest)
			return p
		}, nil, ota.CheckSignature, "not in ota.trusted_keys"},
		{"tampered manifest", func() push {
			p := update(good, ota.UpdateOptions{})
			p.env = bytes.Replace(p.env, []byte(`"version":"2.0"`), []byte(`"version":"9.0"`), 1)
			return p
		}, nil, ota.CheckSignature, "does not verify"},
		{"tampered byte", func() push {
			p := update(good, ota.UpdateOptions{})
			p.send = func(i int) bool { return i != 3 }
			p.tamper = func(i int, d []byte) []byte {
				if i == 3 {
					d = bytes.Clone(d)
					d[100] ^= 1
				}
				return d
			}
			return p
		}, nil, ota.CheckSHA256, "chunk 3 of 7 arrived 3 times with data that does not match"},
		{"truncated transfer", func() push {
			p := update(good, ota.UpdateOptions{})
			p.send = func(i int) bool { return i < 4 }
			return p
		}, func(c *ota.Config) { c.StallTimeout = 1500 * time.Millisecond }, ota.CheckTransfer, "3 of 7 chunks missing"},
		{"wrong size", func() push {
			return resign(update(good, ota.UpdateOptions{}), func(m *ota.Manifest) { m.Size -= 10 })
		}, nil, ota.CheckSize, "chunk 6 holds 960 bytes; the manifest's size 7094 makes it 950"},
		{"assembled hash", func() push {
			return resign(update(good, ota.UpdateOptions{}), func(m *ota.Manifest) {
				sum := sha256.Sum256([]byte("other"))
				m.SHA256 = fmt.Sprintf("%x", sum)
			})
		}, nil, ota.CheckSHA256, "the assembled file hashes to"},
		{"too large", func() push { return update(good, ota.UpdateOptions{}) },
			func(c *ota.Config) { c.MaxModelBytes = 4096 }, ota.CheckSize, "more than ota.max_model_bytes (4096)"},
		{"not tflite", func() push { return update(notTFLite, ota.UpdateOptions{}) }, nil, ota.CheckValidate, "invalid model"},
		{"unsupported op", func() push { return update(otatest.UnsupportedOp(t), ota.UpdateOptions{}) }, nil, ota.CheckValidate, "SIN"},
		{"downgrade", func() push { return update(good, ota.UpdateOptions{Version: "0.9"}) }, nil, ota.CheckVersion, "0.9 is older than the active 1.0"},
		{"same version, other bytes", func() push { return update(good, ota.UpdateOptions{Version: "1.0.0"}) }, nil, ota.CheckVersion, "bump the version"},
		{"wrong target", func() push {
			return update(good, ota.UpdateOptions{Target: ota.Target{Devices: []string{"other"}, Groups: []string{"garage"}}})
		},
			nil, ota.CheckTarget, "for devices [other] and groups [garage]; this is device dev-11 in groups [lobby]"},
		{"group of another device", func() push {
			p := update(good, ota.UpdateOptions{Target: ota.Target{Groups: []string{"garage"}}})
			p.topic = ota.GroupTopic(op.prefix, "lobby", "manifest")
			return p
		}, nil, ota.CheckTarget, "groups [garage]"},
		{"not enough disk", func() push { return update(good, ota.UpdateOptions{}) },
			func(c *ota.Config) { c.ReserveBytes = 1 << 60 }, ota.CheckDisk, "kept for the outbox"},
	} {
		dev = fmt.Sprintf("dev-%d", i)
		t.Run(tc.name, func(t *testing.T) {
			cfg := otatest.Config(t, dev, s.Pub)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			d := otatest.StartDevice(t, b.URL(), cfg)
			d.WaitState(ota.StateIdle, "", 5*time.Second)
			before := d.CheckOneValidModel()
			p := tc.push()
			if p.tamper != nil {
				op.serve(p.model, p.tamper)
				t.Cleanup(op.stopServing)
			}
			topic := p.topic
			if topic == "" {
				topic = ota.DeviceTopic(op.prefix, dev, "manifest")
			}
			t.Cleanup(func() { op.publish(topic, true, nil) }) // clear the retained manifest for the next cases
			op.offer(topic, ota.DeviceTopic(op.prefix, dev, "chunk"), p.env, p.manifest, p.model, p.send)
			st := d.WaitState(ota.StateRejected, "", 20*time.Second)
			if st.Check != tc.check || !strings.Contains(st.Reason, tc.reason) || !strings.HasPrefix(st.Reason, tc.check+": ") {
				t.Fatalf("rejected with %q (check %s), want check %s and %q", st.Reason, st.Check, tc.check, tc.reason)
			}
			if after := d.CheckOneValidModel(); after != before || len(d.RT.Activations()) != 0 {
				t.Fatalf("model changed from %+v to %+v (activations %v)", before, after, d.RT.Activations())
			}
			if files := d.StoreFiles(); len(files) != 0 {
				t.Fatalf("model store keeps %v", files)
			}
			// The retained manifest is not handled again after a restart.
			d.Restart()
			time.Sleep(300 * time.Millisecond)
			if st2 := d.U.Status(); st2.State != ota.StateRejected || st2.Reason != st.Reason {
				t.Fatalf("after restart: %+v", st2)
			}
		})
	}
}

// TestDowngradeWithRollbackFlag: an older version goes in when the manifest allows it.
func TestDowngradeWithRollbackFlag(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "dev", s.Pub))
	model := otatest.ReadFile(t, otatest.Sin)
	m, env := s.Update(t, model, ota.UpdateOptions{Version: "0.9", Rollback: true, ChunkSize: 2048, Target: ota.Target{Devices: []string{"dev"}}})
	op.offerDevice("dev", env, m, model)
	d.WaitState(ota.StateCommitted, m.ID, 20*time.Second)
	if got := d.CheckOneValidModel(); got.Version != "0.9" {
		t.Fatalf("active %+v", got)
	}
}

// TestOTAOff: with no trusted key nothing is subscribed and the status says why.
func TestOTAOff(t *testing.T) {
	cfg := otatest.Config(t, "dev")
	u, err := ota.Open(cfg, otatest.NewRuntime())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if subs := u.Subscriptions(); len(subs) != 0 {
		t.Fatalf("subscriptions %v", subs)
	}
	st := u.Status()
	if st.OTA != "off" || st.State != ota.StateOff || !strings.Contains(st.Reason, "ota.trusted_keys") {
		t.Fatalf("status %+v", st)
	}
	if m := u.Model(); m.Path != otatest.HelloFloat || m.Version != "1.0" {
		t.Fatalf("model %+v", m)
	}
}

var _ = os.Remove
