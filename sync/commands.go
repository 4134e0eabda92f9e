package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	gosync "sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// onCommand runs on paho's receive goroutine: it validates and queues, never blocks.
func (c *Client) onCommand(_ mqtt.Client, m mqtt.Message) {
	prefix := strings.TrimSuffix(c.topics.Commands, "+")
	name, ok := strings.CutPrefix(m.Topic(), prefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		c.ignore("message on an unexpected topic", "topic", m.Topic())
		return
	}
	if m.Retained() {
		// A retained command would run again on every reconnect.
		c.ignore("retained command", "topic", m.Topic())
		return
	}
	p := m.Payload()
	if len(p) > MaxCommandSize {
		c.ignore("command too large", "topic", m.Topic(), "bytes", len(p), "max", MaxCommandSize)
		return
	}
	var head struct {
		V  *int   `json:"v"`
		ID string `json:"id"`
	}
	if err := json.Unmarshal(p, &head); err != nil {
		c.ignore("malformed command", "topic", m.Topic(), "err", err)
		return
	}
	if head.V == nil || *head.V != PayloadVersion {
		c.ignore("command without \"v\":1", "topic", m.Topic())
		return
	}
	if c.cfg.OnCommand == nil {
		c.ignore("unexpected command (no handler)", "topic", m.Topic())
		return
	}
	select {
	case c.cmds <- Command{Name: name, ID: head.ID, Payload: json.RawMessage(append([]byte(nil), p...))}:
	default:
		c.ignore("command queue full", "topic", m.Topic())
	}
}

// commandWorker runs the handler for queued commands, one at a time, and publishes a cmd_ack event
// for each. It stops with ctx.
func (c *Client) commandWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case cmd := <-c.cmds:
			err := c.handle(ctx, cmd)
			fields := map[string]any{"name": cmd.Name, "id": cmd.ID, "ok": err == nil}
			if err != nil {
				fields["error"] = err.Error()
				c.log.Warn("mqtt: command failed", "name", cmd.Name, "id", cmd.ID, "err", err)
			}
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := c.PublishEvent(actx, "cmd_ack", fields); err != nil {
				c.log.Warn("mqtt: publish command ack", "name", cmd.Name, "err", err)
			}
			cancel()
		}
	}
}

// handle calls the handler, turning a panic into an error: a command must never take the agent
// down.
func (c *Client) handle(ctx context.Context, cmd Command) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("command handler panicked: %v", r)
		}
	}()
	return c.cfg.OnCommand(ctx, cmd)
}

// ignore logs a dropped incoming message, at most once per reason per interval.
func (c *Client) ignore(reason string, attrs ...any) {
	ok, suppressed := c.limiter.allow(reason)
	if !ok {
		return
	}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	c.log.Warn("mqtt: ignored "+reason, attrs...)
}

// limiter allows one event per key per interval and counts the rest. Keys are fixed strings, so
// its maps stay small.
type limiter struct {
	every time.Duration

	mu      gosync.Mutex // guards last and skipped
	last    map[string]time.Time
	skipped map[string]int
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, last: map[string]time.Time{}, skipped: map[string]int{}}
}

// allow reports whether key may be logged now, and how many were suppressed since the last one.
func (l *limiter) allow(key string) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.skipped[key]++
		return false, 0
	}
	n := l.skipped[key]
	l.last[key], l.skipped[key] = now, 0
	return true, n
}
