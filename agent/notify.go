package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// health is what the systemd watchdog is fed from: the pipeline marks progress and store
// failures, and the watchdog loop pings systemd only while frames are being processed and the
// store is writable, so a wedged camera or pipeline gets the service restarted.
type health struct {
	lastFrame  atomic.Int64 // unix nanoseconds of the last processed frame
	storeError atomic.Bool  // the last append failed
}

func (h *health) frameDone(t time.Time) { h.lastFrame.Store(t.UnixNano()) }

// healthy reports whether a frame was processed within window and the store is writable.
func (h *health) healthy(now time.Time, window time.Duration) bool {
	last := h.lastFrame.Load()
	return last != 0 && now.Sub(time.Unix(0, last)) < window && !h.storeError.Load()
}

// notifier talks to systemd when the agent runs as a Type=notify service; outside systemd every
// call is a no-op.
type notifier struct {
	log *slog.Logger
}

func (n notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notify failed", "state", state, "err", err)
	}
}

// watchdog pings systemd at half the configured WatchdogSec while h is healthy, until ctx ends.
// Pings stop when the pipeline stalls, so systemd restarts the service.
func (n notifier) watchdog(ctx context.Context, h *health) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if h.healthy(now, interval) {
				n.send(daemon.SdNotifyWatchdog)
				warned = false
			} else if !warned {
				n.log.Warn("pipeline stalled or store failing: not feeding the systemd watchdog")
				warned = true
			}
		}
	}
}
