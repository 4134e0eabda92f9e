package ota_test

import (
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/otatest"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestRollbackManifest: a signed rollback returns to the previous model; one naming a model
// that is not active, or coming when there is no previous model, is refused with its reason.
func TestRollbackManifest(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "dev", s.Pub))
	base := d.CheckOneValidModel()
	model := otatest.ReadFile(t, otatest.Sin)
	m, env := s.Update(t, model, ota.UpdateOptions{Version: "2", ChunkSize: 1024, Target: ota.Target{Groups: []string{"lobby"}}})
	op.offerGroup("lobby", env, m, model)
	d.WaitState(ota.StateCommitted, m.ID, 20*time.Second)

	rollback := func(from string) *ota.Manifest {
		t.Helper()
		rb, err := ota.NewRollback(ota.Target{Groups: []string{"lobby"}}, from, s.Pub.ID)
		if err != nil {
			t.Fatal(err)
		}
		op.publish(ota.GroupTopic(op.prefix, "lobby", "manifest"), true, s.Sign(t, rb))
		return rb
	}
	other := "0000000000000000000000000000000000000000000000000000000000000000"
	rb := rollback(other)
	st := d.WaitState(ota.StateRejected, rb.ID, 10*time.Second)
	mustContain(t, st.Reason, "rollback: model 000000000000 is not active here (active: test-model 2)")

	time.Sleep(1100 * time.Millisecond) // manifests are ordered by their creation second
	rb = rollback(m.SHA256)
	st = d.WaitState(ota.StateRolledBack, rb.ID, 10*time.Second)
	if st.Active.SHA256 != base.SHA256 || st.Update.SHA256 != m.SHA256 || st.Previous != nil {
		t.Fatalf("after rollback %+v", st)
	}
	mustContain(t, st.Reason, "rollback: requested by the operator")
	if got := d.CheckOneValidModel(); got.SHA256 != base.SHA256 {
		t.Fatalf("running %s", got.Name)
	}
	if files := d.StoreFiles(); len(files) != 0 {
		t.Fatalf("store keeps %v", files)
	}
	// The retained rollback is not applied again on reconnect.
	d.Restart()
	time.Sleep(300 * time.Millisecond)
	if st := d.U.Status(); st.State != ota.StateRolledBack || st.Update.Manifest != rb.ID {
		t.Fatalf("after restart %+v", st)
	}
	time.Sleep(1100 * time.Millisecond)
	rb = rollback("")
	st = d.WaitState(ota.StateRejected, rb.ID, 10*time.Second)
	mustContain(t, st.Reason, "rollback: no previous model to return to")
}

// TestRollbackDuringHealthWindow: an operator's rollback ends a health window at once.
func TestRollbackDuringHealthWindow(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	cfg := otatest.Config(t, "dev", s.Pub)
	cfg.HealthFrames, cfg.HealthTimeout = 1<<20, time.Hour
	d := otatest.StartDevice(t, b.URL(), cfg)
	base := d.CheckOneValidModel()
	model := otatest.ReadFile(t, otatest.Sin)
	m, env := s.Update(t, model, ota.UpdateOptions{Version: "2", ChunkSize: 1024, Target: ota.Target{Devices: []string{"dev"}},
		Created: time.Now().Add(-2 * time.Second)})
	op.offerDevice("dev", env, m, model)
	d.WaitState(ota.StateActivated, m.ID, 20*time.Second)
	rb, err := ota.NewRollback(ota.Target{Devices: []string{"dev"}}, m.SHA256, s.Pub.ID)
	if err != nil {
		t.Fatal(err)
	}
	op.publish(ota.DeviceTopic(op.prefix, "dev", "manifest"), true, s.Sign(t, rb))
	st := d.WaitState(ota.StateRolledBack, rb.ID, 10*time.Second)
	if st.Active.SHA256 != base.SHA256 {
		t.Fatalf("active %+v", st.Active)
	}
	if got := d.CheckOneValidModel(); got.SHA256 != base.SHA256 {
		t.Fatalf("running %s", got.Name)
	}
}
