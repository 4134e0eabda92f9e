package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// health is what the systemd watchdog is fed from. The pipeline marks processed frames, the
// camera its state and the recorder store failures; the watchdog loop pings systemd only while
// the store is writable and frames are being processed — or the camera is known to be missing and
// its reconnect loop is retrying, which a restart would not fix. A camera that claims to be
// connected but delivers nothing, a stuck pipeline or a failing store stop the pings, and systemd
// restarts the service.
type health struct {
	lastFrame     atomic.Int64 // unix nanoseconds of the last processed frame
	storeError    atomic.Bool  // the last append failed
	cameraWaiting atomic.Bool  // the camera is connecting or reconnecting
}

func (h *health) frameDone(t time.Time) { h.lastFrame.Store(t.UnixNano()) }

// healthy reports whether the watchdog should be fed at now, for a watchdog of window.
func (h *health) healthy(now time.Time, window time.Duration) bool {
	if h.storeError.Load() {
		return false
	}
	last := h.lastFrame.Load()
	return h.cameraWaiting.Load() || (last != 0 && now.Sub(time.Unix(0, last)) < window)
}

// notify tells systemd the agent's state when it runs as a Type=notify service; outside systemd
// it does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("systemd notify failed", "state", state, "err", err)
	}
}

// watchdog pings systemd at half the configured WatchdogSec while h is healthy, until ctx ends.
// Pings stop when the pipeline stalls, so systemd restarts the service.
func watchdog(ctx context.Context, log *slog.Logger, h *health) {
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
				notify(log, daemon.SdNotifyWatchdog)
				warned = false
			} else if !warned {
				log.Warn("pipeline stalled or store failing: not feeding the systemd watchdog")
				warned = true
			}
		}
	}
}
