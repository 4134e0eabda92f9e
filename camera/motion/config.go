package motion

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors, tested with errors.Is.
var (
	// ErrConfig means a Config, a Policy or a mask can never work; the message names the field.
	ErrConfig = errors.New("motion: bad configuration")
	// ErrFrame means a frame cannot be analysed (empty, or of a pixel format other than 8-bit
	// BGR, BGRA or gray).
	ErrFrame = errors.New("motion: unusable frame")
)

// Defaults of Config and Policy, used for zero fields.
const (
	DefaultWidth          = 160
	DefaultBlur           = 5
	DefaultPixelThreshold = 25
	DefaultMinArea        = 0.003
	DefaultResetArea      = 0.3
	DefaultBackground     = 2 * time.Second
	DefaultSettle         = time.Second
	DefaultMaxGap         = 10 * time.Second
	DefaultFrozenAfter    = 30 * time.Second
	DefaultFrozenDelta    = 2
	DefaultBlankAfter     = 5 * time.Second
	DefaultBlankContrast  = 4
	DefaultHeartbeat      = 10 * time.Second
	DefaultPostFrames     = 10
)

// Limits of the mask, which comes from a configuration file: enough for any real scene, small
// enough that rasterising it costs nothing.
const (
	maxPolygons = 32
	maxPoints   = 64
)

// Config tunes a Detector. The zero value of every field is its default; a negative duration
// turns the check it bounds off where that is noted.
type Config struct {
	// Width is the width in pixels of the image the detector compares (default 160); the height
	// follows the frame's aspect ratio. Smaller is cheaper and blind to smaller objects.
	Width int

	// Blur is the side of the Gaussian kernel that smooths the small image before it is
	// compared, so that sensor noise and compression artefacts are not motion (odd, default 5; 1
	// turns blurring off).
	Blur int

	// PixelThreshold is how much a pixel of the contrast-normalised image must differ from the
	// background, in gray levels (1-254, default 25), to count as changed.
	PixelThreshold int

	// MinArea is the fraction of the frame (its unmasked part) that must change for a frame to
	// be motion (0-1, default 0.003: 0.3%, about 30x30 pixels of a 640x480 frame).
	MinArea float64

	// ResetArea is the fraction of the frame changing at once at or above which the change is
	// taken for the whole scene changing (lights switched on or off, the camera moved, night
	// mode) rather than for motion: the background is replaced by the frame, the frame is a
	// SceneChange and the next Settle is not compared. Objects come into view over several
	// frames while light changes much of the picture at once, so while something is already
	// moving it takes twice ResetArea (MinArea-1, default 0.3).
	ResetArea float64

	// Background is the time constant of the running-average background: a change that stays
	// becomes part of the background after about this long (default 2s). Longer remembers
	// stopped objects longer; shorter adapts faster to light that changes faster than the
	// contrast normalisation can follow.
	Background time.Duration

	// Settle is how long after a Reset the detector follows the scene without reporting motion,
	// while the camera's exposure and white balance settle (default 1s; negative: no settling).
	Settle time.Duration

	// MaxGap is the longest pause between two frames after which the background is stale: the
	// next frame starts over as the first one (default 10s).
	MaxGap time.Duration

	// Mask lists areas to ignore (a tree in the wind, a road, a clock burned into the picture),
	// in coordinates relative to the frame (see Polygon).
	Mask []Polygon

	// FrozenAfter is how long a camera must deliver the same picture to be reported Frozen
	// (default 30s; negative: never). A frame is the same picture as the one before when no pixel
	// of the small image changed by more than FrozenDelta gray levels (default 2; a live camera's
	// noise changes some by more in nearly every frame). A hung camera whose encoder runs on still
	// changes the picture a little at each key frame, so the camera is Frozen when in every sixth
	// of FrozenAfter at most a third of the frames changed (see Health).
	FrozenAfter time.Duration
	FrozenDelta int

	// BlankAfter is how long a camera must deliver blank frames to be reported Blank (default
	// 5s; negative: never). A frame is blank when the standard deviation of its gray levels is
	// below BlankContrast (default 4): all black (lens covered, no light, no signal), all white
	// (overexposed) or of one colour (an encoder's "no video" screen).
	BlankAfter    time.Duration
	BlankContrast float64
}

// Polygon is a closed polygon of at least three points, in coordinates relative to the frame: x
// from 0 (left edge) to 1 (right edge) and y from 0 (top) to 1 (bottom), so that it stays right when
// the camera's resolution changes.
type Polygon []Point

// Point is a point of a Polygon, relative to the frame.
type Point struct{ X, Y float64 }

// ParseMask parses polygons written as "x1,y1,x2,y2,x3,y3,..." with coordinates relative to the
// frame (0 to 1), several separated by ";". An empty string is no mask. Example: the top quarter
// and a triangle in the bottom right corner:
//
//	0,0,1,0,1,0.25,0,0.25; 1,0.7,1,1,0.7,1
func ParseMask(s string) ([]Polygon, error) {
	var mask []Polygon
	for i, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		fields := strings.Split(part, ",")
		if len(fields)%2 != 0 {
			return nil, fmt.Errorf("%w: mask polygon %d: odd number of coordinates (%d): want x,y pairs", ErrConfig, i+1, len(fields))
		}
		p := make(Polygon, 0, len(fields)/2)
		for j := 0; j < len(fields); j += 2 {
			x, errX := strconv.ParseFloat(strings.TrimSpace(fields[j]), 64)
			y, errY := strconv.ParseFloat(strings.TrimSpace(fields[j+1]), 64)
			if errX != nil || errY != nil {
				return nil, fmt.Errorf("%w: mask polygon %d: point %d (%q,%q) is not two numbers", ErrConfig, i+1, j/2+1, fields[j], fields[j+1])
			}
			p = append(p, Point{x, y})
		}
		mask = append(mask, p)
	}
	if err := checkMask(mask); err != nil {
		return nil, err
	}
	return mask, nil
}

// String formats the polygon as ParseMask reads it.
func (p Polygon) String() string {
	var b strings.Builder
	for i, pt := range p {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(pt.X, 'g', -1, 64))
		b.WriteByte(',')
		b.WriteString(strconv.FormatFloat(pt.Y, 'g', -1, 64))
	}
	return b.String()
}

func checkMask(mask []Polygon) error {
	if len(mask) > maxPolygons {
		return fmt.Errorf("%w: mask has %d polygons, at most %d", ErrConfig, len(mask), maxPolygons)
	}
	for i, p := range mask {
		if len(p) < 3 || len(p) > maxPoints {
			return fmt.Errorf("%w: mask polygon %d has %d points, want 3-%d", ErrConfig, i+1, len(p), maxPoints)
		}
		for j, pt := range p {
			if !(pt.X >= 0 && pt.X <= 1 && pt.Y >= 0 && pt.Y <= 1) { // also rejects NaN
				return fmt.Errorf("%w: mask polygon %d point %d (%v,%v) is outside the frame: coordinates are relative, 0 to 1", ErrConfig, i+1, j+1, pt.X, pt.Y)
			}
		}
	}
	return nil
}

// withDefaults checks c and fills its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Width == 0 {
		c.Width = DefaultWidth
	}
	if c.Blur == 0 {
		c.Blur = DefaultBlur
	}
	if c.PixelThreshold == 0 {
		c.PixelThreshold = DefaultPixelThreshold
	}
	if c.MinArea == 0 {
		c.MinArea = DefaultMinArea
	}
	if c.ResetArea == 0 {
		c.ResetArea = DefaultResetArea
	}
	if c.Background == 0 {
		c.Background = DefaultBackground
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
	if c.MaxGap == 0 {
		c.MaxGap = DefaultMaxGap
	}
	if c.FrozenAfter == 0 {
		c.FrozenAfter = DefaultFrozenAfter
	}
	if c.FrozenDelta == 0 {
		c.FrozenDelta = DefaultFrozenDelta
	}
	if c.BlankAfter == 0 {
		c.BlankAfter = DefaultBlankAfter
	}
	if c.BlankContrast == 0 {
		c.BlankContrast = DefaultBlankContrast
	}
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case c.Width < 16 || c.Width > 1024:
		return bad("width %d out of range 16-1024", c.Width)
	case c.Blur < 1 || c.Blur > 31 || c.Blur%2 == 0:
		return bad("blur %d must be an odd number from 1 to 31", c.Blur)
	case c.PixelThreshold < 1 || c.PixelThreshold > 254:
		return bad("pixel threshold %d out of range 1-254", c.PixelThreshold)
	case !(c.MinArea > 0 && c.MinArea < 1):
		return bad("minimum area %v must be a fraction of the frame between 0 and 1", c.MinArea)
	case !(c.ResetArea > c.MinArea && c.ResetArea <= 1):
		return bad("reset area %v must be above the minimum area %v and at most 1", c.ResetArea, c.MinArea)
	case c.Background < 0:
		return bad("background time %v must be positive", c.Background)
	case c.MaxGap < 0:
		return bad("maximum gap %v must be positive", c.MaxGap)
	case c.FrozenDelta < 0 || c.FrozenDelta > 254:
		return bad("frozen delta %d out of range 0-254", c.FrozenDelta)
	case !(c.BlankContrast > 0 && c.BlankContrast < 128):
		return bad("blank contrast %v out of range 0-128", c.BlankContrast)
	}
	if err := checkMask(c.Mask); err != nil {
		return c, err
	}
	return c, nil
}

// Validate reports whether c is usable, without allocating anything.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}
