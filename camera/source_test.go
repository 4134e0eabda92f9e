package camera

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

const (
	clipPath   = "../testdata/clips/sample.mp4"
	clipFrames = 60
	clipW      = 640
	clipH      = 480
)

// stateLog records the state changes a source reports.
type stateLog struct {
	mu      sync.Mutex
	changes []StateChange
	signal  chan struct{} // receives (without blocking) on every change
}

func newStateLog() *stateLog { return &stateLog{signal: make(chan struct{}, 1)} }

func (l *stateLog) record(c StateChange) {
	l.mu.Lock()
	l.changes = append(l.changes, c)
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

func (l *stateLog) snapshot() []StateChange {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]StateChange(nil), l.changes...)
}

func (l *stateLog) states() []State {
	var s []State
	for _, c := range l.snapshot() {
		s = append(s, c.State)
	}
	return s
}

// waitFor waits until a recorded change satisfies ok, and returns it.
func (l *stateLog) waitFor(t *testing.T, what string, timeout time.Duration, ok func(StateChange) bool) StateChange {
	t.Helper()
	deadline := time.After(timeout)
	for {
		for _, c := range l.snapshot() {
			if ok(c) {
				return c
			}
		}
		select {
		case <-l.signal:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; states so far: %v", what, l.snapshot())
		}
	}
}

func openTest(t *testing.T, cfg Config) (Source, *stateLog) {
	t.Helper()
	log := newStateLog()
	cfg.OnState = log.record
	s, err := Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", cfg.URL, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, log
}

func nextCtx(t *testing.T, s Source, timeout time.Duration) (*Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Next(ctx)
}

func TestFileSourceDecodesClip(t *testing.T) {
	s, log := openTest(t, Config{URL: clipPath})
	var prev time.Time
	n := 0
	for {
		f, err := nextCtx(t, s, 10*time.Second)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next after %d frames: %v", n, err)
		}
		n++
		if f.Width() != clipW || f.Height() != clipH {
			t.Errorf("frame %d is %dx%d, want %dx%d", n, f.Width(), f.Height(), clipW, clipH)
		}
		if f.Seq() != uint64(n) {
			t.Errorf("frame %d has Seq %d: a file without MaxFPS must yield every frame", n, f.Seq())
		}
		if f.Time().Before(prev) {
			t.Errorf("frame %d time %v before previous %v", n, f.Time(), prev)
		}
		prev = f.Time()
		f.Close()
		f.Close() // a second Close is a no-op
		if n > 2*clipFrames {
			t.Fatal("file source did not end")
		}
	}
	if n != clipFrames {
		t.Errorf("decoded %d frames, want %d", n, clipFrames)
	}
	// EOF again, and the final state says why.
	if _, err := nextCtx(t, s, time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("Next after end = %v, want io.EOF", err)
	}
	st := s.State()
	if st.State != StateStopped || !errors.Is(st.Err, io.EOF) {
		t.Errorf("final state %v err %v, want stopped with io.EOF", st.State, st.Err)
	}
	if got := s.Stats(); got.Frames != clipFrames || got.Dropped != 0 {
		t.Errorf("stats %+v, want %d frames, 0 dropped", got, clipFrames)
	}
	states := log.states()
	if len(states) != 2 || states[0] != StateConnected || states[1] != StateStopped {
		t.Errorf("state changes %v, want [connected stopped]", states)
	}
}

func TestFileSourceLoops(t *testing.T) {
	s, log := openTest(t, Config{URL: clipPath, Loop: true})
	const want = 2*clipFrames + 10
	for i := 1; i <= want; i++ {
		f, err := nextCtx(t, s, 10*time.Second)
		if err != nil {
			t.Fatalf("Next %d: %v", i, err)
		}
		if f.Seq() != uint64(i) {
			t.Fatalf("frame %d has Seq %d: looping must not skip frames", i, f.Seq())
		}
		f.Close()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := nextCtx(t, s, time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
	states := log.states()
	if len(states) != 2 || states[0] != StateConnected || states[1] != StateStopped {
		t.Errorf("state changes %v, want [connected stopped] (a loop is not a reconnect)", states)
	}
	if c := s.State(); !errors.Is(c.Err, ErrClosed) {
		t.Errorf("stopped with %v, want ErrClosed", c.Err)
	}
}

// TestPacedFileAndSetMaxFPS plays a file like a camera at MaxFPS and changes the rate while it
// runs. (Pacing once never happened: the catch-up check negated a saturated Duration.)
func TestPacedFileAndSetMaxFPS(t *testing.T) {
	s, err := Open(context.Background(), Config{URL: "../testdata/clips/sample.mp4", MaxFPS: 20, Loop: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	span := func(n int) time.Duration {
		t.Helper()
		var first, last time.Time
		for i := range n {
			f, err := nextCtx(t, s, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = f.Time()
			}
			last = f.Time()
			f.Close()
		}
		return last.Sub(first)
	}
	span(2) // settle
	if d := span(11); d < 10*40*time.Millisecond {
		t.Errorf("11 frames at 20 fps came within %s", d)
	}
	if err := s.SetMaxFPS(5); err != nil {
		t.Fatal(err)
	}
	span(2) // the frame read at the old rate
	if d := span(5); d < 4*160*time.Millisecond {
		t.Errorf("5 frames at 5 fps came within %s", d)
	}
	for _, bad := range []float64{-1, 1001} {
		if err := s.SetMaxFPS(bad); !errors.Is(err, ErrBadConfig) {
			t.Errorf("SetMaxFPS(%v) = %v, want ErrBadConfig", bad, err)
		}
	}
	// Without a cap the file yields every frame as fast as it is taken.
	if err := s.SetMaxFPS(0); err != nil {
		t.Fatal(err)
	}
	span(30)
}
