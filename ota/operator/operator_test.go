package operator_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/operator"
	"github.com/edge-agent/edge-agent/ota/otatest"
)

func dial(t testing.TB, url string) *operator.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := operator.Dial(ctx, operator.Broker{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// serve runs a chunk server on dir behind a shared subscription until the test ends.
func serve(t *testing.T, url, dir string) (*operator.Server, context.CancelFunc) {
	t.Helper()
	srv, err := operator.NewServer(dial(t, url), operator.ServerOptions{Dir: dir, Share: "ota-serve"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	otatest.WaitFor(t, 5*time.Second, "the server's subscription", func() bool { return true })
	return srv, cancel
}

// TestPushToGroup pushes to a group of three devices, one of them offline: the two online
// commit; the push reports the third as pending when its wait ends; the third, started later,
// catches up from `model serve` instances behind a shared subscription.
func TestPushToGroup(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	s := otatest.NewSigner(t)
	var devs []*otatest.Device
	for _, id := range []string{"cam-1", "cam-2", "cam-3"} {
		devs = append(devs, otatest.StartDevice(t, b.URL(), otatest.Config(t, id, s.Pub)))
	}
	for _, d := range devs {
		d.WaitState(ota.StateIdle, "", 5*time.Second)
	}
	time.Sleep(300 * time.Millisecond) // the retained statuses are on the broker
	devs[2].Stop()                     // offline during the push; its retained status names its groups

	model := otatest.ReadFile(t, otatest.Mobilenet)
	m, env, err := operator.SignUpdate(model, s.Priv, ota.UpdateOptions{Name: "mobilenet", Version: "2", ChunkSize: 8192,
		Target: ota.Target{Groups: []string{"lobby"}}})
	if err != nil {
		t.Fatal(err)
	}
	var updates int
	res, err := operator.Push(context.Background(), dial(t, b.URL()), operator.PushOptions{Model: model, Envelope: env,
		Wait: 8 * time.Second, Progress: func([]operator.Report) { updates++ }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != "timeout" || len(res.Devices) != 3 {
		t.Fatalf("outcome %s, devices %+v", res.Outcome(), res.Devices)
	}
	for _, r := range res.Devices {
		want := ota.StateCommitted
		if r.Device == "cam-3" {
			if r.Seen || r.Done() {
				t.Fatalf("offline device reported %+v", r)
			}
			continue
		}
		if r.Status.State != want || r.Status.Active.SHA256 != m.SHA256 {
			t.Fatalf("%s: %+v", r.Device, r.Status)
		}
	}
	if updates < 3 {
		t.Fatalf("progress called %d times", updates)
	}

	// Two chunk servers share the requests; the offline device comes back and catches up.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mobilenet-v2.tflite"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	s1, _ := serve(t, b.URL(), dir)
	s2, _ := serve(t, b.URL(), dir)
	devs[2].Start()
	devs[2].WaitState(ota.StateCommitted, m.ID, 60*time.Second)
	devs[2].CheckOneValidModel()
	st1, st2 := s1.Stats(), s2.Stats()
	t.Logf("servers: %+v, %+v", st1, st2)
	if st1.Served+st2.Served != uint64(m.ChunkCount) || st1.Models != 1 {
		t.Fatalf("servers sent %d+%d chunks for %d: a request was answered twice or not at all", st1.Served, st2.Served, m.ChunkCount)
	}
}

// TestPushRejected: a device that does not trust the key reports rejected: signature, and the
// push says so.
func TestPushRejected(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	trusted, other := otatest.NewSigner(t), otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "cam-1", trusted.Pub))
	model := otatest.ReadFile(t, otatest.Sin)
	_, env, err := operator.SignUpdate(model, other.Priv, ota.UpdateOptions{Name: "sin", Version: "2", Target: ota.Target{Devices: []string{"cam-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := operator.Push(context.Background(), dial(t, b.URL()), operator.PushOptions{Model: model, Envelope: env, Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != "failed" || len(res.Devices) != 1 {
		t.Fatalf("outcome %s %+v", res.Outcome(), res.Devices)
	}
	if r := res.Devices[0].Status; r.State != ota.StateRejected || r.Check != ota.CheckSignature {
		t.Fatalf("status %+v", r)
	}
	d.CheckOneValidModel()
}

// TestServeFailover: when one of two servers stops mid-transfer, the devices' repeated requests
// reach the other.
func TestServeFailover(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	s := otatest.NewSigner(t)
	cfg := otatest.Config(t, "cam-1", s.Pub)
	cfg.RequestWindow = 4
	d := otatest.StartDevice(t, b.URL(), cfg)
	model := otatest.ReadFile(t, otatest.Mobilenet)
	m, env, err := operator.SignUpdate(model, s.Priv, ota.UpdateOptions{Name: "m", Version: "2", ChunkSize: 4096, Target: ota.Target{Devices: []string{"cam-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "m.tflite"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	s1, stop1 := serve(t, b.URL(), dir)
	s2, _ := serve(t, b.URL(), dir)
	// Only the manifest: every chunk comes from the servers.
	if err := dial(t, b.URL()).Publish(context.Background(), ota.DeviceTopic("edge", "cam-1", "manifest"), true, env); err != nil {
		t.Fatal(err)
	}
	otatest.WaitFor(t, 20*time.Second, "both servers to answer", func() bool { return s1.Stats().Served > 0 && s2.Stats().Served > 0 })
	stop1()
	d.WaitState(ota.StateCommitted, m.ID, 60*time.Second)
	t.Logf("server 1 sent %d chunks before it stopped, server 2 %d", s1.Stats().Served, s2.Stats().Served)
}

// TestCollectAndRollback: the status table lists each device's model and last update; a
// rollback returns the group to the previous model.
func TestCollectAndRollback(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	s := otatest.NewSigner(t)
	d1 := otatest.StartDevice(t, b.URL(), otatest.Config(t, "cam-1", s.Pub))
	cfg2 := otatest.Config(t, "cam-2", s.Pub)
	cfg2.Groups = []string{"garage"}
	otatest.StartDevice(t, b.URL(), cfg2)
	conn := dial(t, b.URL())
	model := otatest.ReadFile(t, otatest.Sin)
	m, env, err := operator.SignUpdate(model, s.Priv, ota.UpdateOptions{Name: "sin", Version: "2", ChunkSize: 1024,
		Target: ota.Target{Groups: []string{"lobby"}}, Created: time.Now().Add(-2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := operator.Push(context.Background(), conn, operator.PushOptions{Model: model, Envelope: env, Wait: 20 * time.Second}); err != nil || res.Outcome() != "ok" {
		t.Fatalf("push: %s, %v", res.Outcome(), err)
	}

	rows, err := operator.Collect(context.Background(), dial(t, b.URL()), "", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Device != "cam-1" || rows[0].Active.Version != "2" || rows[0].State != ota.StateCommitted ||
		rows[0].Online != "online" || rows[1].Active.Version != "1.0" || rows[1].State != ota.StateIdle || time.Since(rows[0].LastSeen) > time.Minute {
		t.Fatalf("rows %+v", rows)
	}
	rows, err = operator.Collect(context.Background(), dial(t, b.URL()), "", "garage", 5*time.Second)
	if err != nil || len(rows) != 1 || rows[0].Device != "cam-2" {
		t.Fatalf("garage rows %+v, %v", rows, err)
	}

	res, err := operator.Rollback(context.Background(), conn, operator.RollbackOptions{Key: s.Priv,
		Target: ota.Target{Groups: []string{"lobby"}}, Wait: 20 * time.Second})
	if err != nil || res.Outcome() != "ok" {
		t.Fatalf("rollback: %s %+v, %v", res.Outcome(), res.Devices, err)
	}
	if res.Manifest.FromSHA256 != m.SHA256 {
		t.Fatalf("rollback from %q, want the retained update's model", res.Manifest.FromSHA256)
	}
	if got := d1.CheckOneValidModel(); got.Version != "1.0" {
		t.Fatalf("after rollback: %+v", got)
	}
	if st := d1.U.Status(); !strings.Contains(st.Reason, "requested by the operator") {
		t.Fatalf("status %+v", st)
	}
}
