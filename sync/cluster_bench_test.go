package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/internal/natstest"
	"github.com/edge-agent/edge-agent/store"
)

// BenchmarkCluster (make bench-cluster) runs n simulated devices in this process, each the real
// Client with its own bbolt outbox, against a 3-node NATS cluster (devices spread over the
// nodes by their lists' order) and against one mosquitto, and reports:
//
//   - records/s: a backlog of 5000 records over the outboxes, appended at once while every
//     device is connected, divided by the time until a QoS 1 consumer has seen every one;
//   - reconnect_s and drain_s: the node the message stream's leader is on (NATS) or the broker
//     (mosquitto, restarted at once) is SIGKILLed, another 5000 records are appended, and the
//     time from the kill until every device is connected again, and until the consumer has
//     every new record.
//
// Run it with -benchtime 1x: each iteration is one whole scenario. BENCH_VERIFY sets
// Config.Verify (default hold; off measures without the per-connection delivery check).
func BenchmarkCluster(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("nats3/devices=%d", n), func(b *testing.B) {
			for range b.N {
				c := natstest.Start(b, natstest.Options{})
				runClusterBench(b, n, natsTarget{c})
			}
		})
		b.Run(fmt.Sprintf("mosquitto/devices=%d", n), func(b *testing.B) {
			for range b.N {
				// Persistence with a save every second, as a production mosquitto would run: the
				// consumer's session survives the SIGKILL, so it misses nothing while it reconnects.
				m := mqtttest.Start(b, mqtttest.Options{Quiet: true, Persistence: true, Extra: "autosave_interval 1\n"})
				runClusterBench(b, n, mosquittoTarget{m})
			}
		})
	}
}

// benchTarget is what a benchmark run publishes to.
type benchTarget interface {
	deviceBrokers(i int) []string
	consumerURL() string // a broker that survives the node loss
	loseNode()           // SIGKILL a node (and restart it if it is the only one)
	// persistentConsumer says the consumer needs a persistent session to miss nothing: its
	// broker is the one killed.
	persistentConsumer() bool
}

type natsTarget struct{ c *natstest.Cluster }

func (t natsTarget) victim() *natstest.Node {
	if v := t.c.StreamLeader(natstest.MQTTMessages); v != nil {
		return v
	}
	return t.c.Node(0)
}

func (t natsTarget) deviceBrokers(i int) []string { return rotate(t.c.URLs(), i) }

func (t natsTarget) consumerURL() string {
	v := t.victim()
	for _, n := range t.c.Nodes() {
		if n != v {
			return n.URL()
		}
	}
	return ""
}

func (t natsTarget) loseNode()                { t.victim().Kill() }
func (t natsTarget) persistentConsumer() bool { return false }

type mosquittoTarget struct{ b *mqtttest.Broker }

func (t mosquittoTarget) deviceBrokers(int) []string { return []string{t.b.URL()} }
func (t mosquittoTarget) consumerURL() string        { return t.b.URL() }
func (t mosquittoTarget) loseNode()                  { t.b.Kill(); t.b.Start() }
func (t mosquittoTarget) persistentConsumer() bool   { return true }

func runClusterBench(b *testing.B, n int, target benchTarget) {
	const total = 5000
	perDevice := total / n
	cons := newCounter(b, target.consumerURL(), target.persistentConsumer())
	ctx := context.Background()
	type dev struct {
		db *store.DB
		c  *Client
	}
	devs := make([]dev, n)
	for i := range devs {
		id := fmt.Sprintf("bench%03d", i)
		db, err := store.Open(filepath.Join(b.TempDir(), id+".db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		cfg := clusterConfig(id, target.deviceBrokers(i))
		cfg.StatusInterval = time.Minute
		cfg.Backoff = Backoff{} // the defaults, as deployed
		cfg.Verify = os.Getenv("BENCH_VERIFY")
		c, err := New(cfg, db, nil)
		if err != nil {
			b.Fatal(err)
		}
		startClient(b, c)
		devs[i] = dev{db, c}
	}
	for _, d := range devs {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := d.c.WaitConnected(wctx)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	fill := func() {
		var wg gosync.WaitGroup
		for i, d := range devs {
			wg.Go(func() {
				id := fmt.Sprintf("bench%03d", i)
				if _, err := d.db.AppendBatch(ctx, perDevice, func(_ int, seq uint64) ([]byte, error) {
					return recordPayload(id, seq, 200), nil
				}); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}

	start := time.Now()
	fill()
	missing := cons.wait(n * perDevice)
	rate := float64(n*perDevice-missing) / cons.lastGrowth().Sub(start).Seconds()

	killed := time.Now()
	target.loseNode()
	fill()
	waitFor(b, 5*time.Minute, "every device connected again", func() bool {
		for _, d := range devs {
			if d.c.State() != StateConnected {
				return false
			}
		}
		return true
	})
	reconnect := time.Since(killed)
	missing = cons.wait(2 * n * perDevice)
	drain := cons.lastGrowth().Sub(killed)
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(reconnect.Seconds(), "reconnect_s")
	b.ReportMetric(drain.Seconds(), "drain_s")
	b.ReportMetric(float64(cons.messages())/float64(2*n*perDevice), "msgs/record")
	// Records the devices had acknowledged and deleted that the consumer never received: a
	// loss, not a slow broker (it waits a minute after the last new record).
	b.ReportMetric(float64(missing), "lost")
	if missing > 0 {
		b.Errorf("%d records acknowledged by the broker never reached the consumer", missing)
	}
}

// counter is a QoS 1 consumer of every device's predictions that counts distinct records.
type counter struct {
	mu    gosync.Mutex
	seen  map[string]bool // "device/seq"
	msgs  int
	last  time.Time // when the latest new record arrived
	grown chan struct{}
}

func newCounter(b testing.TB, url string, persistent bool) *counter {
	c := &counter{seen: map[string]bool{}, grown: make(chan struct{}, 1)}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		var r struct {
			Device string
			Seq    uint64
		}
		if json.Unmarshal(m.Payload(), &r) != nil {
			return
		}
		key := r.Device + "/" + fmt.Sprint(r.Seq)
		c.mu.Lock()
		c.msgs++
		if !c.seen[key] {
			c.seen[key] = true
			c.last = time.Now()
		}
		c.mu.Unlock()
		select {
		case c.grown <- struct{}{}:
		default:
		}
	}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("bench-consumer-%d", time.Now().UnixNano())).
		SetProtocolVersion(4).SetCleanSession(!persistent).SetAutoReconnect(true).SetMaxReconnectInterval(100 * time.Millisecond).
		SetKeepAlive(10 * time.Second).SetOrderMatters(false).
		SetOnConnectHandler(func(cl mqtt.Client) { cl.Subscribe("edge/+/predictions", 1, handler) })
	cl := mqtt.NewClient(o)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("consumer: %v", tok.Error())
	}
	// The connect handler subscribes; make sure the broker has it before anything is published.
	if tok := cl.Subscribe("edge/+/predictions", 1, handler); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("consumer subscribe: %v", tok.Error())
	}
	b.Cleanup(func() { cl.Disconnect(0) })
	if persistent {
		time.Sleep(1500 * time.Millisecond) // past mosquitto's next autosave, with the subscription
	}
	return c
}

// wait waits until the consumer has n distinct records, or until a minute passes without a new
// one (ten at most in all), and returns how many are missing.
func (c *counter) wait(n int) (missing int) {
	const stall = time.Minute
	deadline := time.Now().Add(10 * time.Minute)
	for {
		c.mu.Lock()
		got, last := len(c.seen), c.last
		c.mu.Unlock()
		if got >= n {
			return 0
		}
		if (!last.IsZero() && time.Since(last) > stall) || time.Now().After(deadline) {
			return n - got
		}
		select {
		case <-c.grown:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *counter) lastGrowth() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *counter) messages() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs
}
