package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// health is what the systemd watchdog is fed from. The pipeline marks the frames it takes and
// the inferences that fail, the camera its state, the motion pass a frozen picture and the
// recorder store failures; the watchdog loop pings systemd only while the store is writable and
// frames are being processed — or the camera is known to be missing and its reconnect loop is
// retrying, which a restart would not fix. A camera that claims to be connected but delivers
// nothing, a pipeline that is stuck or fails every frame for a watchdog period, a camera still
// frozen after it was reopened (see frozenStop) or a failing store stop the pings, and systemd
// restarts the service. A blank picture (lens covered, lights out) keeps them going: a restart
// would not bring the light back.
type health struct {
	lastFrame     atomic.Int64 // unix nanoseconds of the last frame taken from the camera
	failingSince  atomic.Int64 // unix nanoseconds of the first of the inferences failing since the last success; 0 if none
	storeError    atomic.Bool  // the last append failed
	cameraWaiting atomic.Bool  // the camera is connecting or reconnecting
	// frozenStop is when a frozen camera, reopened in-process, stops the pings if it is still
	// frozen (unix nanoseconds; 0 while the camera is not frozen).
	frozenStop atomic.Int64
}

// frozenMinUptime is how many watchdog periods the agent runs at least before a frozen camera
// stops the pings. A camera that stays frozen then restarts the service at most every
// frozenMinUptime + WatchdogSec + RestartSec (the shipped unit: 150 + 30 + 10 s), under the
// unit's StartLimitBurst of 5 starts in 600 s, so systemd keeps trying it.
const frozenMinUptime = 5

func (h *health) frameDone(t time.Time) { h.lastFrame.Store(t.UnixNano()) }

// inferFailed and inferOK mark an inference that failed and one that worked.
func (h *health) inferFailed(t time.Time) { h.failingSince.CompareAndSwap(0, t.UnixNano()) }
func (h *health) inferOK()                { h.failingSince.Store(0) }

// healthy reports whether the watchdog should be fed at now, for a watchdog of window, by an
// agent that has run for up.
func (h *health) healthy(now time.Time, window, up time.Duration) bool {
	if h.storeError.Load() {
		return false
	}
	if h.cameraWaiting.Load() {
		return true // a restart would not bring the camera back; its state overrides its picture's
	}
	if f := h.failingSince.Load(); f != 0 && now.Sub(time.Unix(0, f)) >= window {
		return false
	}
	if s := h.frozenStop.Load(); s != 0 && now.UnixNano() >= s && up >= frozenMinUptime*window {
		return false
	}
	last := h.lastFrame.Load()
	return last != 0 && now.Sub(time.Unix(0, last)) < window
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
	started := time.Now()
	tick := time.NewTicker(interval / 2)
	defer tick.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if h.healthy(now, interval, now.Sub(started)) {
				notify(log, daemon.SdNotifyWatchdog)
				warned = false
			} else if !warned {
				log.Warn("pipeline stalled, camera frozen or store failing: not feeding the systemd watchdog")
				warned = true
			}
		}
	}
}
