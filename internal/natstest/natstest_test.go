package natstest

import (
	"fmt"
	"io"
	"net"
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
	// Still no will for d2, and its retained status still says online. watch is a QoS 1
	// subscriber whose JetStream consumer may have had n1 as its leader: the new leader may
	// deliver "online" once more (at least once allows it), so only a will fails here.
	noWill := time.After(time.Second)
	for done := false; !done; {
		select {
		case m := <-watch:
			if m.Topic() != "dev/d2/status" || string(m.Payload()) != "online" {
				t.Fatalf("unexpected %q on %s", m.Payload(), m.Topic())
			}
			t.Logf("%q on %s delivered again (duplicate flag %v)", m.Payload(), m.Topic(), m.Duplicate())
		case <-noWill:
			done = true
		}
	}
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

// TestGatewayLimits pins down what NATS 2.9's MQTT gateway does with what it does not support,
// as docs/fleet.md describes it: a QoS 2 subscription is granted QoS 1, a QoS 2 publish and a
// '.' in a topic close the connection, an MQTT 5 CONNECT is refused, and $share/<group>/<filter>
// is no shared subscription but a literal topic. And its permissions, which sync's delivery check relies on:
// a denied publish is acknowledged and dropped, a denied subscribe gets SUBACK 0x80, and a QoS 1
// subscription needs subscribe permission on $MQTT.sub.> (its JetStream consumer's delivery
// subject) besides the topic.
func TestGatewayLimits(t *testing.T) {
	c := Start(t, Options{Nodes: 1, Extra: `authorization {
  users = [
    {user: dev1, password: pw, permissions: {publish: ["edge.dev1.>"], subscribe: ["edge.dev1.>", "$MQTT.sub.>"]}}
    {user: bare, password: pw, permissions: {publish: ["edge.bare.>"], subscribe: ["edge.bare.>"]}}
    {user: any, password: pw}
  ]
}
`, ProbeUser: "any", ProbePassword: "pw"})
	n := c.Node(0)
	as := func(user string) func(*mqtt.ClientOptions) {
		return func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword("pw") }
	}
	cl := connect(t, n.URL(), "limits", as("any"))
	tok := cl.Subscribe("q2/x", 2, func(mqtt.Client, mqtt.Message) {})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if q := tok.(*mqtt.SubscribeToken).Result()["q2/x"]; q != 1 {
		t.Errorf("QoS 2 subscription granted %d; want 1", q)
	}

	// $share/... is a topic like any other. (paho's router takes a $share/ filter for a shared
	// subscription and would not route the literal topic to it: the default handler gets it.)
	shared := make(chan mqtt.Message, 10)
	sc := connect(t, n.URL(), "share", func(o *mqtt.ClientOptions) {
		as("any")(o)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { shared <- m })
	})
	if tok := sc.Subscribe("$share/g/s/+", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	publish(t, cl, "s/1", false, "to the filter")
	expectNone(t, shared, 500*time.Millisecond)
	publish(t, cl, "$share/g/s/1", false, "literal")
	expect(t, shared, "$share/g/s/1", "literal")

	lost := make(chan struct{})
	q2 := connect(t, n.URL(), "qos2", func(o *mqtt.ClientOptions) {
		as("any")(o)
		o.SetConnectionLostHandler(func(mqtt.Client, error) { close(lost) })
	})
	q2.Publish("q2/x", 2, false, "x")
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Error("a QoS 2 publish did not close the connection")
	}

	// A '.' in a topic (a device id like cam.7) closes the connection: NATS's subject separator.
	lostDot := make(chan struct{})
	dot := connect(t, n.URL(), "dot", func(o *mqtt.ClientOptions) {
		as("any")(o)
		o.SetConnectionLostHandler(func(mqtt.Client, error) { close(lostDot) })
	})
	dot.Publish("edge/cam.7/predictions", 1, false, "x")
	select {
	case <-lostDot:
	case <-time.After(10 * time.Second):
		t.Error("a '.' in a topic did not close the connection")
	}

	// Without credentials: 3.1.1 gets as far as authentication (0x05), 5 is refused for its
	// protocol version (0x84 in MQTT 5's reason codes; 0x01 in 3.1.1's).
	if code := rawConnect(t, n.Addr(), 4); code != 0x05 {
		t.Errorf("MQTT 3.1.1 CONNECT without credentials: %#x; want 0x05 (not authorised)", code)
	}
	if code := rawConnect(t, n.Addr(), 5); code != 0x84 && code != 0x01 {
		t.Errorf("MQTT 5 CONNECT: %#x; want a refusal for the protocol version", code)
	}

	// Permissions.
	dev := connect(t, n.URL(), "dev1", as("dev1"))
	own := collect(t, dev, "edge/dev1/predictions")
	publish(t, dev, "edge/dev1/predictions", false, "mine")
	expect(t, own, "edge/dev1/predictions", "mine")
	watch := collect(t, cl, "edge/#")
	publish(t, dev, "edge/dev2/predictions", false, "not mine") // acknowledged...
	expectNone(t, watch, 500*time.Millisecond)                  // ...and dropped
	for user, filter := range map[string]string{"dev1": "edge/dev2/#", "bare": "edge/bare/predictions"} {
		tok := connect(t, n.URL(), user+"-sub", as(user)).Subscribe(filter, 1, func(mqtt.Client, mqtt.Message) {})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		if code := tok.(*mqtt.SubscribeToken).Result()[filter]; code != 0x80 {
			t.Errorf("%s subscribing %s: SUBACK %#x; want 0x80", user, filter, code)
		}
	}
}

// rawConnect sends a CONNECT of the given protocol level and returns the CONNACK's return code,
// or 0xff when the connection is closed without one.
func rawConnect(t *testing.T, addr string, level byte) byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id := fmt.Sprintf("raw-v%d", level)
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', level, 0x02, 0, 30}
	if level == 5 {
		body = append(body, 0) // no properties
	}
	body = append(body, 0, byte(len(id)))
	body = append(body, id...)
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != 0x20 {
		return 0xff
	}
	return ack[3]
}
