package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// queuedCommand is a command on its way to the command worker; a rejected one (err set) is only
// acknowledged.
type queuedCommand struct {
	cmd Command
	err error
}

// onCommand runs on paho's receive goroutine: it validates and queues, never blocks. A command
// that is malformed is still acknowledged, with the reason, so that its sender learns why nothing
// happened; a retained one is ignored (it would run again on every reconnect).
func (c *Client) onCommand(_ mqtt.Client, m mqtt.Message) {
	prefix := strings.TrimSuffix(c.topics.Commands, "+")
	name, ok := strings.CutPrefix(m.Topic(), prefix)
	if !ok || name == "" || strings.Contains(name, "/") {
		c.ignore("message on an unexpected topic", "topic", m.Topic())
		return
	}
	if m.Retained() {
		c.ignore("retained command", "topic", m.Topic())
		return
	}
	q := queuedCommand{cmd: Command{Name: name}}
	p := m.Payload()
	var head struct {
		V  *int   `json:"v"`
		ID string `json:"id"`
	}
	if len(p) > MaxCommandSize {
		q.err = fmt.Errorf("command of %d bytes is larger than %d", len(p), MaxCommandSize)
		c.ignore("command too large", "topic", m.Topic(), "bytes", len(p), "max", MaxCommandSize)
	} else if err := parseHead(p, &head.V, &head.ID); err != nil {
		q.cmd.ID = head.ID // when it could be read, the sender can match the ack
		q.err = fmt.Errorf("malformed command: %w", err)
		c.ignore("malformed command", "topic", m.Topic(), "err", err)
	} else if q.cmd.ID = head.ID; head.V == nil || *head.V != PayloadVersion {
		q.err = fmt.Errorf("command without \"v\":%d", PayloadVersion)
		c.ignore("command without \"v\":1", "topic", m.Topic())
	} else if c.cfg.OnCommand == nil {
		q.err = fmt.Errorf("unknown command %q", name)
		c.ignore("unexpected command (no handler)", "topic", m.Topic())
	} else {
		q.cmd.Payload = json.RawMessage(append([]byte(nil), p...))
	}
	select {
	case c.cmds <- q:
	default:
		c.ignore("command queue full", "topic", m.Topic())
	}
}

// parseHead reads "v" and "id" of a command, which must be a JSON object.
func parseHead(p []byte, v **int, id *string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(p, &fields); err != nil {
		if json.Valid(p) {
			return errors.New("not a JSON object")
		}
		return errors.New("not JSON")
	}
	if fields == nil {
		return errors.New("not a JSON object")
	}
	if raw, ok := fields["id"]; ok && json.Unmarshal(raw, id) != nil {
		return errors.New(`"id" must be a string`)
	}
	if raw, ok := fields["v"]; ok && json.Unmarshal(raw, v) != nil {
		return errors.New(`"v" must be a number`)
	}
	return nil
}

// commandWorker runs the handler for queued commands, one at a time, and publishes a cmd_ack event
// for each. It stops with ctx.
func (c *Client) commandWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case q := <-c.cmds:
			cmd, err := q.cmd, q.err
			if err == nil {
				err = c.handle(ctx, cmd)
			}
			fields := map[string]any{"name": cmd.Name, "id": cmd.ID, "ok": err == nil}
			if err != nil {
				fields["error"] = err.Error()
				if q.err == nil {
					c.log.Warn("mqtt: command failed", "name", cmd.Name, "id", cmd.ID, "err", err)
				}
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
