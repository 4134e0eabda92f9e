package motion

import (
	"testing"
	"time"
)

// healthRun feeds a tracker frames at 10 fps for n frames, with same and blank from obs, and
// returns the health after each frame and the frames at which it changed.
func healthRun(tr *healthTracker, t0 time.Time, n int, obs func(i int) (same, blank bool)) (states []Health, changes []int) {
	for i := range n {
		same, blank := obs(i)
		h, changed := tr.observe(t0.Add(time.Duration(i)*100*time.Millisecond), same, blank, false)
		states = append(states, h)
		if changed {
			changes = append(changes, i)
		}
	}
	return states, changes
}

func TestHealthFrozenDespiteKeyFrames(t *testing.T) {
	tr := newHealthTracker(30*time.Second, 5*time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 40 s live (every frame differs), then 60 s frozen: the same picture except for a key
	// frame every 2 s and the 4 frames after it, then live again.
	states, changes := healthRun(&tr, t0, 1200, func(i int) (bool, bool) {
		if i < 400 || i >= 1000 {
			return false, false
		}
		return (i-400)%20 >= 5, false
	})
	if len(changes) != 2 {
		t.Fatalf("health changed at frames %v, want twice (frozen, then live)", changes)
	}
	// Frozen about 30 s after the freeze at frame 400 (the window may see a few live frames).
	if f := changes[0]; states[f] != Frozen || f < 400+280 || f > 400+300 {
		t.Errorf("frozen at frame %d (%v), want frames 680-700", f, states[f])
	}
	// Live again within 2 s of the picture changing at frame 1000.
	if l := changes[1]; states[l] != Live || l < 1000 || l > 1020 {
		t.Errorf("live again at frame %d (%v), want frames 1000-1020", l, states[l])
	}
}

func TestHealthLiveCameraNeverFrozen(t *testing.T) {
	tr := newHealthTracker(3*time.Second, 5*time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A hard-compressed static scene: every other frame decodes identically to the one before.
	_, changes := healthRun(&tr, t0, 3000, func(i int) (bool, bool) { return i%2 != 0, false })
	if len(changes) != 0 {
		t.Errorf("health changed at frames %v; a camera whose picture changes in every other frame is live", changes)
	}
}

func TestHealthFrozenSinceAndOff(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newHealthTracker(10*time.Second, 5*time.Second)
	_, changes := healthRun(&tr, t0, 200, func(i int) (bool, bool) { return i >= 20, false })
	if len(changes) != 1 || tr.health != Frozen {
		t.Fatalf("changes %v, health %v; want one change to frozen", changes, tr.health)
	}
	if at := t0.Add(time.Duration(changes[0]) * 100 * time.Millisecond); at.Sub(tr.since) != 10*time.Second {
		t.Errorf("frozen at %v since %v, want since = detection - frozen_after", at, tr.since)
	}

	off := newHealthTracker(-1, -1)
	_, changes = healthRun(&off, t0, 1000, func(i int) (bool, bool) { return true, i > 500 })
	if len(changes) != 0 {
		t.Errorf("with both checks off, health changed at %v", changes)
	}
}

func TestHealthBlank(t *testing.T) {
	tr := newHealthTracker(30*time.Second, 5*time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Blank (and identical) from 10 s to 50 s, with one non-blank frame at 12 s.
	states, changes := healthRun(&tr, t0, 600, func(i int) (bool, bool) {
		blank := i >= 100 && i < 500 && i != 120
		return blank, blank
	})
	// The frame at 12 s restarts the blank run: blank at 12.1 + 5 s, never frozen although
	// the blank frames are identical, live again at 50 s.
	if len(changes) != 2 || changes[0] != 171 || changes[1] != 500 {
		t.Fatalf("health changed at frames %v, want [171 500]", changes)
	}
	if states[171] != Blank || states[500] != Live {
		t.Errorf("states %v %v, want blank then live", states[171], states[500])
	}
	for i := 171; i < 500; i++ {
		if states[i] != Blank {
			t.Fatalf("frame %d: %v, want blank", i, states[i])
		}
	}
}

func TestHealthTimeBackwards(t *testing.T) {
	tr := newHealthTracker(5*time.Second, time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	healthRun(&tr, t0, 100, func(int) (bool, bool) { return true, false })
	if tr.health != Frozen {
		t.Fatalf("health %v after 10 s of the same picture, want frozen", tr.health)
	}
	// A looping file starts over: the window restarts, the camera stays frozen (nothing said
	// otherwise), and a changing picture makes it live.
	states, changes := healthRun(&tr, t0, 30, func(int) (bool, bool) { return false, false })
	if len(changes) != 1 || states[len(states)-1] != Live {
		t.Errorf("after the clock stepped back: changes %v, states %v", changes, states)
	}
}

// TestHealthMotionIsLive: a picture that holds still for seconds between cuts (a slideshow, a video
// file's scenes) is not frozen: no frozen camera shows motion or a new scene, and one that was
// frozen is live again at once when it does.
func TestHealthMotionIsLive(t *testing.T) {
	tr := newHealthTracker(5*time.Second, time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var changes []int
	for i := range 600 { // 60 s, a new scene every 4 s, every other frame identical
		if _, changed := tr.observe(t0.Add(time.Duration(i)*100*time.Millisecond), i%40 != 0, false, i%40 == 0); changed {
			changes = append(changes, i)
		}
	}
	if len(changes) != 0 {
		t.Fatalf("health changed at frames %v; a picture that changes scene every 4 s is live", changes)
	}
	// Without the cuts the same frames are frozen after 5 s...
	for i := 600; i < 700; i++ {
		tr.observe(t0.Add(time.Duration(i)*100*time.Millisecond), true, false, false)
	}
	if tr.health != Frozen {
		t.Fatalf("health %v after 10 s of the same picture, want frozen", tr.health)
	}
	// ...and motion makes the camera live on that frame.
	if h, changed := tr.observe(t0.Add(700*100*time.Millisecond), true, false, true); h != Live || !changed {
		t.Errorf("motion on a frozen camera: %v (changed %v), want live at once", h, changed)
	}
}
