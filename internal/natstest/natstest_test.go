package natstest

import (
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

func connect(t *testing.T, url, id string, mod func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetKeepAlive(10 * time.Second).SetProtocolVersion(4)
	if mod != nil {
		mod(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// collect subscribes c to filter (QoS 1) and returns a channel of what arrives.
func collect(t *testing.T, c mqtt.Client, filter string) <-chan mqtt.Message {
	t.Helper()
	ch := make(chan mqtt.Message, 100)
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { ch <- m })
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return ch
}

func publish(t *testing.T, c mqtt.Client, topic string, retained bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func expect(t *testing.T, ch <-chan mqtt.Message, topic, payload string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-ch:
			if m.Topic() == topic && string(m.Payload()) == payload {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on %s within 10s", payload, topic)
		}
	}
}

func expectNone(t *testing.T, ch <-chan mqtt.Message, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected %q on %s", m.Payload(), m.Topic())
	case <-time.After(d):
	}
}

// TestCluster: messages published on one node reach QoS 1 subscribers on the others, retained
// messages are seen from every node, and a killed node comes back on its ports with what was
// retained while it was down. On the way it pins down what NATS 2.9 does with a client's will
// (LWT), which sync/doc.go and docs/fleet.md describe: the node a client is connected to
// publishes it when that connection dies while the node lives, but when the node itself dies
// nobody does, then or after it restarts (the will lives only in that node's memory).
func TestCluster(t *testing.T) {
	c := Start(t, Options{})
	if len(c.Nodes()) != 3 || len(c.URLs()) != 3 {
		t.Fatalf("%d nodes, %d URLs", len(c.Nodes()), len(c.URLs()))
	}
	for i, u := range c.URLs() {
		if !strings.HasPrefix(u, "tcp://127.0.0.1:") || c.NodeByURL(u) != c.Node(i) {
			t.Fatalf("URL %d = %q", i, u)
		}
	}
	if l := c.StreamLeader(MQTTMessages); l == nil {
		t.Fatalf("no leader for %s", MQTTMessages)
	}
	n1, n2, n3 := c.Node(0), c.Node(1), c.Node(2)
	pub := connect(t, n1.URL(), "pub", nil)
	sub := collect(t, connect(t, n3.URL(), "sub", nil), "a/#")
	publish(t, pub, "a/b", false, "one")
	expect(t, sub, "a/b", "one")
	publish(t, pub, "a/r", true, "kept")
	expect(t, sub, "a/r", "kept")
	expect(t, collect(t, connect(t, n2.URL(), "late", nil), "a/r"), "a/r", "kept")

	// A dead link to a live node: the node publishes the will.
	watch := collect(t, connect(t, n3.URL(), "watch", nil), "dev/+/status")
	will := func(id string) func(*mqtt.ClientOptions) {
		return func(o *mqtt.ClientOptions) { o.SetWill("dev/"+id+"/status", "lost", 1, true) }
	}
	p := mqtttest.NewProxy(t, n1.Addr())
	d1 := connect(t, "tcp://"+p.Addr(), "d1", will("d1"))
	publish(t, d1, "dev/d1/status", true, "online")
	expect(t, watch, "dev/d1/status", "online")
	p.Cut()
	expect(t, watch, "dev/d1/status", "lost")

	// The node dies under its clients: they notice, and nobody publishes their will.
	lost := make(chan struct{})
	d2 := connect(t, n1.URL(), "d2", func(o *mqtt.ClientOptions) {
		will("d2")(o)
		o.SetConnectionLostHandler(func(mqtt.Client, error) { close(lost) })
	})
	publish(t, d2, "dev/d2/status", true, "online")
	expect(t, watch, "dev/d2/status", "online")
	n1.Kill()
	if n1.Running() {
		t.Fatal("killed node still running")
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("a client of the killed node still thinks it is connected")
	}
	// The two others go on once JetStream has new leaders for what n1 led.
	if err := n2.WaitReady(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	pub2 := connect(t, n2.URL(), "pub2", nil)
	publish(t, pub2, "a/r", true, "while n1 was down")
	expect(t, sub, "a/r", "while n1 was down")

	n1.Start()
	if !n1.Healthy() {
		t.Fatal("restarted node not healthy")
	}
	expect(t, collect(t, connect(t, n1.URL(), "back", nil), "a/r"), "a/r", "while n1 was down")
	// Still no will for d2, and its retained status still says online.
	expectNone(t, watch, time.Second)
	expect(t, collect(t, connect(t, n2.URL(), "late2", nil), "dev/d2/status"), "dev/d2/status", "online")
}

// TestSingleNode: Nodes: 1 is one server with JetStream and MQTT, no routes.
func TestSingleNode(t *testing.T) {
	c := Start(t, Options{Nodes: 1})
	cl := connect(t, c.Node(0).URL(), "solo", nil)
	ch := collect(t, cl, "x")
	publish(t, cl, "x", false, "hi")
	expect(t, ch, "x", "hi")
	c.Node(0).Stop()
	c.Node(0).Start()
	connect(t, c.Node(0).URL(), "solo2", nil)
}
