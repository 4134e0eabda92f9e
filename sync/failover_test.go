package sync

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

func TestBrokersConfig(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"both", Config{Broker: "tcp://a", Brokers: []string{"tcp://b"}}, "set one"},
		{"twice", Config{Brokers: []string{"tcp://a", "mqtt://a:1883"}}, "listed twice"},
		{"mixed TLS", Config{Brokers: []string{"ssl://a", "tcp://b"}}, "mix TLS and plain"},
		{"bad entry", Config{Brokers: []string{"tcp://a", "http://b"}}, `broker "http://b"`},
		{"TLS files, plain list", Config{Brokers: []string{"tcp://a", "tcp://b"}, InsecureSkipVerify: true}, "not TLS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DeviceID = "dev1"
			_, err := New(tt.cfg, newMemOutbox(), nil)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v; want ErrConfig containing %q", err, tt.want)
			}
		})
	}
	c, err := New(Config{DeviceID: "dev1", Brokers: []string{"mqtts://a", "wss://b/mqtt"}}, newMemOutbox(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each TLS broker is verified against its own host name.
	if len(c.brokers) != 2 || c.brokers[0].tls.ServerName != "a" || c.brokers[1].tls.ServerName != "b" || c.brokers[1].name != "wss://b:443/mqtt" {
		t.Fatalf("brokers: %+v", c.brokers)
	}
}

// TestFailoverBetweenBrokers: the first broker of the list is down at start, so the client uses
// the second and says so (Stats, status sync.broker); when that one dies and records keep
// coming, the client moves back to the first, which has come up meanwhile, and every record arrives
// in order across the two. (Two independent mosquittos: each observer sees one broker's part.)
func TestFailoverBetweenBrokers(t *testing.T) {
	a := mqtttest.Start(t, mqtttest.Options{})
	b := mqtttest.Start(t, mqtttest.Options{})
	a.Stop()
	obsB := subscribe(t, b.URL(), "edge/dev1/#", false)
	ob := newMemOutbox()
	cfg := fastConfig("", "dev1")
	cfg.Brokers = []string{a.URL(), b.URL()}
	c, rec := newTestClient(t, cfg, ob)
	startClient(t, c)
	waitConnected(t, c)
	if got := c.Stats().Broker; got != b.URL() {
		t.Fatalf("connected to %q; want the second broker %s", got, b.URL())
	}
	waitFor(t, 5*time.Second, "status naming the broker", func() bool {
		st := obsB.lastJSON("edge/dev1/status")
		s, _ := st["sync"].(map[string]any)
		return s["broker"] == b.URL()
	})

	var appended []uint64
	add := func(n int) {
		for range n {
			seq, _ := ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 100), nil })
			appended = append(appended, seq)
		}
	}
	add(100)
	// b is killed once its observer has every record b took: a record b acknowledged but had
	// not yet passed on dies with b, which is the broker's loss, not the client's (it once
	// failed this test). Records still arrive while the client fails over.
	waitFor(t, 10*time.Second, "first records on b", func() bool { return len(obsB.seqs(t, "edge/dev1/predictions")) >= 100 })
	a.Start()
	obsA := subscribe(t, a.URL(), "edge/dev1/#", false)
	b.Kill()
	add(100)
	waitFor(t, 10*time.Second, "failover to a", func() bool { return c.Stats().Broker == a.URL() })
	add(100)
	waitFor(t, 10*time.Second, "outbox drained", func() bool { return ob.Len() == 0 })
	got := append(obsB.seqs(t, "edge/dev1/predictions"), obsA.seqs(t, "edge/dev1/predictions")...)
	waitFor(t, 10*time.Second, "every record observed", func() bool {
		got = append(obsB.seqs(t, "edge/dev1/predictions"), obsA.seqs(t, "edge/dev1/predictions")...)
		return checkOrder(appended, got) == nil
	})
	if rec.count("connected to another broker (failover)", "previous="+b.URL(), "broker="+a.URL()) != 1 {
		t.Fatalf("failover not logged:\n%s", rec.dump())
	}
	st := obsA.lastJSON("edge/dev1/status")
	if s, _ := st["sync"].(map[string]any); st["state"] != "online" || s["broker"] != a.URL() {
		t.Fatalf("status on a after the failover: %v", st)
	}
}

// TestWaitConnectedWithOneBadBroker: a broker that refuses the credentials is only logged while
// another accepts them; WaitConnected reports the refusal when every broker gives it.
func TestWaitConnectedWithOneBadBroker(t *testing.T) {
	bad := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"dev1": "other"}})
	good := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"dev1": "pw"}})
	cfg := fastConfig("", "dev1")
	cfg.Username, cfg.Password = "dev1", "pw"
	cfg.Brokers = []string{bad.URL(), good.URL()}
	c, rec := newTestClient(t, cfg, newMemOutbox())
	startClient(t, c)
	waitConnected(t, c)
	if c.Stats().Broker != good.URL() || rec.count("connection unusable", "broker="+bad.URL()) == 0 {
		t.Fatalf("broker %q; want %s after a logged refusal by %s", c.Stats().Broker, good.URL(), bad.URL())
	}

	bad2 := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"dev1": "other"}})
	cfg.Brokers = []string{bad.URL(), bad2.URL()}
	c2, _ := newTestClient(t, cfg, newMemOutbox())
	startClient(t, c2)
	if err := waitErr(t, c2); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("WaitConnected = %v; want ErrNotAuthorized", err)
	}
}
