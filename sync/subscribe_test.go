package sync

import (
	"context"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

func TestSubscriptionsSurviveReconnect(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	proxy := mqtttest.NewProxy(t, b.Addr())
	cfg := fastConfig(proxy.URL(), "dev1")
	var (
		mu       gosync.Mutex
		got      []Message
		connects int
	)
	cfg.Subscriptions = []Subscription{{Filter: "fleet/+/update", QoS: 1, Handler: func(_ context.Context, m Message) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}}}
	cfg.OnConnect = func(context.Context) {
		mu.Lock()
		connects++
		mu.Unlock()
	}
	messages := func() []Message {
		mu.Lock()
		defer mu.Unlock()
		return append([]Message(nil), got...)
	}
	obs := subscribe(t, b.URL(), "fleet/#", false)
	send := func(topic string, retained bool, payload string) {
		t.Helper()
		tok := obs.c.Publish(topic, 1, retained, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	send("fleet/g1/update", true, "kept") // retained before the client exists
	c, _ := newTestClient(t, cfg, newMemOutbox())
	startClient(t, c)
	waitConnected(t, c)
	waitFor(t, 5*time.Second, "the retained message", func() bool { return len(messages()) == 1 })
	if m := messages()[0]; m.Topic != "fleet/g1/update" || string(m.Payload) != "kept" || !m.Retained {
		t.Fatalf("got %+v", m)
	}
	send("fleet/g2/update", false, "live")
	send("fleet/g2/other", false, "not for us")
	waitFor(t, 5*time.Second, "the live message", func() bool { return len(messages()) == 2 })

	proxy.Cut() // the next connection must subscribe again
	waitFor(t, 10*time.Second, "a reconnect", func() bool { return c.Stats().Reconnects == 1 && c.State() == StateConnected })
	waitFor(t, 5*time.Second, "the retained message again", func() bool { return len(messages()) == 3 })
	send("fleet/g3/update", false, "after")
	waitFor(t, 5*time.Second, "a message after the reconnect", func() bool { return len(messages()) == 4 })
	if m := messages()[3]; string(m.Payload) != "after" || m.Retained {
		t.Fatalf("got %+v", m)
	}
	// OnConnect runs on its own goroutine beside the session: wait for it, then count.
	onConnects := func() int {
		mu.Lock()
		defer mu.Unlock()
		return connects
	}
	waitFor(t, 5*time.Second, "OnConnect for the second connection", func() bool { return onConnects() >= 2 })
	if n := onConnects(); n != 2 {
		t.Fatalf("OnConnect ran %d times for 2 connections", n)
	}

	// Publish on any topic, and its errors.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Publish(ctx, "fleet/dev1/hello", 1, false, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the published message", func() bool {
		for _, m := range obs.messages() {
			if m.Topic() == "fleet/dev1/hello" && string(m.Payload()) == "hi" {
				return true
			}
		}
		return false
	})
	for _, topic := range []string{"", "a/+/b", "a/#"} {
		if err := c.Publish(ctx, topic, 1, false, nil); err == nil {
			t.Errorf("Publish(%q) accepted a topic with wildcards", topic)
		}
	}
}

func TestSubscriptionConfigErrors(t *testing.T) {
	h := func(context.Context, Message) {}
	for _, tc := range []struct {
		sub  Subscription
		want string
	}{
		{Subscription{Filter: "", Handler: h}, "not a topic filter"},
		{Subscription{Filter: "a/#/b", Handler: h}, "last level"},
		{Subscription{Filter: "a/b+", Handler: h}, "whole levels"},
		{Subscription{Filter: "a/b", QoS: 2, Handler: h}, "QoS"},
		{Subscription{Filter: "a/b"}, "no handler"},
	} {
		cfg := fastConfig("tcp://127.0.0.1:1", "dev1")
		cfg.Subscriptions = []Subscription{tc.sub}
		_, err := New(cfg, newMemOutbox(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.sub, err, tc.want)
		}
	}
}
