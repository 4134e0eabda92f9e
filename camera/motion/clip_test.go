package motion

import (
	"math"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// The test clip and its timeline: see testdata/clips/motion.sh.
const (
	motionClip = "../../testdata/clips/motion.mp4"
	clipFrames = 1300
	clipFPS    = 10
	// birdMask covers the swaying bird in the top right corner, as a user masks a tree.
	birdMask = "0.78,0,1,0,1,0.27,0.78,0.27"
)

type span struct{ from, to time.Duration }

func (s span) has(at time.Duration) bool { return at >= s.from && at < s.to }

const sec = time.Second

var (
	personA   = span{20 * sec, 28 * sec}                   // walks in, stands 22.5-25.5, leaves
	personB   = span{66 * sec, 70 * sec}                   // walks across
	ramp      = span{40 * sec, 44 * sec}                   // the light fades to 55%
	lightsOn  = span{56 * sec, 57 * sec}                   // the lamp comes on at 56 s
	frozen    = span{80 * sec, 115 * sec}                  // the picture of 80 s repeats
	black     = span{115 * sec, 122100 * time.Millisecond} // lens covered, 115.0-122.0 s
	statics   = []span{{1 * sec, 20 * sec}, {31 * sec, 40 * sec}, {44 * sec, 56 * sec}, {58 * sec, 66 * sec}, {72 * sec, 80 * sec}, {124 * sec, 130 * sec}}
	personAts = []time.Duration{23 * sec, 24500 * time.Millisecond, 67500 * time.Millisecond, 68500 * time.Millisecond}
)

// clipFrame is what the detectors and gates made of one frame of the clip.
type clipFrame struct {
	at       time.Duration // the frame's media time
	res      Result        // default config, bird masked
	reason   Reason
	unmasked Result // default config, no mask
	reasonU  Reason
}

// decodeClip decodes the clip with OpenCV and runs the two detectors and gates on every frame,
// timed by the frames' media times. It returns copies of the frames at the times in keep.
func decodeClip(t *testing.T, keep []time.Duration) ([]clipFrame, map[time.Duration]gocv.Mat) {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(motionClip)
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	mask, err := ParseMask(birdMask)
	if err != nil {
		t.Fatal(err)
	}
	d, du := newDetector(t, Config{Mask: mask}), newDetector(t, Config{})
	g, gu := newGate(t, Policy{}), newGate(t, Policy{})
	kept := map[time.Duration]gocv.Mat{}
	t.Cleanup(func() {
		for _, m := range kept {
			m.Close()
		}
	})
	m := gocv.NewMat()
	defer m.Close()
	var out []clipFrame
	for vc.Read(&m) {
		at := time.Duration(math.Round(vc.Get(gocv.VideoCapturePosMsec))) * time.Millisecond
		if n := len(out); n > 0 && at <= out[n-1].at {
			t.Fatalf("frame %d at %v after %v: media times must grow", n, at, out[n-1].at)
		}
		ts := t0.Add(at)
		f := clipFrame{at: at}
		if f.res, err = d.Detect(m, ts); err != nil {
			t.Fatal(err)
		}
		if f.unmasked, err = du.Detect(m, ts); err != nil {
			t.Fatal(err)
		}
		f.reason, f.reasonU = g.Decide(f.res), gu.Decide(f.unmasked)
		for _, k := range keep {
			if k == at {
				kept[at] = m.Clone()
			}
		}
		out = append(out, f)
	}
	if len(out) != clipFrames {
		t.Fatalf("decoded %d frames, want %d", len(out), clipFrames)
	}
	return out, kept
}

// TestClip checks the skip and trigger rules, the heartbeat and the camera health on the real clip,
// decoded once.
func TestClip(t *testing.T) {
	frames, kept := decodeClip(t, personAts)
	in := func(s span) []clipFrame {
		var fs []clipFrame
		for _, f := range frames {
			if s.has(f.at) {
				fs = append(fs, f)
			}
		}
		return fs
	}

	t.Run("every moving stretch is inferred", func(t *testing.T) {
		// From the first frame the person shows in until they are gone, standing included, every
		// frame is inferred: no missed event, and the stop is recorded.
		for _, s := range []span{{personA.from + 200*time.Millisecond, personA.to}, {personB.from + 200*time.Millisecond, personB.to}} {
			for _, f := range in(s) {
				if !f.reason.Infer() {
					t.Errorf("person in view at %v: frame skipped (%v, %v, area %.4f)", f.at, f.reason, f.res.Kind, f.res.Area)
				}
			}
		}
	})

	t.Run("the model finds the person in the inferred frames", func(t *testing.T) {
		det := newSSD(t, 2)
		for _, at := range personAts {
			m, ok := kept[at]
			if !ok {
				t.Fatalf("no frame at %v", at)
			}
			score, err := det.bestScore(m, 0)
			if err != nil {
				t.Fatal(err)
			}
			if score < 0.5 {
				t.Errorf("frame at %v: person score %.2f, want >= 0.5", at, score)
			}
		}
	})

	t.Run("static stretches are inferred only on heartbeats", func(t *testing.T) {
		for _, s := range statics {
			for _, f := range in(s) {
				if f.reason.Infer() && f.reason != ReasonHeartbeat {
					t.Errorf("static scene at %v: inferred (%v, area %.4f)", f.at, f.reason, f.res.Area)
				}
			}
		}
	})

	t.Run("the ramp and the lights at most one inference each", func(t *testing.T) {
		for _, c := range []struct {
			name string
			s    span
		}{{"ramp", span{ramp.from, ramp.to + 2*sec}}, {"lights on", span{lightsOn.from, lightsOn.to + 2*sec}}} {
			n := 0
			for _, f := range in(c.s) {
				if f.reason.Infer() && f.reason != ReasonHeartbeat {
					n++
				}
			}
			if n > 1 {
				t.Errorf("%s: %d inferences besides heartbeats, want at most 1", c.name, n)
			}
		}
		// The lamp is the one sudden change of the whole scene: it is looked at once.
		for _, f := range in(lightsOn) {
			if f.at == lightsOn.from && f.reason != ReasonSceneChange {
				t.Errorf("lights on at %v: %v (%v, area %.4f), want scene_change", f.at, f.reason, f.res.Kind, f.res.Area)
			}
		}
	})

	t.Run("heartbeats are on time", func(t *testing.T) {
		const heartbeat, frame = DefaultHeartbeat, sec / clipFPS
		var last time.Duration
		beats := 0
		for i, f := range frames {
			if !f.reason.Infer() {
				if f.reason != ReasonFrozen && f.reason != ReasonBlank && i > 0 && f.at-last > heartbeat {
					t.Fatalf("at %v nothing inferred for %v (last at %v), heartbeat %v", f.at, f.at-last, last, heartbeat)
				}
				continue
			}
			if f.reason == ReasonHeartbeat {
				beats++
				if gap := f.at - last; gap < heartbeat || gap >= heartbeat+frame {
					t.Errorf("heartbeat at %v, %v after the last inference; want %v to %v", f.at, gap, heartbeat, heartbeat+frame)
				}
			}
			last = f.at
		}
		if beats < 8 {
			t.Errorf("%d heartbeats, want at least 8 over the clip's static minutes", beats)
		}
	})

	t.Run("frozen", func(t *testing.T) {
		var since, at time.Duration
		for _, f := range frames {
			if f.res.Health == Frozen && at == 0 {
				at, since = f.at, f.res.HealthSince.Sub(t0)
			}
			if f.res.Health == Frozen && !frozen.has(f.at) {
				t.Fatalf("frozen at %v, outside the frozen stretch %v-%v", f.at, frozen.from, frozen.to)
			}
			if f.res.Health == Frozen && f.reason != ReasonFrozen {
				t.Errorf("frozen frame at %v: %v, want skipped as frozen", f.at, f.reason)
			}
		}
		// The picture stands still from 80 s: frozen after about FrozenAfter (30 s).
		if lo, hi := frozen.from+DefaultFrozenAfter*9/10, frozen.from+DefaultFrozenAfter+sec; at < lo || at > hi {
			t.Errorf("frozen from %v, want between %v and %v", at, lo, hi)
		}
		if since < frozen.from-2*sec || since > frozen.from+3*sec {
			t.Errorf("frozen since %v, want about %v", since, frozen.from)
		}
	})

	t.Run("blank", func(t *testing.T) {
		blankAt := time.Duration(0)
		for _, f := range frames {
			if black.has(f.at) != (f.res.Kind == BlankFrame) {
				t.Errorf("frame at %v: kind %v (contrast %.1f)", f.at, f.res.Kind, f.res.Contrast)
			}
			if black.has(f.at) && f.reason != ReasonBlank {
				t.Errorf("black frame at %v: %v, want skipped as blank", f.at, f.reason)
			}
			if f.res.Health == Blank && blankAt == 0 {
				blankAt = f.at
			}
			if f.res.Health == Blank && !black.has(f.at) {
				t.Errorf("blank at %v, outside the black stretch", f.at)
			}
		}
		if want := black.from + DefaultBlankAfter; blankAt != want {
			t.Errorf("blank from %v, want %v (BlankAfter after the first black frame)", blankAt, want)
		}
		// The picture comes back: one look at it, and the camera is live.
		for _, f := range in(span{black.to, black.to + 100*time.Millisecond}) {
			if f.reason != ReasonSceneChange || f.res.Health != Live || !f.res.HealthChanged {
				t.Errorf("picture back at %v: %v, health %v (changed %v)", f.at, f.reason, f.res.Health, f.res.HealthChanged)
			}
		}
	})

	t.Run("the mask", func(t *testing.T) {
		// Without the mask the swaying bird is motion throughout; with it the same frames are
		// skipped (checked above). The person is found either way.
		n := 0
		for _, f := range in(statics[0]) {
			if f.reasonU == ReasonMotion {
				n++
			}
		}
		if n < 50 {
			t.Errorf("unmasked: %d motion frames in the first static stretch, want the bird to trigger most seconds", n)
		}
		for _, f := range in(span{personA.from + 200*time.Millisecond, personA.to}) {
			if !f.reasonU.Infer() {
				t.Errorf("unmasked, person in view at %v: skipped", f.at)
			}
		}
	})

	t.Run("gating saves most inferences", func(t *testing.T) {
		inferred, static, staticInferred := 0, 0, 0
		for _, f := range frames {
			if f.reason.Infer() {
				inferred++
			}
		}
		for _, s := range statics {
			for _, f := range in(s) {
				static++
				if f.reason.Infer() {
					staticInferred++
				}
			}
		}
		t.Logf("inferred %d of %d frames; on the static stretches %d of %d", inferred, len(frames), staticInferred, static)
		if staticInferred*20 > static {
			t.Errorf("static stretches: %d of %d frames inferred, want at most 5%%", staticInferred, static)
		}
	})
}

// TestSlideshowIsNotFrozen plays the sample clip (still photos, cut every one to two seconds, no
// sensor noise: most frames decode identically to the one before) in a loop for longer than
// FrozenAfter: the cuts are scene changes, each looked at once, and the camera is never frozen.
func TestSlideshowIsNotFrozen(t *testing.T) {
	d, g := newDetector(t, Config{}), newGate(t, Policy{})
	m := gocv.NewMat()
	defer m.Close()
	var c Counter
	frames, same := 0, 0
	for range 6 { // 36 s
		vc, err := gocv.VideoCaptureFile("../../testdata/clips/sample.mp4")
		if err != nil {
			t.Fatal(err)
		}
		for vc.Read(&m) {
			r, err := d.Detect(m, t0.Add(time.Duration(frames)*100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			frames++
			if r.Same {
				same++
			}
			if r.Health != Live {
				t.Fatalf("frame %d (%v into the loop): health %v", frames, time.Duration(frames)*100*time.Millisecond, r.Health)
			}
			c.Add(g.Decide(r))
		}
		vc.Close()
	}
	// The clip cuts 4 times a loop (at 2, 3 and 5 s and back to the start).
	if frames != 360 || same < frames/2 || c.Get(ReasonSceneChange) < 20 {
		t.Errorf("%d frames, %d the same as the one before, inferred %v, skipped %v; want 360, most the same, a scene change at each cut",
			frames, same, c.Inferred(), c.Skipped())
	}
}
