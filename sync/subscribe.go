package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Message is a message received on a Subscription's filter.
type Message struct {
	Topic    string
	Payload  []byte // the handler's to keep
	Retained bool
}

// Subscription asks the Client to subscribe to Filter on every connection and to pass what
// arrives to Handler. Other parts of the agent (model updates, Home Assistant's birth message)
// receive through it, so that they need not know about reconnects.
type Subscription struct {
	// Filter is an MQTT topic filter; it may lie outside the device's own topics
	// (homeassistant/status, a group's update topic).
	Filter string
	// QoS is 0 or 1.
	QoS byte
	// Handler is called from one goroutine per subscription, one message at a time, so a slow
	// handler (one that writes to disk) delays only its own subscription. ctx ends when the
	// Client stops.
	Handler func(ctx context.Context, m Message)
	// Queue is how many messages may wait for Handler; when it is full, messages are dropped and
	// logged (rate-limited). Default 64.
	Queue int
}

// subscription is a Subscription with its queue, owned by Run.
type subscription struct {
	Subscription
	queue chan Message
}

func checkSubscriptions(subs []Subscription) error {
	for i, s := range subs {
		if err := checkFilter(s.Filter); err != nil {
			return fmt.Errorf("subscription %d %q: %w", i, s.Filter, err)
		}
		if s.QoS > 1 {
			return fmt.Errorf("subscription %q: QoS %d (want 0 or 1)", s.Filter, s.QoS)
		}
		if s.Handler == nil {
			return fmt.Errorf("subscription %q: no handler", s.Filter)
		}
		if s.Queue < 0 {
			return fmt.Errorf("subscription %q: negative queue", s.Filter)
		}
	}
	return nil
}

// checkFilter accepts an MQTT topic filter: '+' and '#' only as whole levels, '#' last.
func checkFilter(f string) error {
	if f == "" || len(f) > 65535 || strings.ContainsRune(f, 0) {
		return errors.New("not a topic filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("'#' must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return errors.New("wildcards must be whole levels")
		}
	}
	return nil
}

func (c *Client) newSubscriptions() []*subscription {
	subs := make([]*subscription, len(c.cfg.Subscriptions))
	for i, s := range c.cfg.Subscriptions {
		q := s.Queue
		if q == 0 {
			q = 64
		}
		subs[i] = &subscription{Subscription: s, queue: make(chan Message, q)}
	}
	return subs
}

// serve runs s's handler for queued messages until ctx ends.
func (s *subscription) serve(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.queue:
			s.Handler(ctx, m)
		}
	}
}

// receive runs on paho's receive goroutine: queue without blocking.
func (c *Client) receive(s *subscription) mqtt.MessageHandler {
	return func(_ mqtt.Client, m mqtt.Message) {
		msg := Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()}
		select {
		case s.queue <- msg:
		default:
			c.ignore("message: queue full", "filter", s.Filter, "topic", m.Topic())
		}
	}
}

// Publish publishes payload on topic and waits for the broker's acknowledgement (QoS 1) or for
// the write (QoS 0), or for ctx. It returns ErrNotConnected while there is no connection: what
// must not be lost goes through the outbox instead.
func (c *Client) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	if err := checkTopicName(topic); err != nil {
		return fmt.Errorf("publish %q: %w", topic, err)
	}
	if qos > 1 {
		return fmt.Errorf("publish %q: QoS %d (want 0 or 1)", topic, qos)
	}
	cl := c.currentConn()
	if cl == nil {
		return ErrNotConnected
	}
	if err := waitToken(ctx, cl.Publish(topic, qos, retain, payload)); err != nil {
		return fmt.Errorf("publish %q: %w", topic, err)
	}
	return nil
}

func checkTopicName(t string) error {
	if t == "" || len(t) > 65535 || strings.ContainsAny(t, "+#\x00") {
		return errors.New("not a topic name (empty, or contains a wildcard or NUL)")
	}
	return nil
}
