package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	gosync "sync"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/natstest"
	"github.com/edge-agent/edge-agent/store"
)

// device is one simulated agent on a cluster: the real bbolt outbox and the real Client, and a
// producer appending records to the outbox as fast as the store takes them, as the agent's
// pipeline does.
type device struct {
	t  testing.TB
	id string
	db *store.DB
	c  *Client

	mu       gosync.Mutex
	stored   map[uint64][]byte // every record appended, by seq
	appended []uint64          // seqs in append order
}

// clusterConfig is a Client configuration for cluster tests: NATS answers a CONNECT or PUBLISH
// it cannot store within its 4 s JetStream timeout, so the timeouts are the agent's defaults,
// with a quicker backoff.
func clusterConfig(id string, brokers []string) Config {
	return Config{
		Brokers:        brokers,
		DeviceID:       id,
		AgentVersion:   "test-cluster",
		KeepAlive:      5 * time.Second,
		ConnectTimeout: 10 * time.Second,
		StatusInterval: 2 * time.Second,
		Backoff:        Backoff{Initial: 200 * time.Millisecond, Max: 2 * time.Second, Jitter: 0.2},
		VerifyTimeout:  5 * time.Second,
	}
}

func startDevice(t testing.TB, cfg Config) *device {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), cfg.DeviceID+".db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, rec := newLogRecorder(t)
	c, err := New(cfg, db, log)
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, id: cfg.DeviceID, db: db, c: c, stored: map[uint64][]byte{}}
	// Registered before startClient's cleanup, so it runs after the client has stopped.
	t.Cleanup(func() {
		db.Close()
		if t.Failed() {
			t.Logf("%s client log:\n%s", d.id, rec.dump())
		}
	})
	startClient(t, c)
	return d
}

// produce appends records until ctx ends, pausing every between them (0: back to back).
func (d *device) produce(ctx context.Context, every time.Duration) error {
	for i := 0; ctx.Err() == nil; i++ {
		var payload []byte
		// Not ctx: an append cancelled while its commit is under way may still be stored, and
		// every stored record must be known.
		seq, err := d.db.Append(context.Background(), func(seq uint64) ([]byte, error) {
			payload = recordPayload(d.id, seq, 150+i%100)
			return payload, nil
		})
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.stored[seq] = payload
		d.appended = append(d.appended, seq)
		d.mu.Unlock()
		if every > 0 {
			select {
			case <-time.After(every):
			case <-ctx.Done():
			}
		}
	}
	return nil
}

// check verifies the delivery contract at the consumer for this device: every record arrived,
// byte for byte as stored, first appearances in seq order, anything else a re-send of a seq
// already seen. It returns the number of messages and of duplicates.
func (d *device) check(sub *subscriber) (msgs, dups int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	topic := "edge/" + d.id + "/predictions"
	var got []uint64
	for _, m := range sub.messages() {
		if m.Topic() != topic {
			continue
		}
		var r struct{ Seq uint64 }
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			return 0, 0, fmt.Errorf("%s: not a record: %q", topic, m.Payload())
		}
		if want, ok := d.stored[r.Seq]; ok && !bytes.Equal(m.Payload(), want) {
			return 0, 0, fmt.Errorf("%s: seq %d arrived as %q, stored as %q", topic, r.Seq, m.Payload(), want)
		}
		got = append(got, r.Seq)
	}
	if err := checkOrder(d.appended, got); err != nil {
		return 0, 0, fmt.Errorf("%s: %w", d.id, err)
	}
	return len(got), len(got) - len(d.appended), nil
}

// waitDelivered waits until check passes and returns its counts, or fails with its error.
func (d *device) waitDelivered(t testing.TB, sub *subscriber, timeout time.Duration) (msgs, dups int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msgs, dups, err := d.check(sub)
		if err == nil {
			return msgs, dups
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rotate returns urls starting at index i: a device's list of brokers in its order of
// preference, so a fleet with lists rotated by device spreads over the nodes.
func rotate(urls []string, i int) []string {
	i %= len(urls)
	return append(slices.Clone(urls[i:]), urls[:i]...)
}

// clusterNodeLoss is the acceptance test of issue 15: a device publishing at its full rate to
// the node that leads the QoS 1 message stream (the worst node to lose) while that node is
// SIGKILLed and later restarted. The Client fails over; every record reaches a consumer on
// another node exactly as stored, in seq order, duplicates only re-sends of a seq; the retained
// status is right afterwards. It returns how long the device had no connection and how long no
// record was acknowledged.
func clusterNodeLoss(t *testing.T, c *natstest.Cluster, downFor time.Duration) (unconnected, noAck time.Duration) {
	victim := c.StreamLeader(natstest.MQTTMessages)
	if victim == nil {
		t.Fatal("no leader for the message stream")
	}
	var consumerNode *natstest.Node
	for _, n := range c.Nodes() {
		if n != victim {
			consumerNode = n
			break
		}
	}
	consumer := subscribe(t, consumerNode.URL(), "edge/+/predictions", false)
	urls := c.URLs()
	d := startDevice(t, clusterConfig("dev1", rotate(urls, slices.Index(urls, victim.URL()))))
	waitConnected(t, d.c)
	if got := d.c.Stats().Broker; got != victim.URL() {
		t.Fatalf("connected to %s; want the first of the list, %s", got, victim.URL())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	produced := make(chan error, 1)
	go func() { produced <- d.produce(ctx, 0) }()
	waitFor(t, 10*time.Second, "records flowing", func() bool { return d.c.Stats().Acked > 200 })

	acked := d.c.Stats().Acked
	killed := time.Now()
	victim.Kill()
	waitFor(t, 60*time.Second, "failover", func() bool {
		st := d.c.Stats()
		return st.State == StateConnected && st.Broker != victim.URL()
	})
	unconnected = time.Since(killed)
	waitFor(t, 60*time.Second, "records acknowledged again", func() bool { return d.c.Stats().Acked > acked+100 })
	noAck = time.Since(killed)
	time.Sleep(max(0, downFor-time.Since(killed)))
	victim.Start()
	time.Sleep(time.Second) // keep producing while the node rejoins
	cancel()
	if err := <-produced; err != nil {
		t.Fatalf("append: %v", err)
	}
	waitFor(t, 60*time.Second, "outbox drained", func() bool { return d.db.Stats().Records == 0 })
	msgs, dups := d.waitDelivered(t, consumer, 30*time.Second)
	st := d.c.Stats()
	t.Logf("%d records, %d messages at the consumer (%d duplicates); node %s killed: connected to %s after %s, acknowledgements again after %s",
		len(d.appended), msgs, dups, victim.Name(), st.Broker, unconnected.Round(time.Millisecond), noAck.Round(time.Millisecond))

	// The retained status, read afresh from the restarted node, is this connection's.
	status := subscribe(t, victim.URL(), "edge/dev1/status", false)
	waitFor(t, 10*time.Second, "retained online status naming the broker in use", func() bool {
		m := status.lastJSON("edge/dev1/status")
		s, _ := m["sync"].(map[string]any)
		return m["state"] == "online" && s["broker"] == d.c.Stats().Broker && s["reconnects"].(float64) >= 1
	})
	return unconnected, noAck
}

// clusterFleet: n devices spread over every node but the consumer's, a consumer on that node;
// with kill, a device node is killed mid-stream and restarted. Nothing is lost and each device's
// order holds.
func clusterFleet(t *testing.T, c *natstest.Cluster, n int, runFor time.Duration, kill bool) {
	nodes := c.Nodes()
	consumerNode := nodes[len(nodes)-1]
	consumer := subscribe(t, consumerNode.URL(), "edge/+/predictions", false)
	var devURLs []string
	for _, node := range nodes[:len(nodes)-1] {
		devURLs = append(devURLs, node.URL())
	}
	devices := make([]*device, n)
	for i := range devices {
		// The consumer's node comes last in every list: a device uses it only when the others fail.
		devices[i] = startDevice(t, clusterConfig(fmt.Sprintf("fleet%02d", i), append(rotate(devURLs, i), consumerNode.URL())))
	}
	for _, d := range devices {
		waitConnected(t, d.c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg gosync.WaitGroup
	errs := make(chan error, n)
	for _, d := range devices {
		wg.Go(func() {
			if err := d.produce(ctx, 20*time.Millisecond); err != nil {
				errs <- err
			}
		})
	}
	victim := nodes[0]
	if kill {
		time.Sleep(runFor / 3)
		victim.Kill()
		time.Sleep(runFor / 3)
		victim.Start()
		time.Sleep(runFor / 3)
	} else {
		time.Sleep(runFor)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	for _, d := range devices {
		waitFor(t, 60*time.Second, d.id+" outbox drained", func() bool { return d.db.Stats().Records == 0 })
	}
	total, dups := 0, 0
	for _, d := range devices {
		m, dd := d.waitDelivered(t, consumer, 30*time.Second)
		total += m
		dups += dd
	}
	spread := map[string]int{}
	for _, d := range devices {
		spread[c.NodeByURL(d.c.Stats().Broker).Name()]++
	}
	if !kill && len(spread) != len(nodes)-1 {
		t.Fatalf("devices per node %v: want them spread over every node but the consumer's", spread)
	}
	t.Logf("%d devices (now per node: %v), %d messages at the consumer on %s (%d duplicates), node %s killed and restarted: %v",
		n, spread, total, consumerNode.Name(), dups, victim.Name(), kill)
}
