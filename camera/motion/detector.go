package motion

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// Kind is what the detector made of one frame.
type Kind int

// Frame kinds.
const (
	// Still: compared with the background, less than Config.MinArea changed.
	Still Kind = iota
	// Moving: compared with the background, at least Config.MinArea changed.
	Moving
	// First: there was no background to compare with (the first frame, the first after a pause
	// longer than Config.MaxGap, a change of resolution, or Reset); the frame became it.
	First
	// SceneChange: at least Config.ResetArea changed at once (lights switched on or off, the
	// camera moved, night mode); the frame replaced the background.
	SceneChange
	// Settling: within Config.Settle after a First or SceneChange frame; the background follows
	// the frames without reporting motion while the camera's exposure settles.
	Settling
	// BlankFrame: the frame is blank (see Config.BlankContrast) and was not compared; the next
	// frame that is not starts over as a SceneChange.
	BlankFrame
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Still:
		return "still"
	case Moving:
		return "moving"
	case First:
		return "first"
	case SceneChange:
		return "scene_change"
	case Settling:
		return "settling"
	case BlankFrame:
		return "blank"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Result is the detector's verdict on one frame.
type Result struct {
	// Time is the frame's capture time, as passed to Detect.
	Time time.Time
	// Kind says whether the frame was compared and what came of it.
	Kind Kind
	// Area is the fraction of the frame (of its unmasked part) that differs from the background,
	// 0 to 1: what the agent records as "motion":{"area":...}. It is 0 for frames not compared
	// (First, BlankFrame) and 1 for a SceneChange.
	Area float64
	// Gain is the frame's brightness relative to the background's, as estimated from the
	// pixels that did not change (1: the same; 0.5: half as bright). The background is scaled by it
	// before comparing, which is what makes a brightness change alone no motion.
	Gain float64
	// Level and Contrast are the mean and standard deviation of the frame's gray levels (0-255)
	// outside the mask.
	Level, Contrast float64
	// Same reports that the picture is the same as the previous frame's (no pixel of the small
	// image changed by more than Config.FrozenDelta), as a frozen camera's is.
	Same bool
	// Health is the camera's health after this frame, HealthChanged whether it differs from
	// the previous frame's, and HealthSince when its condition began (the first frame of the
	// frozen picture or of the blank run; for Live, the frame that ended the condition).
	Health        Health
	HealthChanged bool
	HealthSince   time.Time
}

// Motion reports whether the frame showed motion.
func (r Result) Motion() bool { return r.Kind == Moving }

// Detector finds motion in a sequence of frames by comparing each with a running-average
// background, and watches the frames for a frozen or blank camera. It keeps its working images
// between calls, so Detect allocates nothing in steady state; it is not safe for concurrent use.
// Close it to free them.
type Detector struct {
	cfg Config

	levels        []gocv.Mat    // the frame halved, and halved again..., down to the small size
	sizes         []image.Point // the size of each level
	gray, blurred gocv.Mat      // the small image in gray, and blurred

	// Geometry, set from the first frame and whenever the frame size or type changes.
	key      [3]int // frame width, height and type the fields below were made for
	w, h     int    // size of the small image
	ignore   []bool // per small pixel: inside the mask; nil without a mask
	unmasked int    // pixels outside the mask

	prev      []byte    // the previous frame's small gray image, for Same
	havePrev  bool      // prev holds a frame of the current geometry
	bg        []float32 // the background, in gray levels of the current brightness
	haveBG    bool      // bg holds a background; false after a blank frame, a gap or Reset
	blanked   bool      // blank frames replaced the background: the next picture is a SceneChange
	moving    bool      // the previous compared frame changed by at least MinArea
	started   bool      // a frame has been seen since the geometry was set or Reset
	last      time.Time // the previous frame's time
	settleEnd time.Time // end of the settling after a First or SceneChange frame
	hist      [ratioBins]int32
	health    healthTracker
}

// NewDetector checks cfg and returns a detector for it.
func NewDetector(cfg Config) (*Detector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Detector{cfg: cfg, gray: gocv.NewMat(), blurred: gocv.NewMat(),
		health: newHealthTracker(cfg.FrozenAfter, cfg.BlankAfter)}
	// A mask that hides the whole frame would silently turn motion off: refuse it now, on a
	// typical geometry, rather than on the first frame.
	if len(cfg.Mask) > 0 {
		ignore, unmasked := rasterMask(cfg.Mask, cfg.Width, cfg.Width*3/4)
		if unmasked < len(ignore)/100 {
			d.Close()
			return nil, fmt.Errorf("%w: the mask hides %.0f%% of the frame; leave at least 1%% to watch", ErrConfig, 100-100*float64(unmasked)/float64(len(ignore)))
		}
	}
	return d, nil
}

// Config returns the configuration with defaults filled in.
func (d *Detector) Config() Config { return d.cfg }

// Close frees the detector's working images.
func (d *Detector) Close() error {
	d.closeLevels()
	d.gray.Close()
	d.blurred.Close()
	return nil
}

// Reset forgets the background, so that the next frame is First: call it when the source was
// reopened or replaced. The camera health carries on: a camera still frozen after it was
// reopened stays Frozen.
func (d *Detector) Reset() {
	d.haveBG, d.blanked, d.started = false, false, false
}

// Detect runs the detector on one frame m (8-bit BGR, BGRA or gray, as camera frames are) captured
// at t. The frames' times drive the background, the settling and the health checks, so a video
// file is judged by its own timeline when its frames carry media times.
func (d *Detector) Detect(m gocv.Mat, t time.Time) (Result, error) {
	if m.Empty() {
		return Result{}, fmt.Errorf("%w: empty frame", ErrFrame)
	}
	mt := m.Type()
	var code gocv.ColorConversionCode
	switch mt {
	case gocv.MatTypeCV8UC3:
		code = gocv.ColorBGRToGray
	case gocv.MatTypeCV8UC4:
		code = gocv.ColorBGRAToGray
	case gocv.MatTypeCV8UC1:
		code = -1
	default:
		return Result{}, fmt.Errorf("%w: pixel format %v (want 8-bit BGR, BGRA or gray)", ErrFrame, mt)
	}
	if key := [3]int{m.Cols(), m.Rows(), int(mt)}; key != d.key {
		d.setGeometry(key)
	}

	// Downscale before converting to gray, which is then cheap. A bilinear resize to exactly half
	// the size averages 2x2 pixels, so halving repeatedly is area averaging (what makes sensor
	// noise vanish) at a fraction of the cost of OpenCV's INTER_AREA; the last step, by less than
	// two, is bilinear.
	src := m
	for i := range d.levels {
		gocv.Resize(src, &d.levels[i], d.sizes[i], 0, 0, gocv.InterpolationLinear)
		src = d.levels[i]
	}
	if code < 0 {
		src.CopyTo(&d.gray)
	} else {
		gocv.CvtColor(src, &d.gray, code)
	}
	gray, err := d.gray.DataPtrUint8()
	if err != nil || len(gray) != d.w*d.h {
		return Result{}, fmt.Errorf("%w: internal: small image is %d bytes, want %d", ErrFrame, len(gray), d.w*d.h)
	}
	frame := gray
	if d.cfg.Blur > 1 {
		gocv.GaussianBlur(d.gray, &d.blurred, image.Pt(d.cfg.Blur, d.cfg.Blur), 0, 0, gocv.BorderReplicate)
		if frame, err = d.blurred.DataPtrUint8(); err != nil || len(frame) != d.w*d.h {
			return Result{}, fmt.Errorf("%w: internal: blurred image is %d bytes, want %d", ErrFrame, len(frame), d.w*d.h)
		}
	}

	r := Result{Time: t, Gain: 1}
	r.Same = d.havePrev && maxAbsDiff(gray, d.prev) <= d.cfg.FrozenDelta
	copy(d.prev, gray)
	d.havePrev = true

	restart := !d.started || t.Sub(d.last) > d.cfg.MaxGap || t.Before(d.last)
	dt := t.Sub(d.last)
	d.started, d.last = true, t
	if restart {
		d.haveBG, d.blanked = false, false
	}

	r.Level, r.Contrast, r.Gain = d.stats(frame)
	blank := r.Contrast < d.cfg.BlankContrast

	switch {
	case blank:
		r.Kind, r.Gain = BlankFrame, 1
		if d.haveBG {
			d.haveBG, d.blanked = false, true
		}
	case !d.haveBG:
		r.Kind, r.Gain = First, 1
		d.moving = false
		if d.blanked {
			// The picture came back after blank frames: the scene changed as a whole.
			r.Kind, r.Area = SceneChange, 1
		}
		d.blanked = false
		d.learn(frame)
		d.settleEnd = t.Add(d.cfg.Settle)
	default:
		changed := d.compare(frame, r.Gain, alpha(dt, d.cfg.Background))
		r.Area = float64(changed) / float64(d.unmasked)
		// Objects come into view over several frames; light switched on changes much of the
		// picture at once. So a large change appearing when nothing moved is a scene change,
		// and while something moves it takes twice as much.
		reset := d.cfg.ResetArea
		if d.moving {
			reset = min(1, 2*reset)
		}
		d.moving = r.Area >= d.cfg.MinArea
		switch {
		case r.Area >= reset:
			r.Kind, r.Area, d.moving = SceneChange, 1, false
			d.learn(frame)
			d.settleEnd = t.Add(d.cfg.Settle)
		case t.Before(d.settleEnd):
			r.Kind = Settling
			d.learn(frame)
		case r.Area >= d.cfg.MinArea:
			r.Kind = Moving
		default:
			r.Kind = Still
		}
	}
	// A frozen camera shows neither motion nor a new scene: a picture that does (a slideshow, a
	// video file's cuts) is live however few of its frames change.
	moved := r.Kind == Moving || r.Kind == SceneChange
	r.Health, r.HealthChanged = d.health.observe(t, r.Same, blank, moved)
	r.HealthSince = d.health.since
	return r, nil
}

// setGeometry sizes the small image and the per-pixel state for frames of key's size and type.
func (d *Detector) setGeometry(key [3]int) {
	d.key = key
	fw, fh := key[0], key[1]
	d.w = min(d.cfg.Width, fw)
	d.h = max(1, int(math.Round(float64(fh)*float64(d.w)/float64(fw))))
	d.closeLevels()
	for size := image.Pt(fw, fh); size != image.Pt(d.w, d.h); {
		if size.X/2 >= d.w && size.Y/2 >= d.h {
			size = image.Pt(size.X/2, size.Y/2)
		} else {
			size = image.Pt(d.w, d.h)
		}
		d.sizes = append(d.sizes, size)
		d.levels = append(d.levels, gocv.NewMat())
	}
	n := d.w * d.h
	d.prev = make([]byte, n)
	d.bg = make([]float32, n)
	d.havePrev, d.haveBG, d.blanked, d.started = false, false, false, false
	d.ignore, d.unmasked = nil, n
	if len(d.cfg.Mask) > 0 {
		d.ignore, d.unmasked = rasterMask(d.cfg.Mask, d.w, d.h)
		if d.unmasked == 0 { // NewDetector refused masks hiding nearly all; rounding could hide the rest
			d.ignore, d.unmasked = nil, n
		}
	}
}

func (d *Detector) closeLevels() {
	for _, m := range d.levels {
		m.Close()
	}
	d.levels, d.sizes = d.levels[:0], d.sizes[:0]
}

// rasterMask draws mask on a w x h grid and returns which cells it covers and how many it leaves.
func rasterMask(mask []Polygon, w, h int) ([]bool, int) {
	pts := make([][]image.Point, len(mask))
	for i, p := range mask {
		pts[i] = make([]image.Point, len(p))
		for j, pt := range p {
			pts[i][j] = image.Pt(int(math.Round(pt.X*float64(w))), int(math.Round(pt.Y*float64(h))))
		}
	}
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC1)
	defer m.Close()
	m.SetTo(gocv.NewScalar(0, 0, 0, 0))
	pv := gocv.NewPointsVectorFromPoints(pts)
	defer pv.Close()
	gocv.FillPoly(&m, pv, color.RGBA{255, 255, 255, 255})
	ignore := make([]bool, w*h)
	unmasked := 0
	if px, err := m.DataPtrUint8(); err == nil {
		for i, v := range px {
			ignore[i] = v != 0
			if v == 0 {
				unmasked++
			}
		}
	}
	return ignore, unmasked
}

// Gain estimation: the median of log2(frame/background) over pixels that are neither too dark nor
// clipped, in steps of 1/ratioSteps, looked up in a table of every pair of 8-bit levels.
const (
	ratioSteps = 64
	ratioLow   = 12  // levels below carry mostly noise
	ratioHigh  = 243 // levels above may be clipped
	ratioMax   = 5 * ratioSteps
	ratioBins  = 2*ratioMax + 1
)

// ratioTable[b][f] is the histogram bin of the ratio f/b; it is read-only once built.
var ratioTable = sync.OnceValue(func() *[256][256]uint16 {
	var t [256][256]uint16
	for b := ratioLow; b <= ratioHigh; b++ {
		for f := ratioLow; f <= ratioHigh; f++ {
			bin := int(math.Round(ratioSteps*math.Log2(float64(f)/float64(b)))) + ratioMax
			t[b][f] = uint16(max(0, min(ratioBins-1, bin)))
		}
	}
	return &t
})

// stats returns the mean and standard deviation of frame outside the mask and, when there is a
// background, the frame's gain relative to it (1 when too few pixels can tell).
func (d *Detector) stats(frame []byte) (mean, std, gain float64) {
	var sum, sumSq uint64
	n := 0
	useBG := d.haveBG
	if useBG {
		clear(d.hist[:])
	}
	tab := ratioTable()
	ratios := 0
	for i, f := range frame {
		if d.ignore != nil && d.ignore[i] {
			continue
		}
		sum += uint64(f)
		sumSq += uint64(f) * uint64(f)
		n++
		if useBG && f >= ratioLow && f <= ratioHigh {
			if b := int(d.bg[i] + 0.5); b >= ratioLow && b <= ratioHigh {
				d.hist[tab[b][f]]++
				ratios++
			}
		}
	}
	if n == 0 {
		return 0, 0, 1
	}
	mean = float64(sum) / float64(n)
	std = math.Sqrt(max(0, float64(sumSq)/float64(n)-mean*mean))
	gain = 1
	if ratios >= n/10 {
		half, acc := int32(ratios/2), int32(0)
		for bin, c := range d.hist {
			if acc += c; acc > half {
				gain = math.Exp2(float64(bin-ratioMax) / ratioSteps)
				break
			}
		}
	}
	return mean, std, gain
}

// compare scales the background by gain, counts the unmasked pixels of frame that differ from it
// by more than the threshold, and moves the background towards frame by a.
func (d *Detector) compare(frame []byte, gain, a float64) int {
	thr := float32(d.cfg.PixelThreshold)
	g, af := float32(gain), float32(a)
	changed := 0
	for i, fb := range frame {
		f := float32(fb)
		b := min(255, d.bg[i]*g)
		if diff := f - b; (diff > thr || -diff > thr) && (d.ignore == nil || !d.ignore[i]) {
			changed++
		}
		d.bg[i] = b + af*(f-b)
	}
	return changed
}

// learn makes frame the background.
func (d *Detector) learn(frame []byte) {
	for i, f := range frame {
		d.bg[i] = float32(f)
	}
	d.haveBG = true
}

// alpha is the weight of a frame dt after the previous one in a running average of time constant tau.
func alpha(dt, tau time.Duration) float64 {
	if dt <= 0 {
		return 0
	}
	if tau <= 0 {
		return 1
	}
	return 1 - math.Exp(-float64(dt)/float64(tau))
}

func maxAbsDiff(a, b []byte) int {
	m := 0
	for i, x := range a {
		d := int(x) - int(b[i])
		if d < 0 {
			d = -d
		}
		if d > m {
			m = d
		}
	}
	return m
}
