package motion

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// runGate feeds g one result per step of 100 ms from t0, with the kind kinds returns for frame i,
// and returns the reasons.
func runGate(t *testing.T, g *Gate, n int, kind func(i int) (Kind, Health)) []Reason {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	out := make([]Reason, n)
	for i := range n {
		k, h := kind(i)
		out[i] = g.Decide(Result{Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), Kind: k, Health: h})
	}
	return out
}

func newGate(t testing.TB, p Policy) *Gate {
	t.Helper()
	g, err := NewGate(p)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestGateHeartbeatOnFrameTime(t *testing.T) {
	g := newGate(t, Policy{Heartbeat: 2 * time.Second})
	reasons := runGate(t, g, 101, func(i int) (Kind, Health) {
		if i == 0 {
			return First, Live
		}
		return Still, Live
	})
	var inferred []int
	for i, r := range reasons {
		if r.Infer() {
			inferred = append(inferred, i)
		}
		switch {
		case i == 0 && r != ReasonStart:
			t.Errorf("frame 0: %v, want start", r)
		case i > 0 && r.Infer() && r != ReasonHeartbeat:
			t.Errorf("frame %d: %v, want heartbeat or no_motion", i, r)
		case i > 0 && !r.Infer() && r != ReasonNoMotion:
			t.Errorf("frame %d: %v, want heartbeat or no_motion", i, r)
		}
	}
	// 10 s of still frames at 10 fps: the start, then one every 2 s on the dot.
	want := []int{0, 20, 40, 60, 80, 100}
	if !slices.Equal(inferred, want) {
		t.Errorf("inferred frames %v, want %v", inferred, want)
	}
}

func TestGateMotionAndPostFrames(t *testing.T) {
	g := newGate(t, Policy{Heartbeat: time.Hour, PostFrames: 3})
	// Motion in frames 5-9 and in frame 20.
	reasons := runGate(t, g, 30, func(i int) (Kind, Health) {
		switch {
		case i == 0:
			return First, Live
		case i >= 5 && i <= 9, i == 20:
			return Moving, Live
		}
		return Still, Live
	})
	want := map[int]Reason{0: ReasonStart, 5: ReasonMotion, 6: ReasonMotion, 7: ReasonMotion, 8: ReasonMotion, 9: ReasonMotion,
		10: ReasonPostMotion, 11: ReasonPostMotion, 12: ReasonPostMotion, 20: ReasonMotion, 21: ReasonPostMotion,
		22: ReasonPostMotion, 23: ReasonPostMotion}
	for i, r := range reasons {
		w, ok := want[i]
		if !ok {
			w = ReasonNoMotion
		}
		if r != w {
			t.Errorf("frame %d: %v, want %v", i, r, w)
		}
	}
}

func TestGateSkipsFrozenBlankAndSettling(t *testing.T) {
	g := newGate(t, Policy{Heartbeat: time.Second, PostFrames: 5})
	reasons := runGate(t, g, 61, func(i int) (Kind, Health) {
		switch {
		case i == 0:
			return First, Live
		case i == 1:
			return Moving, Live // post frames pending when the camera freezes
		case i < 30:
			return Still, Frozen
		case i < 40:
			return BlankFrame, Live
		case i < 50:
			return BlankFrame, Blank
		case i == 50:
			return SceneChange, Live
		case i < 55:
			return Settling, Live
		}
		return Still, Live
	})
	for i, r := range reasons {
		var want Reason
		switch {
		case i == 0:
			want = ReasonStart
		case i == 1:
			want = ReasonMotion
		case i < 30:
			want = ReasonFrozen // neither post frames nor heartbeats infer a frozen picture
		case i < 50:
			want = ReasonBlank
		case i == 50:
			want = ReasonSceneChange
		case i < 55:
			want = ReasonSettling
		case i == 60:
			want = ReasonHeartbeat
		default:
			want = ReasonNoMotion
		}
		if r != want {
			t.Errorf("frame %d: %v, want %v", i, r, want)
		}
	}
}

func TestGateHeartbeatWhileSettlingAndAfterClockStep(t *testing.T) {
	g := newGate(t, Policy{Heartbeat: time.Second})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		kind Kind
		want Reason
	}{
		{0, First, ReasonStart},
		{500 * time.Millisecond, Settling, ReasonSettling},
		{time.Second, Settling, ReasonHeartbeat},
		{-time.Hour, Still, ReasonNoMotion}, // the clock stepped back: not an hour-long heartbeat gap
		{-time.Hour + 999*time.Millisecond, Still, ReasonNoMotion},
		{-time.Hour + time.Second, Still, ReasonHeartbeat},
	}
	for _, s := range steps {
		if got := g.Decide(Result{Time: t0.Add(s.at), Kind: s.kind}); got != s.want {
			t.Errorf("at %v (%v): %v, want %v", s.at, s.kind, got, s.want)
		}
	}
}

func TestPolicyValidation(t *testing.T) {
	for _, p := range []Policy{{Heartbeat: time.Millisecond}, {Heartbeat: 48 * time.Hour}, {Heartbeat: -time.Second}, {PostFrames: 10001}} {
		if _, err := NewGate(p); !errors.Is(err, ErrConfig) {
			t.Errorf("NewGate(%+v): %v, want ErrConfig", p, err)
		}
	}
	g := newGate(t, Policy{})
	if p := g.Policy(); p.Heartbeat != DefaultHeartbeat || p.PostFrames != DefaultPostFrames {
		t.Errorf("defaults: %+v", p)
	}
	if p := newGate(t, Policy{PostFrames: -1}).Policy(); p.PostFrames != 0 {
		t.Errorf("PostFrames -1 gives %d, want 0 (none)", p.PostFrames)
	}
}

func TestCounter(t *testing.T) {
	var c Counter
	for _, r := range []Reason{ReasonMotion, ReasonMotion, ReasonHeartbeat, ReasonNoMotion, ReasonFrozen, ReasonFrozen, ReasonFrozen, Reason(-1), numReasons} {
		c.Add(r)
	}
	inf, skip := c.Inferred(), c.Skipped()
	if len(inf) != 2 || inf["motion"] != 2 || inf["heartbeat"] != 1 {
		t.Errorf("Inferred() = %v", inf)
	}
	if len(skip) != 2 || skip["no_motion"] != 1 || skip["frozen"] != 3 {
		t.Errorf("Skipped() = %v", skip)
	}
	if c.Get(ReasonFrozen) != 3 || c.Get(numReasons) != 0 {
		t.Errorf("Get: %d %d", c.Get(ReasonFrozen), c.Get(numReasons))
	}
	for r := Reason(0); r < numReasons; r++ {
		if s := r.String(); s == "" || s[0] == 'R' {
			t.Errorf("reason %d has no name: %q", r, s)
		}
	}
}
