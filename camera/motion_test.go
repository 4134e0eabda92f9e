package camera

import (
	"context"
	"errors"
	"testing"

	"github.com/edge-agent/edge-agent/camera/motion"
)

// TestDetectMotion runs the motion pass on the sample clip through a file source: its stills are
// still, and the cut from the cats to the burger at frame 20 is a change of the whole scene.
func TestDetectMotion(t *testing.T) {
	d, err := motion.NewDetector(motion.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, err := Open(context.Background(), Config{URL: clipPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var last *Frame
	for i := 0; i < 21; i++ {
		f, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.DetectMotion(d)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Time.Equal(f.Time()) {
			t.Errorf("frame %d: result time %v, want the frame's %v", i, r.Time, f.Time())
		}
		switch {
		case i == 0 && r.Kind != motion.First:
			t.Errorf("frame 0: %v, want first", r.Kind)
		case i > 0 && i < 20 && r.Motion():
			t.Errorf("frame %d of a still: motion (area %.4f)", i, r.Area)
		case i == 20 && r.Kind != motion.SceneChange:
			t.Errorf("frame 20, the cut to the burger: %v (area %.4f), want scene_change", r.Kind, r.Area)
		}
		last.Close()
		last = f
	}
	last.Close()
	if _, err := last.DetectMotion(d); !errors.Is(err, ErrFrame) {
		t.Errorf("closed frame: %v, want ErrFrame", err)
	}
}
