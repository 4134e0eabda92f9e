package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// fastConfig is a Config for tests: quick reconnects and checks.
func fastConfig(url, device string) Config {
	return Config{
		Broker:         url,
		DeviceID:       device,
		AgentVersion:   "test-1.2.3",
		KeepAlive:      2 * time.Second,
		ConnectTimeout: 3 * time.Second,
		Backoff:        Backoff{Initial: 50 * time.Millisecond, Max: 300 * time.Millisecond, Jitter: 0.1},
		VerifyTimeout:  time.Second,
	}
}

func newTestClient(t *testing.T, cfg Config, ob Outbox) (*Client, *logRecorder) {
	t.Helper()
	log, rec := newLogRecorder(t)
	c, err := New(cfg, ob, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s", rec.dump())
		}
	})
	return c, rec
}

func waitConnected(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitConnected(ctx); err != nil {
		t.Fatalf("WaitConnected: %v", err)
	}
}

func TestPublishesInOrderAndAcks(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	ob := newMemOutbox()
	var appended []uint64
	for i := range 200 {
		seq, _ := ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, i%50), nil })
		appended = append(appended, seq)
	}
	cfg := fastConfig(b.URL(), "dev1")
	cfg.InFlight = 8
	sub := subscribe(t, b.URL(), "edge/dev1/predictions", false)
	c, _ := newTestClient(t, cfg, ob)
	startClient(t, c)
	waitFor(t, 10*time.Second, "outbox drained", func() bool { return ob.Len() == 0 })
	for i := range 100 {
		seq, _ := ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, i), nil })
		appended = append(appended, seq)
	}
	waitFor(t, 10*time.Second, "all records at the subscriber", func() bool {
		return len(sub.seqs(t, "edge/dev1/predictions")) >= len(appended)
	})
	if err := checkOrder(appended, sub.seqs(t, "edge/dev1/predictions")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "outbox drained", func() bool { return ob.Len() == 0 })
	st := c.Stats()
	if st.State != StateConnected || st.Acked != uint64(len(appended)) || st.Published < st.Acked || st.LastAck.IsZero() {
		t.Fatalf("stats %+v after %d records", st, len(appended))
	}
	// The payloads are published exactly as stored.
	msgs := sub.messages()
	if got, want := string(msgs[0].Payload()), string(recordPayload("dev1", appended[0], 0)); got != want {
		t.Fatalf("payload %s, want %s", got, want)
	}
}

// TestOutageMemOutbox stops the broker during a steady stream; every record arrives in order.
func TestOutageMemOutbox(t *testing.T) {
	ob := newMemOutbox()
	runOutage(t, ob, func(ctx context.Context, i int) (uint64, error) {
		return ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 200), nil })
	})
}

// runOutage streams records into ob through appendFn while the broker is stopped for a while and
// started again, then checks that the subscriber got every record, in order.
func runOutage(t *testing.T, ob Outbox, appendFn func(ctx context.Context, i int) (uint64, error)) {
	b := mqtttest.Start(t, mqtttest.Options{Persistence: true})
	sub := subscribe(t, b.URL(), "edge/dev1/predictions", true)
	c, rec := newTestClient(t, fastConfig(b.URL(), "dev1"), ob)
	startClient(t, c)
	waitConnected(t, c)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The stream runs for 3 s whatever the outbox's append latency (a lone appender to the
	// store waits for a group commit and an fsync per record).
	const streamFor = 3 * time.Second
	var (
		mu       gosync.Mutex
		appended []uint64
	)
	produced := make(chan error, 1)
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		end := time.Now().Add(streamFor)
		for i := 0; time.Now().Before(end); i++ {
			<-tick.C
			seq, err := appendFn(ctx, i)
			if err != nil {
				produced <- err
				return
			}
			mu.Lock()
			appended = append(appended, seq)
			mu.Unlock()
		}
		produced <- nil
	}()

	time.Sleep(700 * time.Millisecond)
	b.Stop()
	waitFor(t, 5*time.Second, "client to notice the outage", func() bool { return c.State() != StateConnected })
	time.Sleep(1200 * time.Millisecond)
	b.Start()
	if err := <-produced; err != nil {
		t.Fatalf("append: %v", err)
	}
	waitFor(t, 20*time.Second, "every record at the subscriber", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return checkOrder(appended, sub.seqs(t, "edge/dev1/predictions")) == nil
	})
	got := sub.seqs(t, "edge/dev1/predictions")
	if err := checkOrder(appended, got); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Reconnects < 1 {
		t.Fatalf("Reconnects = %d; the outage was not seen", st.Reconnects)
	}
	if rec.count("disconnected; retrying") == 0 {
		t.Fatal("no retry logged")
	}
	t.Logf("%d records, %d messages received (%d duplicates), %d reconnects", len(appended), len(got), len(got)-len(appended), st.Reconnects)
}

func TestTLSAndMutualTLS(t *testing.T) {
	pki := mqtttest.NewPKI(t, "dev1")
	t.Run("TLS", func(t *testing.T) {
		b := mqtttest.Start(t, mqtttest.Options{PKI: pki})
		cfg := fastConfig(b.URL(), "dev1")
		cfg.CAFile = pki.CAFile
		ob := newMemOutbox()
		ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
		c, _ := newTestClient(t, cfg, ob)
		startClient(t, c)
		waitConnected(t, c)
		waitFor(t, 5*time.Second, "record acknowledged over TLS", func() bool { return ob.Len() == 0 })
	})
	t.Run("mTLS", func(t *testing.T) {
		b := mqtttest.Start(t, mqtttest.Options{PKI: pki, RequireClientCert: true,
			// The certificate's CN is the username: only dev1's topics are allowed.
			ACL: "pattern readwrite edge/%u/#\n"})
		cfg := fastConfig(b.URL(), "dev1")
		cfg.CAFile, cfg.CertFile, cfg.KeyFile = pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile
		ob := newMemOutbox()
		ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
		c, _ := newTestClient(t, cfg, ob)
		startClient(t, c)
		waitConnected(t, c)
		waitFor(t, 5*time.Second, "record acknowledged over mTLS", func() bool { return ob.Len() == 0 })
		if c.Stats().PublishDenied {
			t.Fatal("publish reported denied")
		}
	})
	t.Run("wrong CA", func(t *testing.T) {
		b := mqtttest.Start(t, mqtttest.Options{PKI: pki})
		other := mqtttest.NewPKI(t, "dev1")
		cfg := fastConfig(b.URL(), "dev1")
		cfg.CAFile = other.CAFile
		c, rec := newTestClient(t, cfg, newMemOutbox())
		startClient(t, c)
		err := waitErr(t, c)
		if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("WaitConnected = %v; want ErrTLS about the certificate", err)
		}
		waitFor(t, 5*time.Second, "retries logged with the cause", func() bool {
			return rec.count("connection unusable; retrying", "certificate") >= 2
		})
		if st := c.Stats(); !errors.Is(st.LastError, ErrTLS) || st.State == StateConnected {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("client cert from another CA", func(t *testing.T) {
		b := mqtttest.Start(t, mqtttest.Options{PKI: pki, RequireClientCert: true})
		other := mqtttest.NewPKI(t, "dev1")
		cfg := fastConfig(b.URL(), "dev1")
		cfg.CAFile, cfg.CertFile, cfg.KeyFile = pki.CAFile, other.ClientCertFile, other.ClientKeyFile
		c, _ := newTestClient(t, cfg, newMemOutbox())
		startClient(t, c)
		if err := waitErr(t, c); !errors.Is(err, ErrTLS) {
			t.Fatalf("WaitConnected = %v; want ErrTLS", err)
		}
	})
	t.Run("insecure skip verify", func(t *testing.T) {
		b := mqtttest.Start(t, mqtttest.Options{PKI: pki})
		cfg := fastConfig(b.URL(), "dev1")
		cfg.CAFile, cfg.InsecureSkipVerify = mqtttest.NewPKI(t, "x").CAFile, true
		c, _ := newTestClient(t, cfg, newMemOutbox())
		startClient(t, c)
		waitConnected(t, c)
	})
	t.Run("missing client cert", func(t *testing.T) {
		b := mqtttest.Start(t, mqtttest.Options{PKI: pki, RequireClientCert: true})
		cfg := fastConfig(b.URL(), "dev1")
		cfg.CAFile = pki.CAFile
		c, _ := newTestClient(t, cfg, newMemOutbox())
		startClient(t, c)
		err := waitErr(t, c)
		if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "client certificate") {
			t.Fatalf("WaitConnected = %v; want ErrTLS about the client certificate", err)
		}
	})
}

// waitErr expects WaitConnected to fail with a permanent error quickly.
func waitErr(t *testing.T, c *Client) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.WaitConnected(ctx)
	if err == nil {
		t.Fatal("WaitConnected succeeded")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConnected did not surface the failure: %v", err)
	}
	t.Logf("WaitConnected: %v", err)
	return err
}

func TestBadPassword(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Users: map[string]string{"dev1": "right"}})
	cfg := fastConfig(b.URL(), "dev1")
	cfg.Username, cfg.Password = "dev1", "wrong"
	c, _ := newTestClient(t, cfg, newMemOutbox())
	startClient(t, c)
	if err := waitErr(t, c); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("WaitConnected = %v; want ErrNotAuthorized", err)
	}
}

// TestPublishDeniedIsReported uses an ACL that lets the device read its predictions topic but
// not write it: mosquitto acknowledges and drops every prediction. The client must keep the
// records and report the denial instead of emptying the outbox.
func TestPublishDeniedIsReported(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{
		Users: map[string]string{"dev1": "pw", "ops": "pw"},
		ACL: "user dev1\ntopic read edge/dev1/predictions\ntopic readwrite edge/dev1/status\n" +
			"topic readwrite edge/dev1/events\ntopic read edge/dev1/cmd/#\n" +
			"user ops\ntopic read #\n",
	})
	ops := func(o *mqtt.ClientOptions) { o.SetUsername("ops").SetPassword("pw") }
	sub := subscribe(t, b.URL(), "edge/dev1/#", false, ops)
	cfg := fastConfig(b.URL(), "dev1")
	cfg.Username, cfg.Password = "dev1", "pw"
	ob := newMemOutbox()
	for range 5 {
		ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
	}
	c, rec := newTestClient(t, cfg, ob)
	startClient(t, c)
	waitFor(t, 10*time.Second, "denial reported", func() bool { return c.Stats().PublishDenied })
	if !errors.Is(c.Stats().LastError, ErrPublishDenied) {
		t.Fatalf("LastError = %v", c.Stats().LastError)
	}
	if rec.count("ERROR", "publish_denied") == 0 {
		t.Fatal("no error logged")
	}
	waitFor(t, 5*time.Second, "warning event", func() bool {
		ev := sub.lastJSON("edge/dev1/events")
		return ev != nil && ev["kind"] == "warning" && ev["fields"].(map[string]any)["warning"] == "publish_denied"
	})
	waitFor(t, 5*time.Second, "status with the error", func() bool {
		st := sub.lastJSON("edge/dev1/status")
		s, _ := st["sync"].(map[string]any)
		e, _ := s["last_error"].(string)
		return strings.Contains(e, "acknowledged but not delivered back")
	})
	// Nothing was lost, and the retries back off instead of spinning.
	if ob.Len() != 5 {
		t.Fatalf("outbox has %d records, want all 5 kept", ob.Len())
	}
	time.Sleep(time.Second)
	if n := c.Stats().Published; n > 10 {
		t.Fatalf("published %d times in ~2s: retrying without backoff", n)
	}
	if len(sub.seqs(t, "edge/dev1/predictions")) != 0 {
		t.Fatal("the observer got a prediction the ACL denies")
	}
}

// TestSubscribeDeniedIsReported uses the dynamic-security plugin, which answers a denied
// SUBSCRIBE with SUBACK 0x80.
func TestSubscribeDeniedIsReported(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{DynSec: map[string]mqtttest.DynSecUser{
		"dev1": {Password: "pw", Publish: []string{"edge/dev1/#"}, Subscribe: []string{"edge/dev1/predictions"}},
	}})
	cfg := fastConfig(b.URL(), "dev1")
	cfg.Username, cfg.Password = "dev1", "pw"
	ob := newMemOutbox()
	c, rec := newTestClient(t, cfg, ob)
	startClient(t, c)
	waitConnected(t, c)
	waitFor(t, 5*time.Second, "subscription denial reported", func() bool {
		return errors.Is(c.Stats().LastError, ErrSubscribeDenied)
	})
	if rec.count("ERROR", "subscribe_denied", "cmd/+") == 0 {
		t.Fatal("no error logged")
	}
	// Publishing still works.
	ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
	waitFor(t, 5*time.Second, "record acknowledged", func() bool { return ob.Len() == 0 })
}

func TestCommandsAndMalformedMessages(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := fastConfig(b.URL(), "dev1")
	var (
		mu   gosync.Mutex
		cmds []Command
	)
	cfg.OnCommand = func(_ context.Context, cmd Command) error {
		mu.Lock()
		defer mu.Unlock()
		cmds = append(cmds, cmd)
		switch cmd.Name {
		case "fail":
			return errors.New("cannot do that")
		case "panic":
			panic("handler bug")
		}
		return nil
	}
	sub := subscribe(t, b.URL(), "edge/dev1/events", false)
	pub := sub.c
	send := func(topic string, retained bool, payload string) {
		t.Helper()
		tok := pub.Publish(topic, 1, retained, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	// A retained command reaches every new subscription: it must not run on each reconnect.
	send("edge/dev1/cmd/retained", true, `{"v":1,"id":"r"}`)
	ob := newMemOutbox()
	status := subscribe(t, b.URL(), "edge/dev1/status", false)
	c, rec := newTestClient(t, cfg, ob)
	startClient(t, c)
	// The online status is published once the command subscription is made.
	waitFor(t, 5*time.Second, "online status", func() bool { return status.lastJSON("edge/dev1/status")["state"] == "online" })
	send("edge/dev1/cmd/reboot", false, "not json{")
	send("edge/dev1/cmd/reboot", false, "null")
	send("edge/dev1/cmd/reboot", false, "[1,2]")
	send("edge/dev1/cmd/reboot", false, `{"id":"x"}`)
	send("edge/dev1/cmd/reboot", false, `{"v":2,"id":"x"}`)
	send("edge/dev1/cmd/reboot", false, `{"v":1,"id":7}`)
	send("edge/dev1/cmd/reboot", false, `{"v":1,"pad":"`+strings.Repeat("a", MaxCommandSize)+`"}`)
	send("edge/dev1/cmd/reboot", false, "\xff\xfe")
	send("edge/dev1/cmd/ping", false, `{"v":1,"id":"abc","arg":5}`)
	send("edge/dev1/cmd/fail", false, `{"v":1,"id":"f"}`)
	send("edge/dev1/cmd/panic", false, `{"v":1,"id":"p"}`)
	send("edge/dev1/cmd/ping", false, `{"v":1,"id":"after"}`)

	waitFor(t, 5*time.Second, "twelve cmd_ack events", func() bool {
		n := 0
		for _, m := range sub.messages() {
			if strings.Contains(string(m.Payload()), `"cmd_ack"`) {
				n++
			}
		}
		return n == 12
	})

	mu.Lock()
	var names []string
	for _, c := range cmds {
		names = append(names, c.Name+":"+c.ID)
	}
	mu.Unlock()
	if got := strings.Join(names, ","); got != "ping:abc,fail:f,panic:p,ping:after" {
		t.Fatalf("handled %s; want only the four valid commands", got)
	}
	var acks []map[string]any
	for _, m := range sub.messages() {
		var ev map[string]any
		if json.Unmarshal(m.Payload(), &ev) == nil && ev["kind"] == "cmd_ack" {
			acks = append(acks, ev["fields"].(map[string]any))
		}
	}
	// Every command but the retained one is answered, the malformed ones with the reason.
	want := []struct{ id, err string }{
		{"", "malformed command: not JSON"}, {"", "not a JSON object"}, {"", "not a JSON object"}, {"x", `without "v":1`},
		{"x", `without "v":1`}, {"", `"id" must be a string`}, {"", "larger than"}, {"", "malformed command: not JSON"},
		{"abc", ""}, {"f", "cannot do that"}, {"p", "panicked"}, {"after", ""},
	}
	if len(acks) != len(want) {
		t.Fatalf("%d acks, want %d: %v", len(acks), len(want), acks)
	}
	for i, w := range want {
		a := acks[i]
		e, _ := a["error"].(string)
		if a["id"] != w.id || a["ok"] != (w.err == "") || !strings.Contains(e, w.err) || (w.err == "") != (e == "") {
			t.Errorf("ack %d = %v, want id %q error containing %q", i, a, w.id, w.err)
		}
	}
	for _, reason := range []string{"malformed command", `command without "v":1`, "command too large", "retained command"} {
		if rec.count("ignored "+reason) == 0 {
			t.Errorf("no log for %q:\n%s", reason, rec.dump())
		}
	}
	// Rate-limited: 5 malformed payloads, at most one line per reason per interval.
	if n := rec.count("ignored malformed command"); n != 1 {
		t.Errorf("%d log lines for malformed commands, want 1 (rate-limited)", n)
	}
	// Still working.
	ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
	waitFor(t, 5*time.Second, "record acknowledged", func() bool { return ob.Len() == 0 })
}

func TestStatusLWTAndShutdown(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	proxy := mqtttest.NewProxy(t, b.Addr())
	cfg := fastConfig(proxy.URL(), "dev1")
	cfg.StatusInterval = 200 * time.Millisecond
	cfg.Status = func() StatusInfo {
		return StatusInfo{Model: "ssd_mobilenet_v1", Backlog: 42, Drops: map[string]uint64{"max_records": 3},
			Extra: map[string]any{"camera": "streaming", "state": "must not override"}}
	}
	c, _ := newTestClient(t, cfg, newMemOutbox())
	stop := startClient(t, c)
	waitConnected(t, c)

	sub := subscribe(t, b.URL(), "edge/dev1/status", false)
	var st map[string]any
	waitFor(t, 5*time.Second, "online status", func() bool {
		st = sub.lastJSON("edge/dev1/status")
		return st != nil && st["state"] == "online"
	})
	want := map[string]any{"v": 1.0, "state": "online", "device": "dev1", "agent_version": "test-1.2.3",
		"model": "ssd_mobilenet_v1", "backlog": 42.0, "camera": "streaming"}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("status[%q] = %v, want %v (payload %v)", k, st[k], v, st)
		}
	}
	if d, _ := st["drops"].(map[string]any); d["max_records"] != 3.0 {
		t.Errorf("drops = %v", st["drops"])
	}
	if u, ok := st["uptime_s"].(float64); !ok || u < 0 {
		t.Errorf("uptime_s = %v", st["uptime_s"])
	}
	if _, err := time.Parse(time.RFC3339Nano, st["ts"].(string)); err != nil {
		t.Errorf("ts: %v", err)
	}
	if _, ok := st["sync"].(map[string]any)["acked"]; !ok {
		t.Errorf("sync stats missing: %v", st)
	}
	// Republished periodically.
	n := len(sub.messages())
	waitFor(t, 5*time.Second, "periodic status", func() bool { return len(sub.messages()) >= n+2 })

	// A dead link: the broker publishes the will, retained.
	proxy.Close()
	waitFor(t, 10*time.Second, "LWT", func() bool {
		st := sub.lastJSON("edge/dev1/status")
		return st["state"] == "offline" && st["reason"] == "lost"
	})
	late := subscribe(t, b.URL(), "edge/dev1/status", false)
	waitFor(t, 5*time.Second, "retained offline status", func() bool {
		st := late.lastJSON("edge/dev1/status")
		return st["state"] == "offline" && st["reason"] == "lost" && st["v"] == 1.0 && st["device"] == "dev1"
	})

	// Clean shutdown of a connected client publishes offline with reason "shutdown".
	stop()
	c2, _ := newTestClient(t, fastConfig(b.URL(), "dev2"), newMemOutbox())
	stop2 := startClient(t, c2)
	waitConnected(t, c2)
	sub2 := subscribe(t, b.URL(), "edge/dev2/status", false)
	waitFor(t, 5*time.Second, "dev2 online", func() bool { return sub2.lastJSON("edge/dev2/status")["state"] == "online" })
	stop2()
	if s := c2.State(); s != StateStopped {
		t.Fatalf("state after Run returned = %s", s)
	}
	late2 := subscribe(t, b.URL(), "edge/dev2/status", false)
	waitFor(t, 5*time.Second, "retained shutdown status", func() bool {
		st := late2.lastJSON("edge/dev2/status")
		return st["state"] == "offline" && st["reason"] == "shutdown"
	})
}

func TestPublishEvent(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	c, _ := newTestClient(t, fastConfig(b.URL(), "dev1"), newMemOutbox())
	if err := c.PublishEvent(context.Background(), "camera", nil); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("before Run: %v, want ErrNotConnected", err)
	}
	sub := subscribe(t, b.URL(), "edge/dev1/events", false)
	startClient(t, c)
	waitConnected(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.PublishEvent(ctx, "camera", map[string]any{"state": "lost", "source": "/dev/video0"}); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishEvent(ctx, "bad", map[string]any{"f": func() {}}); err == nil {
		t.Fatal("unencodable fields accepted")
	}
	if err := c.PublishEvent(ctx, "", nil); err == nil {
		t.Fatal("empty kind accepted")
	}
	waitFor(t, 5*time.Second, "event", func() bool {
		ev := sub.lastJSON("edge/dev1/events")
		f, _ := ev["fields"].(map[string]any)
		return ev["v"] == 1.0 && ev["kind"] == "camera" && ev["device"] == "dev1" && f["state"] == "lost"
	})
}

func TestEmbeddedBroker(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.168.1.2:1883", "127.0.0.1", "127.0.0.1:99999"} {
		if _, err := StartEmbeddedBroker(addr, nil); err == nil {
			t.Fatalf("embedded broker accepted %q", addr)
		}
		if CheckEmbeddedAddr(addr) == nil {
			t.Fatalf("CheckEmbeddedAddr accepted %q", addr)
		}
	}
	eb, err := StartEmbeddedBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eb.Close()
	sub := subscribe(t, eb.URL(), "edge/dev1/predictions", false)
	ob := newMemOutbox()
	var appended []uint64
	for range 50 {
		s, _ := ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
		appended = append(appended, s)
	}
	c, _ := newTestClient(t, fastConfig(eb.URL(), "dev1"), ob)
	startClient(t, c)
	waitFor(t, 10*time.Second, "records at the subscriber", func() bool {
		return checkOrder(appended, sub.seqs(t, "edge/dev1/predictions")) == nil
	})
	if err := eb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := eb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestWebSocketScheme connects over ws:// to an in-process mochi broker (Debian's mosquitto
// cannot open a websockets listener in this environment).
func TestWebSocketScheme(t *testing.T) {
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := srv.AddListener(listeners.NewWebsocket(listeners.Config{ID: "ws", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	url := "ws://" + addr + "/mqtt"
	waitFor(t, 5*time.Second, "websocket listener", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	ob := newMemOutbox()
	ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
	sub := subscribe(t, url, "edge/dev1/predictions", false)
	c, _ := newTestClient(t, fastConfig(url, "dev1"), ob)
	startClient(t, c)
	waitConnected(t, c)
	waitFor(t, 5*time.Second, "record over websockets", func() bool {
		return len(sub.seqs(t, "edge/dev1/predictions")) >= 1 && ob.Len() == 0
	})
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestWaitsForBrokerToComeUp: a broker that is down at startup is a transient failure:
// WaitConnected keeps waiting, and the client connects once the broker is there.
func TestWaitsForBrokerToComeUp(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	b.Stop()
	ob := newMemOutbox()
	ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
	c, rec := newTestClient(t, fastConfig(b.URL(), "dev1"), ob)
	startClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := c.WaitConnected(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("WaitConnected with the broker down = %v; want the deadline, with the cause", err)
	}
	if rec.count("WARN", "disconnected; retrying", "connection refused") == 0 {
		t.Fatal("retries not logged with their cause")
	}
	b.Start()
	waitConnected(t, c)
	waitFor(t, 5*time.Second, "record acknowledged", func() bool { return ob.Len() == 0 })
}

// TestRunStopsAllGoroutines: when Run returns, nothing it started is left running.
func TestRunStopsAllGoroutines(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	before := runtime.NumGoroutine()
	ob := newMemOutbox()
	for range 100 {
		ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
	}
	c, _ := newTestClient(t, fastConfig(b.URL(), "dev1"), ob)
	stop := startClient(t, c)
	waitFor(t, 5*time.Second, "drained", func() bool { return ob.Len() == 0 })
	b.Stop() // a reconnect loop is running when we stop
	b.Start()
	waitConnected(t, c)
	ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
	waitFor(t, 5*time.Second, "publishing again", func() bool { return ob.Len() == 0 })
	stop()
	waitFor(t, 3*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestWriteOnlyACLWarn: with an ACL that lets the device write its predictions but not read
// them, the check cannot pass; in warn mode the client reports it once per connection and
// publishes anyway.
func TestWriteOnlyACLWarn(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{
		Users: map[string]string{"dev1": "pw", "ops": "pw"},
		ACL: "user dev1\ntopic write edge/dev1/predictions\ntopic readwrite edge/dev1/status\n" +
			"topic readwrite edge/dev1/events\ntopic read edge/dev1/cmd/#\n" +
			"user ops\ntopic read #\n",
	})
	ops := func(o *mqtt.ClientOptions) { o.SetUsername("ops").SetPassword("pw") }
	sub := subscribe(t, b.URL(), "edge/dev1/#", false, ops)
	cfg := fastConfig(b.URL(), "dev1")
	cfg.Username, cfg.Password, cfg.Verify = "dev1", "pw", VerifyWarn
	ob := newMemOutbox()
	var appended []uint64
	for range 20 {
		s, _ := ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 10), nil })
		appended = append(appended, s)
	}
	c, rec := newTestClient(t, cfg, ob)
	startClient(t, c)
	waitFor(t, 10*time.Second, "records delivered", func() bool {
		return checkOrder(appended, sub.seqs(t, "edge/dev1/predictions")) == nil
	})
	waitFor(t, 5*time.Second, "outbox drained", func() bool { return ob.Len() == 0 })
	if !c.Stats().PublishDenied || rec.count("ERROR", "publish_unverified") != 1 {
		t.Fatalf("stats %+v; want the failed check reported once:\n%s", c.Stats(), rec.dump())
	}
	if c.Stats().Reconnects != 0 {
		t.Fatal("warn mode reconnected")
	}
}

// TestHungBroker: a broker that stops answering without closing the connection is noticed by the
// keepalive; the client reconnects once it answers again and nothing is lost or reordered.
func TestHungBroker(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	sub := subscribe(t, b.URL(), "edge/dev1/predictions", true)
	ob := newMemOutbox()
	c, _ := newTestClient(t, fastConfig(b.URL(), "dev1"), ob)
	startClient(t, c)
	waitConnected(t, c)
	var appended []uint64
	add := func(n int) {
		for range n {
			s, _ := ob.Append(func(seq uint64) ([]byte, error) { return recordPayload("dev1", seq, 100), nil })
			appended = append(appended, s)
		}
	}
	add(50)
	waitFor(t, 5*time.Second, "first records acknowledged", func() bool { return ob.Len() == 0 })
	b.Pause()
	add(50)
	waitFor(t, 10*time.Second, "hung broker noticed", func() bool { return c.State() != StateConnected })
	b.Resume()
	add(50)
	waitFor(t, 15*time.Second, "every record", func() bool {
		return checkOrder(appended, sub.seqs(t, "edge/dev1/predictions")) == nil
	})
	waitFor(t, 5*time.Second, "outbox drained", func() bool { return ob.Len() == 0 })
}
