//go:build long

package operator_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/natstest"
	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/operator"
	"github.com/edge-agent/edge-agent/ota/otatest"
)

// TestPushOnCluster pushes to a group from an operator connected to one node of a 3-node NATS
// cluster, to devices connected to the other two; the node under one device is killed during the
// transfer: the device fails over to another node, asks again for the chunks it lacks, and
// commits. (NATS's MQTT gateway has no shared subscriptions, so the push serves the chunks
// itself; see docs/fleet.md.) It runs in make test-long: a NATS cluster takes a while to elect
// its JetStream leaders, and the node loss costs the transfer about 15 s here.
func TestPushOnCluster(t *testing.T) {
	if natstest.Binary() == "" {
		t.Fatal("nats-server is not installed (make deps)")
	}
	c := natstest.Start(t, natstest.Options{})
	urls := c.URLs()
	s := otatest.NewSigner(t)
	var devs []*otatest.Device
	for i, id := range []string{"cam-1", "cam-2"} {
		d := otatest.NewDevice(t, "", otatest.Config(t, id, s.Pub))
		// cam-1 prefers node 1, cam-2 node 2; both can fail over to the others.
		d.Brokers = []string{urls[1+i], urls[2-i], urls[0]}
		d.Start()
		d.WaitState(ota.StateIdle, "", 10*time.Second)
		devs = append(devs, d)
	}
	model := otatest.ReadFile(t, otatest.Mobilenet)
	m, env, err := operator.SignUpdate(model, s.Priv, ota.UpdateOptions{Name: "mobilenet", Version: "2", ChunkSize: 4096,
		Target: ota.Target{Groups: []string{"lobby"}}})
	if err != nil {
		t.Fatal(err)
	}
	// A short acknowledgement bound: the publishes in flight when a node dies are never acknowledged.
	conn, err := operator.Dial(context.Background(), operator.Broker{URL: urls[0], AckTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	type result struct {
		res operator.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := operator.Push(context.Background(), conn, operator.PushOptions{Model: model, Envelope: env, Wait: 2 * time.Minute, Logger: otatest.Logger(t)})
		done <- result{res, err}
	}()

	// Kill cam-1's node once it has part of the model.
	victim := c.NodeByURL(urls[1])
	otatest.WaitFor(t, 60*time.Second, "cam-1 receiving", func() bool {
		st := devs[0].U.Status()
		return st.State == ota.StateReceiving && st.Progress != nil && st.Progress.Chunks > 0 || st.State == ota.StateCommitted
	})
	before := devs[0].U.Status()
	victim.Kill()
	if p := before.Progress; p != nil {
		t.Logf("node %s killed with cam-1 at %d of %d chunks", victim.Name(), p.Chunks, p.ChunksTotal)
	}
	for _, d := range devs {
		d.WaitState(ota.StateCommitted, m.ID, 2*time.Minute)
		d.CheckOneValidModel()
	}
	if b := devs[0].CL.Stats().Broker; b == "" || slices.Contains([]string{urls[1]}, b) {
		t.Errorf("cam-1 is on %q after its node was killed", b)
	}
	r := <-done
	if r.err != nil || r.res.Outcome() != "ok" {
		t.Fatalf("push: %v, outcome %s", r.err, r.res.Outcome())
	}
	victim.Start()
}
