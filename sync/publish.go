package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	gosync "sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// record is an outbox record copied out of Scan (whose payload is only valid during the call).
type record struct {
	seq     uint64
	payload []byte
}

// pending is a published record waiting for its PUBACK.
type pending struct {
	seq uint64
	tok mqtt.Token
}

// ackTimeout bounds the wait for one PUBACK: a broker that keeps the connection alive but stops
// acknowledging would otherwise stall the outbox forever.
func (c *Client) ackTimeout() time.Duration { return max(30*time.Second, 2*c.cfg.KeepAlive) }

// publishLoop publishes the outbox from its oldest record, in sequence order, with at most
// InFlight records unacknowledged, until ctx ends (nil) or a publish fails (the error). Every
// connection starts again from the oldest record not yet acknowledged, so what the broker did not
// acknowledge before a disconnect is resent before anything newer.
func (c *Client) publishLoop(ctx context.Context, cl mqtt.Client, verify bool, echo <-chan []byte) error {
	var cursor uint64
	if verify {
		seq, err := c.verifyFirst(ctx, cl, echo)
		if errors.Is(err, ErrPublishDenied) && c.cfg.Verify == VerifyWarn {
			c.reportError(ctx, cl, "publish_unverified", err)
			// Acknowledged: delete it, as without the check.
			if err := c.outbox.Ack(seq); err != nil {
				return fmt.Errorf("ack outbox record %d: %w", seq, err)
			}
			c.acked.Add(1)
		} else if err != nil || ctx.Err() != nil {
			return err
		}
		cursor = seq
		// Done with the echo: unsubscribe without waiting; late echoes are dropped by the handler.
		cl.Unsubscribe(c.topics.Predictions)
	}

	w := c.cfg.InFlight
	// slots is a semaphore of w: a send takes a slot, ackLoop's receive frees it.
	slots := make(chan struct{}, w)
	sent := make(chan pending, w)
	// acked feeds deleteLoop. Deleting is a disk transaction (an fsync, maybe a group-commit
	// delay); doing it apart from ackLoop keeps the window moving meanwhile.
	acked := make(chan uint64, max(4*w, 1024))
	ackErr := make(chan error, 2)
	actx, acancel := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	wg.Go(func() {
		defer close(acked)
		if err := c.ackLoop(actx, sent, slots, acked); err != nil {
			ackErr <- err
		}
	})
	wg.Go(func() {
		if err := c.deleteLoop(acked); err != nil {
			ackErr <- err
			acancel() // stop ackLoop, which would block on a full acked channel
		}
	})
	defer func() {
		acancel()
		wg.Wait()
	}()

	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		case err := <-ackErr:
			return err
		}
		n := 1
	fill:
		for n < w {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break fill
			}
		}
		recs, err := c.scan(cursor, n)
		for range n - len(recs) {
			<-slots
		}
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			// The poll covers a commit notification consumed by someone else.
			select {
			case <-c.outbox.Committed():
			case <-poll.C:
			case <-ctx.Done():
				return nil
			case err := <-ackErr:
				return err
			}
			continue
		}
		for _, r := range recs {
			tok := cl.Publish(c.topics.Predictions, 1, false, r.payload)
			c.published.Add(1)
			sent <- pending{r.seq, tok}
			cursor = r.seq
		}
	}
}

// ackLoop waits for the PUBACKs in publish order, frees their window slots and passes their seqs
// to deleteLoop, until ctx ends (nil) or a publish fails.
func (c *Client) ackLoop(ctx context.Context, sent <-chan pending, slots <-chan struct{}, acked chan<- uint64) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var p pending
		select {
		case p = <-sent:
		case <-ctx.Done():
			return nil
		}
		select {
		case <-p.tok.Done():
		default:
			timer.Reset(c.ackTimeout())
			select {
			case <-p.tok.Done():
			case <-ctx.Done():
				return nil
			case <-timer.C:
				return fmt.Errorf("no PUBACK for seq %d within %s", p.seq, c.ackTimeout())
			}
		}
		if err := p.tok.Error(); err != nil {
			return fmt.Errorf("publish seq %d: %w", p.seq, err)
		}
		select {
		case acked <- p.seq:
		case <-ctx.Done():
			return nil
		}
		<-slots
	}
}

// deleteLoop deletes acknowledged records from the outbox, as many per transaction as have
// arrived meanwhile, until acked is closed and drained: what the broker acknowledged before a
// disconnect is deleted rather than sent again.
func (c *Client) deleteLoop(acked <-chan uint64) error {
	batch := make([]uint64, 0, cap(acked))
	for seq := range acked {
		batch = append(batch[:0], seq)
	more:
		for len(batch) < cap(batch) {
			select {
			case s, ok := <-acked:
				if !ok {
					break more
				}
				batch = append(batch, s)
			default:
				break more
			}
		}
		if err := c.outbox.Ack(batch...); err != nil {
			return fmt.Errorf("ack outbox records %d..%d: %w", batch[0], batch[len(batch)-1], err)
		}
		c.acked.Add(uint64(len(batch)))
		c.lastAck.Store(time.Now().UnixNano())
	}
	return nil
}

// verifyFirst publishes the oldest record alone and waits for both its PUBACK and its echo on
// the device's own subscription. Mosquitto answers a publish its ACL denies with a normal PUBACK
// (MQTT 3.1.1 has no way to say no) and drops it, so a missing echo is the only sign that the
// outbox would be emptied into nothing; the record is then kept and ErrPublishDenied returned.
// It returns the record's seq once it is verified and deleted, or with ErrPublishDenied.
func (c *Client) verifyFirst(ctx context.Context, cl mqtt.Client, echo <-chan []byte) (uint64, error) {
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		recs, err := c.scan(0, 1)
		if err != nil {
			return 0, err
		}
		if len(recs) == 0 {
			select {
			case <-c.outbox.Committed():
			case <-poll.C:
			case <-ctx.Done():
				return 0, nil
			}
			continue
		}
		r := recs[0]
		tok := cl.Publish(c.topics.Predictions, 1, false, r.payload)
		c.published.Add(1)
		tctx, cancel := context.WithTimeout(ctx, c.ackTimeout())
		err = waitToken(tctx, tok)
		cancel()
		if ctx.Err() != nil {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("publish seq %d: %w", r.seq, err)
		}
		timer := time.NewTimer(c.cfg.VerifyTimeout)
		defer timer.Stop()
		for {
			select {
			case m := <-echo:
				if !bytes.Equal(m, r.payload) {
					continue // an older duplicate, or another publisher on the topic
				}
			case <-timer.C:
				return r.seq, fmt.Errorf("%w: seq %d to %s was acknowledged but not delivered back within %s: "+
					"the ACL denies publishing it (or reading it: then allow the device readwrite on it, or set verify to warn or off)",
					ErrPublishDenied, r.seq, c.topics.Predictions, c.cfg.VerifyTimeout)
			case <-ctx.Done():
				return 0, nil
			}
			break
		}
		if err := c.outbox.Ack(r.seq); err != nil {
			return 0, fmt.Errorf("ack outbox record %d: %w", r.seq, err)
		}
		c.acked.Add(1)
		c.lastAck.Store(time.Now().UnixNano())
		c.update(func() { c.denied = false })
		return r.seq, nil
	}
}

// scan copies up to n records after seq out of the outbox.
func (c *Client) scan(after uint64, n int) ([]record, error) {
	recs := make([]record, 0, n)
	err := c.outbox.Scan(after, n, func(seq uint64, payload []byte) error {
		recs = append(recs, record{seq, bytes.Clone(payload)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan outbox after %d: %w", after, err)
	}
	return recs, nil
}
