package ota

import (
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestRollbackManifest: a signed rollback returns to the previous model; one naming a model
// that is not active, or coming when there is no previous model, is refused with its reason.
func TestRollbackManifest(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	d := startDevice(t, b.URL(), deviceConfig(t, "dev", s.pub))
	base := d.checkOneValidModel()
	model := readFile(t, modelSin)
	m, env := s.update(t, model, UpdateOptions{Version: "2", ChunkSize: 1024, Target: Target{Groups: []string{"lobby"}}})
	op.offer(GroupTopic(op.prefix, "lobby", topicManifest), GroupTopic(op.prefix, "lobby", topicChunk), env, m, model, nil)
	d.waitState(StateCommitted, m.ID, 20*time.Second)

	rollback := func(from string) *Manifest {
		t.Helper()
		rb, err := NewRollback(Target{Groups: []string{"lobby"}}, from, s.pub.ID)
		if err != nil {
			t.Fatal(err)
		}
		op.publish(GroupTopic(op.prefix, "lobby", topicManifest), true, s.sign(t, rb))
		return rb
	}
	other := "0000000000000000000000000000000000000000000000000000000000000000"
	rb := rollback(other)
	st := d.waitState(StateRejected, rb.ID, 10*time.Second)
	mustContain(t, st.Reason, "rollback: model 000000000000 is not active here (active: test-model 2)")

	time.Sleep(1100 * time.Millisecond) // manifests are ordered by their creation second
	rb = rollback(m.SHA256)
	st = d.waitState(StateRolledBack, rb.ID, 10*time.Second)
	if st.Active.SHA256 != base.SHA256 || st.Update.SHA256 != m.SHA256 || st.Previous != nil {
		t.Fatalf("after rollback %+v", st)
	}
	mustContain(t, st.Reason, "rollback: requested by the operator")
	if got := d.checkOneValidModel(); got.SHA256 != base.SHA256 {
		t.Fatalf("running %s", got.Name)
	}
	if files := d.storeFiles(); len(files) != 0 {
		t.Fatalf("store keeps %v", files)
	}
	// The retained rollback is not applied again on reconnect.
	d.restart()
	time.Sleep(300 * time.Millisecond)
	if st := d.u.Status(); st.State != StateRolledBack || st.Update.Manifest != rb.ID {
		t.Fatalf("after restart %+v", st)
	}
	time.Sleep(1100 * time.Millisecond)
	rb = rollback("")
	st = d.waitState(StateRejected, rb.ID, 10*time.Second)
	mustContain(t, st.Reason, "rollback: no previous model to return to")
}

// TestRollbackDuringHealthWindow: an operator's rollback ends a health window at once.
func TestRollbackDuringHealthWindow(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	cfg := deviceConfig(t, "dev", s.pub)
	cfg.HealthFrames, cfg.HealthTimeout = 1<<20, time.Hour
	d := startDevice(t, b.URL(), cfg)
	base := d.checkOneValidModel()
	model := readFile(t, modelSin)
	m, env := s.update(t, model, UpdateOptions{Version: "2", ChunkSize: 1024, Target: Target{Devices: []string{"dev"}},
		Created: time.Now().Add(-2 * time.Second)})
	op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), env, m, model, nil)
	d.waitState(StateActivated, m.ID, 20*time.Second)
	rb, err := NewRollback(Target{Devices: []string{"dev"}}, m.SHA256, s.pub.ID)
	if err != nil {
		t.Fatal(err)
	}
	op.publish(DeviceTopic(op.prefix, "dev", topicManifest), true, s.sign(t, rb))
	st := d.waitState(StateRolledBack, rb.ID, 10*time.Second)
	if st.Active.SHA256 != base.SHA256 {
		t.Fatalf("active %+v", st.Active)
	}
	if got := d.checkOneValidModel(); got.SHA256 != base.SHA256 {
		t.Fatalf("running %s", got.Name)
	}
}
