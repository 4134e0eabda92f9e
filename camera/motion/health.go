package motion

import (
	"strconv"
	"time"
)

// Health is what the frames say about the camera, beyond its connection state.
type Health int

// Camera health. A uniform picture carries nothing to tell a frozen camera from a live one, so a
// camera that delivers blank frames is Blank, never Frozen.
const (
	Live   Health = iota // the picture changes as a live camera's does
	Frozen               // the same picture for Config.FrozenAfter
	Blank                // blank frames (all black, all white, one colour) for Config.BlankAfter
)

// String returns the health's name, as the agent publishes it in camera states and events.
func (h Health) String() string {
	switch h {
	case Live:
		return "live"
	case Frozen:
		return "frozen"
	case Blank:
		return "blank"
	}
	return "Health(" + strconv.Itoa(int(h)) + ")"
}

// The frozen check counts, in frozenBuckets buckets spanning FrozenAfter, the frames and the frames
// that changed. A frozen source that is re-encoded (an IP camera whose sensor pipeline hung while
// its encoder runs on) changes the picture a little at every key frame and for a few frames after,
// so "the same picture" is judged over stretches of the window: a camera is frozen when in each
// of the frozenGroups stretches of FrozenAfter at most 1 in frozenChangedMax frames changed, and
// live again when more than half did during the last frozenRecover buckets.
const (
	frozenBuckets    = 30
	frozenGroups     = 6
	frozenChangedMax = 3
	frozenRecover    = 2
)

// healthTracker turns per-frame observations into the camera's Health. It uses the frames' times
// only, never the clock.
type healthTracker struct {
	frozenAfter, blankAfter time.Duration // negative: that check is off

	started bool
	last    time.Time // the previous frame's time

	// The frozen window: buckets[i % frozenBuckets] counts the frames of bucket i, which starts
	// at origin + i*width; cur is the newest bucket.
	origin  time.Time
	width   time.Duration
	cur     int64
	buckets [frozenBuckets]struct{ frames, changed uint32 }

	blank      bool      // the previous frame was blank
	blankSince time.Time // time of the first frame of the current blank run

	health Health
	since  time.Time // when the current health's condition began
}

func newHealthTracker(frozenAfter, blankAfter time.Duration) healthTracker {
	return healthTracker{frozenAfter: frozenAfter, blankAfter: blankAfter,
		width: max(frozenAfter/frozenBuckets, time.Millisecond)}
}

// observe records one frame, taken at t, that was the same picture as its predecessor (same),
// blank or not, and showed motion or a new scene (moved) or not, and returns the health after it
// and whether that changed.
func (h *healthTracker) observe(t time.Time, same, blank, moved bool) (Health, bool) {
	if !h.started || t.Before(h.last) {
		// The first frame, or time went backwards (a looping file, a clock step): start over.
		h.started, h.blank = true, false
		h.restartWindow(t)
	}
	h.last = t
	if blank && !h.blank {
		h.blankSince = t
	}
	h.blank = blank

	next, since := Live, t
	switch {
	case blank:
		// Nothing to judge frozenness on; the window starts again with the next picture.
		h.restartWindow(t)
		if h.blankAfter >= 0 && t.Sub(h.blankSince) >= h.blankAfter {
			next, since = Blank, h.blankSince
		}
	case moved:
		// No frozen camera does that: the window starts again, and the camera is live.
		h.restartWindow(t)
	case h.frozenAfter >= 0:
		h.count(t, same)
		if h.frozen(t) {
			next, since = Frozen, h.since
			if h.health != Frozen {
				since = t.Add(-h.frozenAfter)
			}
		}
	}
	if next == h.health {
		return next, false
	}
	h.health, h.since = next, since
	return next, true
}

func (h *healthTracker) restartWindow(t time.Time) {
	h.origin, h.cur = t, 0
	clear(h.buckets[:])
}

// count adds a frame at t to the frozen window.
func (h *healthTracker) count(t time.Time, same bool) {
	i := int64(t.Sub(h.origin) / h.width)
	for j := h.cur + 1; j <= i && j <= h.cur+frozenBuckets; j++ {
		h.buckets[j%frozenBuckets] = struct{ frames, changed uint32 }{}
	}
	h.cur = max(h.cur, i)
	b := &h.buckets[h.cur%frozenBuckets]
	b.frames++
	if !same {
		b.changed++
	}
}

// frozen reports whether the window says the camera is frozen at t.
func (h *healthTracker) frozen(t time.Time) bool {
	if h.health == Frozen {
		var frames, changed uint32
		for j := max(0, h.cur-frozenRecover+1); j <= h.cur; j++ {
			b := h.buckets[j%frozenBuckets]
			frames += b.frames
			changed += b.changed
		}
		return 2*changed <= frames
	}
	if t.Sub(h.origin) < h.frozenAfter {
		return false // the window is not full yet
	}
	const per = frozenBuckets / frozenGroups
	var total uint32
	for g := range frozenGroups {
		var frames, changed uint32
		for j := h.cur - int64(g*per); j > h.cur-int64((g+1)*per); j-- {
			b := h.buckets[j%frozenBuckets] // j >= 0: the window is full
			frames += b.frames
			changed += b.changed
		}
		if frozenChangedMax*changed > frames {
			return false
		}
		total += frames
	}
	return total > 0
}
