package motion

import (
	"errors"
	"image"
	"math"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

const (
	roomImage   = "../../testdata/models/detect/cats_and_dogs.jpg"
	burgerImage = "../../testdata/models/classify_quant/burger.jpg"
)

// scene returns the room photo at 640x480 (8-bit BGR), as the camera would deliver it.
func scene(t testing.TB) gocv.Mat {
	t.Helper()
	img := gocv.IMRead(roomImage, gocv.IMReadColor)
	if img.Empty() {
		t.Fatalf("cannot read %s", roomImage)
	}
	defer img.Close()
	out := gocv.NewMat()
	gocv.Resize(img, &out, image.Pt(640, 480), 0, 0, gocv.InterpolationArea)
	return out
}

// withObject returns a copy of base with a w x h piece of the burger photo at (x, y).
func withObject(t testing.TB, base gocv.Mat, x, y, w, h int) gocv.Mat {
	t.Helper()
	burger := gocv.IMRead(burgerImage, gocv.IMReadColor)
	if burger.Empty() {
		t.Fatalf("cannot read %s", burgerImage)
	}
	defer burger.Close()
	patch := gocv.NewMat()
	defer patch.Close()
	gocv.Resize(burger, &patch, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
	out := base.Clone()
	roi := out.Region(image.Rect(x, y, x+w, y+h))
	patch.CopyTo(&roi)
	roi.Close()
	return out
}

// scaled returns base with every pixel multiplied by gain(x), clipped.
func scaled(base gocv.Mat, gain func(x int) float64) gocv.Mat {
	out := base.Clone()
	px, _ := out.DataPtrUint8()
	w := out.Cols()
	for i := range px {
		x := (i / 3) % w
		px[i] = uint8(min(255, math.Round(float64(px[i])*gain(x))))
	}
	return out
}

type step struct {
	name string
	mat  gocv.Mat
	at   time.Duration // since the first frame
	want Kind          // or anyKind
}

// anyKind as a step's want leaves the kind unchecked.
const anyKind Kind = -1

// hold repeats m every 100 ms from from to to (excluded), unchecked.
func hold(m gocv.Mat, from, to time.Duration) []step {
	var s []step
	for at := from; at < to; at += 100 * time.Millisecond {
		s = append(s, step{"held", m, at, anyKind})
	}
	return s
}

func newDetector(t testing.TB, cfg Config) *Detector {
	t.Helper()
	d, err := NewDetector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// play runs the steps through d and checks each frame's kind; it returns the results.
func play(t *testing.T, d *Detector, steps []step) []Result {
	t.Helper()
	var out []Result
	for _, s := range steps {
		r, err := d.Detect(s.mat, t0.Add(s.at))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.want != anyKind && r.Kind != s.want {
			t.Errorf("%s at %v: kind %v (area %.4f, gain %.3f), want %v", s.name, s.at, r.Kind, r.Area, r.Gain, s.want)
		}
		out = append(out, r)
	}
	return out
}

func TestDetectObjectAndMask(t *testing.T) {
	room := scene(t)
	defer room.Close()
	obj := withObject(t, room, 100, 300, 120, 100) // 3.9% of the frame
	defer obj.Close()
	ms := time.Millisecond
	steps := []step{
		{"first", room, 0, First},
		{"settling", room, 500 * ms, Settling},
		{"still", room, 1100 * ms, Still},
		{"object", obj, 1200 * ms, Moving},
	}
	// The object stays: after a few background time constants it is part of the background, and
	// its leaving uncovers the room, which is motion.
	steps = append(steps, hold(obj, 1300*ms, 8*time.Second)...)
	steps = append(steps, step{"object stays", obj, 8 * time.Second, Still}, step{"object gone", room, 8100 * ms, Moving})
	// There for one frame only: the background barely moved towards it.
	steps = append(steps, hold(room, 8200*ms, 16*time.Second)...)
	steps = append(steps, step{"object for one frame", obj, 16 * time.Second, Moving}, step{"after one frame", room, 16100 * ms, Still})
	res := play(t, newDetector(t, Config{}), steps)
	if !res[2].Same || res[2].Area != 0 || res[2].Gain != 1 {
		t.Errorf("identical frame: same %v area %v gain %v, want true 0 1", res[2].Same, res[2].Area, res[2].Gain)
	}
	if a := res[3].Area; a < 0.03 || a > 0.045 {
		t.Errorf("object of 3.9%% of the frame: area %.4f", a)
	}
	if res[3].Same || !res[3].Motion() {
		t.Errorf("object frame: same %v motion %v", res[3].Same, res[3].Motion())
	}

	// The same with the object's corner of the frame masked: nothing moves.
	mask, err := ParseMask("0,0.55,0.4,0.55,0.4,1,0,1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range steps[3:] {
		steps[3+i].want = anyKind
		if steps[3+i].name != "held" {
			steps[3+i].want = Still
		}
	}
	res = play(t, newDetector(t, Config{Mask: mask}), steps)
	if res[3].Area != 0 {
		t.Errorf("masked object: area %.4f, want 0", res[3].Area)
	}
}

func TestDetectBrightnessIsNotMotion(t *testing.T) {
	room := scene(t)
	defer room.Close()
	var steps []step
	add := func(name string, m gocv.Mat, at time.Duration, want Kind) {
		steps = append(steps, step{name, m, at, want})
	}
	add("first", room, 0, First)
	// Exposure falls to 50% in one step, comes back, then rises to 140% (highlights clip): a
	// gain of the whole picture, however sudden, is not motion.
	dim := scaled(room, func(int) float64 { return 0.5 })
	defer dim.Close()
	bright := scaled(room, func(int) float64 { return 1.4 })
	defer bright.Close()
	add("steady", room, 2*time.Second, Still)
	add("dim", dim, 2100*time.Millisecond, Still)
	add("dim again", dim, 2200*time.Millisecond, Still)
	add("back", room, 2300*time.Millisecond, Still)
	add("bright", bright, 2400*time.Millisecond, Still)
	res := play(t, newDetector(t, Config{}), steps)
	if g := res[2].Gain; math.Abs(g-0.5) > 0.02 {
		t.Errorf("gain after halving the exposure: %.3f, want 0.5", g)
	}
	if g := res[3].Gain; math.Abs(g-1) > 0.02 {
		t.Errorf("gain of the second dim frame: %.3f, want 1", g)
	}
	if g := res[4].Gain; math.Abs(g-2) > 0.05 {
		t.Errorf("gain back to full exposure: %.3f, want 2", g)
	}
	if res[5].Area > DefaultMinArea/2 {
		t.Errorf("clipped exposure: area %.4f", res[5].Area)
	}
}

func TestDetectSceneChangeAndBlank(t *testing.T) {
	room := scene(t)
	defer room.Close()
	// A lamp on the left: the left of the picture 1.8x as bright, the right unchanged.
	lamp := scaled(room, func(x int) float64 { return 1.8 - 0.8*float64(x)/640 })
	defer lamp.Close()
	black := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(2, 2, 2, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer black.Close()
	white := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(255, 255, 255, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer white.Close()
	s := time.Second
	res := play(t, newDetector(t, Config{Settle: s}), []step{
		{"first", room, 0, First},
		{"still", room, 2 * s, Still},
		{"lamp on", lamp, 3 * s, SceneChange},
		{"settling", lamp, 3*s + 500*time.Millisecond, Settling},
		{"settled", lamp, 4 * s, Still},
		{"lens covered", black, 5 * s, BlankFrame},
		{"overexposed", white, 6 * s, BlankFrame},
		{"picture back", room, 7 * s, SceneChange},
		{"settling again", room, 7*s + 900*time.Millisecond, Settling},
		{"still again", room, 8 * s, Still},
	})
	if res[2].Area != 1 {
		t.Errorf("scene change: area %v, want 1", res[2].Area)
	}
	if res[5].Level > 5 || res[6].Level < 250 {
		t.Errorf("levels: black %.1f, white %.1f", res[5].Level, res[6].Level)
	}
}

func TestDetectStartsOver(t *testing.T) {
	room := scene(t)
	defer room.Close()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(room, &small, image.Pt(320, 240), 0, 0, gocv.InterpolationArea)
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(room, &gray, gocv.ColorBGRToGray)
	bgra := gocv.NewMat()
	defer bgra.Close()
	gocv.CvtColor(room, &bgra, gocv.ColorBGRToBGRA)
	s := time.Second
	d := newDetector(t, Config{Settle: -1})
	play(t, d, []step{
		{"first", room, 0, First},
		{"still", room, s, Still},
		{"resolution changed", small, 2 * s, First},
		{"still small", small, 3 * s, Still},
		{"after a 15 s gap", small, 18 * s, First},
		{"clock stepped back", small, 10 * s, First},
		{"gray", gray, 11 * s, First},
		{"gray still", gray, 12 * s, Still},
		{"bgra", bgra, 13 * s, First},
		{"bgra still", bgra, 14 * s, Still},
	})
	d.Reset()
	play(t, d, []step{{"after Reset", bgra, 15 * s, First}})

	if _, err := d.Detect(gocv.NewMat(), t0); !errors.Is(err, ErrFrame) {
		t.Errorf("empty frame: %v, want ErrFrame", err)
	}
	f32 := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV32F)
	defer f32.Close()
	if _, err := d.Detect(f32, t0); !errors.Is(err, ErrFrame) {
		t.Errorf("float frame: %v, want ErrFrame", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{
		{Width: 8}, {Width: 2000}, {Blur: 4}, {Blur: 33}, {PixelThreshold: 255}, {PixelThreshold: -1},
		{MinArea: 1}, {MinArea: -0.1}, {MinArea: math.NaN()}, {ResetArea: 0.002}, {ResetArea: 1.5},
		{Background: -time.Second}, {MaxGap: -time.Second}, {FrozenDelta: 300}, {BlankContrast: 200},
		{BlankContrast: math.NaN()}, {Mask: []Polygon{{{0, 0}, {1, 0}}}}, {Mask: []Polygon{{{0, 0}, {2, 0}, {1, 1}}}},
		{Mask: []Polygon{{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}}, // hides everything
	} {
		if _, err := NewDetector(c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewDetector(%+v): %v, want ErrConfig", c, err)
		}
	}
	d := newDetector(t, Config{FrozenAfter: -1, Settle: -1})
	c := d.Config()
	if c.Width != DefaultWidth || c.MinArea != DefaultMinArea || c.FrozenAfter != -1 || c.BlankAfter != DefaultBlankAfter {
		t.Errorf("defaults not filled: %+v", c)
	}
}

func TestParseMask(t *testing.T) {
	m, err := ParseMask(" 0,0, 1,0 ,1,0.25,0,0.25 ; 1,0.7,1,1,0.7,1;")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || len(m[0]) != 4 || len(m[1]) != 3 || m[0][2] != (Point{1, 0.25}) {
		t.Fatalf("ParseMask: %v", m)
	}
	if got := m[1].String(); got != "1,0.7,1,1,0.7,1" {
		t.Errorf("String() = %q", got)
	}
	if m, err := ParseMask(""); err != nil || m != nil {
		t.Errorf(`ParseMask("") = %v, %v`, m, err)
	}
	for _, s := range []string{"0,0,1,0,1", "0,0,1,0", "a,b,c,d,e,f", "0,0,1,0,1,1.5", "0,0,1,0,NaN,1",
		strings.Repeat("0,0,1,0,1,1;", 33)} {
		if _, err := ParseMask(s); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseMask(%.40q): %v, want ErrConfig", s, err)
		}
	}
}
