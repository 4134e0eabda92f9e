package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// memOutbox is an in-memory Outbox for unit tests.
type memOutbox struct {
	mu        gosync.Mutex
	next      uint64
	recs      map[uint64][]byte
	committed chan struct{}
}

func newMemOutbox() *memOutbox {
	return &memOutbox{next: 1, recs: map[uint64][]byte{}, committed: make(chan struct{}, 1)}
}

func (o *memOutbox) Append(build func(seq uint64) ([]byte, error)) (uint64, error) {
	o.mu.Lock()
	seq := o.next
	p, err := build(seq)
	if err != nil {
		o.mu.Unlock()
		return 0, err
	}
	o.recs[seq] = p
	o.next++
	o.mu.Unlock()
	select {
	case o.committed <- struct{}{}:
	default:
	}
	return seq, nil
}

func (o *memOutbox) Scan(after uint64, max int, fn func(uint64, []byte) error) error {
	o.mu.Lock()
	seqs := make([]uint64, 0, len(o.recs))
	for s := range o.recs {
		if s > after {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	if len(seqs) > max {
		seqs = seqs[:max]
	}
	ps := make([][]byte, len(seqs))
	for i, s := range seqs {
		ps[i] = o.recs[s]
	}
	o.mu.Unlock()
	for i, s := range seqs {
		if err := fn(s, ps[i]); err != nil {
			return err
		}
	}
	return nil
}

func (o *memOutbox) Ack(seqs ...uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range seqs {
		delete(o.recs, s)
	}
	return nil
}

func (o *memOutbox) Committed() <-chan struct{} { return o.committed }

func (o *memOutbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.recs)
}

// record builds a prediction-like payload carrying seq, as the agent's records do.
func recordPayload(device string, seq uint64, pad int) []byte {
	b, _ := json.Marshal(map[string]any{"v": 1, "device": device, "seq": seq, "pad": strings.Repeat("x", pad)})
	return b
}

// logRecorder is a slog.Handler that keeps every record for assertions.
type logRecorder struct {
	mu   *gosync.Mutex
	recs *[]string
	t    testing.TB
}

func newLogRecorder(t testing.TB) (*slog.Logger, *logRecorder) {
	r := &logRecorder{mu: new(gosync.Mutex), recs: new([]string), t: t}
	return slog.New(r), r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	*r.recs = append(*r.recs, b.String())
	r.mu.Unlock()
	return nil
}

// count returns how many log lines contain all of subs.
func (r *logRecorder) count(subs ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
next:
	for _, l := range *r.recs {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		n++
	}
	return n
}

func (r *logRecorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(*r.recs, "\n")
}

// startClient runs c until the test ends; Cleanup cancels it and checks that Run returned.
func startClient(t testing.TB, c *Client) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once gosync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// subscriber is a paho client that records what arrives on its subscriptions.
type subscriber struct {
	mu   gosync.Mutex
	msgs []mqtt.Message
	c    mqtt.Client
}

// subscribe connects an observer to url and subscribes to filter. persistent uses a durable
// session (CleanSession false) that survives broker restarts with persistence on.
func subscribe(t testing.TB, url, filter string, persistent bool, mod ...func(*mqtt.ClientOptions)) *subscriber {
	t.Helper()
	s := &subscriber{}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("obs-%d", time.Now().UnixNano())).
		SetCleanSession(!persistent).SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).SetResumeSubs(true).
		SetKeepAlive(5 * time.Second)
	for _, m := range mod {
		m(o)
	}
	o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { s.add(m) })
	o.SetOnConnectHandler(func(c mqtt.Client) {
		// A clean session needs the subscription again on every reconnect, and a restarted broker
		// without persistence has forgotten it.
		c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { s.add(m) })
	})
	s.c = mqtt.NewClient(o)
	tok := s.c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("observer connect: %v", tok.Error())
	}
	// The subscription is made by the connect handler; wait until the broker has it.
	tk := s.c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) { s.add(m) })
	if !tk.WaitTimeout(10*time.Second) || tk.Error() != nil {
		t.Fatalf("observer subscribe: %v", tk.Error())
	}
	t.Cleanup(func() { s.c.Disconnect(0) })
	return s
}

func (s *subscriber) add(m mqtt.Message) {
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

func (s *subscriber) messages() []mqtt.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lastJSON returns the last message on topic decoded as a JSON object, or nil.
func (s *subscriber) lastJSON(topic string) map[string]any {
	msgs := s.messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Topic() == topic {
			var m map[string]any
			if json.Unmarshal(msgs[i].Payload(), &m) != nil {
				return nil
			}
			return m
		}
	}
	return nil
}

// seqs returns the "seq" of every message on topic, in arrival order.
func (s *subscriber) seqs(t testing.TB, topic string) []uint64 {
	var out []uint64
	for _, m := range s.messages() {
		if m.Topic() != topic {
			continue
		}
		var r struct{ Seq uint64 }
		if err := json.Unmarshal(m.Payload(), &r); err != nil {
			t.Fatalf("payload on %s is not a record: %v: %q", topic, err, m.Payload())
		}
		out = append(out, r.Seq)
	}
	return out
}

// checkOrder verifies the delivery contract for the appended seqs: every one arrives, first
// appearances come in append order, and anything else is a duplicate of a seq already seen.
func checkOrder(appended, got []uint64) error {
	idx := make(map[uint64]int, len(appended))
	for i, s := range appended {
		idx[s] = i
	}
	next := 0 // index in appended of the next first appearance expected
	dups := 0
	for i, s := range got {
		j, ok := idx[s]
		switch {
		case !ok:
			return fmt.Errorf("message %d: seq %d was never appended", i, s)
		case j == next:
			next++
		case j < next:
			dups++
		default:
			return fmt.Errorf("message %d: seq %d arrived before seq %d (out of order)", i, s, appended[next])
		}
	}
	if next != len(appended) {
		return fmt.Errorf("only %d of %d records arrived (first missing: seq %d)", next, len(appended), appended[next])
	}
	return nil
}
