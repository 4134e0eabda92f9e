package camera

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"testing"

	"gocv.io/x/gocv"
)

const catsPath = "../testdata/models/detect/cats_and_dogs.jpg"

// clipFrame returns frame n (from 1) of the sample clip.
func clipFrame(t testing.TB, n int) *Frame {
	t.Helper()
	s, err := Open(context.Background(), Config{URL: clipPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 1; ; i++ {
		f, err := s.Next(context.Background())
		if err != nil {
			t.Fatalf("clip frame %d: %v", i, err)
		}
		if i == n {
			return f
		}
		f.Close()
	}
}

func readImage(t testing.TB, path string) *Frame {
	t.Helper()
	f, err := ReadImage(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// refPreprocess is the pure-Go reference: OpenCV's bilinear resize (half-pixel centres, edges
// clamped) of the crop rectangle of a BGR image into the inner rectangle of a w x h canvas (black
// elsewhere), then BGR to RGB or gray. It returns one float per output element, before rounding.
func refPreprocess(bgr []byte, sw int, crop, inner image.Rectangle, w, h, channels int) []float64 {
	out := make([]float64, w*h*channels)
	cw, ch := crop.Dx(), crop.Dy()
	iw, ih := inner.Dx(), inner.Dy()
	axis := func(d, dn, sn int) (i0, i1 int, frac float64) {
		f := (float64(d)+0.5)*float64(sn)/float64(dn) - 0.5
		i0 = int(math.Floor(f))
		frac = f - float64(i0)
		if i0 < 0 {
			i0, frac = 0, 0
		}
		if i0 >= sn-1 {
			i0, frac = sn-1, 0
		}
		i1 = min(i0+1, sn-1)
		return
	}
	for y := inner.Min.Y; y < inner.Max.Y; y++ {
		y0, y1, fy := axis(y-inner.Min.Y, ih, ch)
		for x := inner.Min.X; x < inner.Max.X; x++ {
			x0, x1, fx := axis(x-inner.Min.X, iw, cw)
			var bgrv [3]float64
			for c := 0; c < 3; c++ {
				px := func(xx, yy int) float64 {
					return float64(bgr[((crop.Min.Y+yy)*sw+crop.Min.X+xx)*3+c])
				}
				top := px(x0, y0)*(1-fx) + px(x1, y0)*fx
				bot := px(x0, y1)*(1-fx) + px(x1, y1)*fx
				bgrv[c] = math.Round(top*(1-fy) + bot*fy)
			}
			o := (y*w + x) * channels
			if channels == 1 {
				out[o] = 0.114*bgrv[0] + 0.587*bgrv[1] + 0.299*bgrv[2]
			} else {
				out[o], out[o+1], out[o+2] = bgrv[2], bgrv[1], bgrv[0]
			}
		}
	}
	return out
}

// decode turns tensor bytes back into pixel-scale values using the spec's documented formulas,
// so that every dtype is compared with the same reference.
func decode(spec InputSpec, dst []byte, i int) float64 {
	switch spec.Type {
	case UInt8:
		return float64(dst[i])
	case Int8:
		return float64(int8(dst[i])) + 128
	default:
		v := math.Float32frombits(binary.LittleEndian.Uint32(dst[4*i:]))
		return float64(v)*float64(spec.Std) + float64(spec.Mean)
	}
}

func TestPreprocessMatchesReference(t *testing.T) {
	cats := readImage(t, catsPath) // 1200x600
	defer cats.Close()
	clip := clipFrame(t, 35) // 640x480, letterboxed cats and dogs
	defer clip.Close()
	if cats.Width() != 1200 || cats.Height() != 600 {
		t.Fatalf("cats_and_dogs.jpg decoded as %dx%d", cats.Width(), cats.Height())
	}
	cases := []struct {
		frame        *Frame
		spec         InputSpec
		crop, inner  image.Rectangle // expected geometry, worked out by hand
		grayTolerant bool
	}{
		{clip, InputSpec{Width: 300, Height: 300, Channels: 3, Type: UInt8}, image.Rect(0, 0, 640, 480), image.Rect(0, 0, 300, 300), false},
		{cats, InputSpec{Width: 300, Height: 300, Channels: 3, Type: UInt8}, image.Rect(0, 0, 1200, 600), image.Rect(0, 0, 300, 300), false},
		{cats, InputSpec{Width: 224, Height: 224, Channels: 3, Type: Float32, Fit: CenterCrop}, image.Rect(300, 0, 900, 600), image.Rect(0, 0, 224, 224), false},
		{clip, InputSpec{Width: 224, Height: 224, Channels: 3, Type: Int8, Fit: CenterCrop}, image.Rect(80, 0, 560, 480), image.Rect(0, 0, 224, 224), false},
		{cats, InputSpec{Width: 300, Height: 300, Channels: 3, Type: UInt8, Fit: Letterbox}, image.Rect(0, 0, 1200, 600), image.Rect(0, 75, 300, 225), false},
		{clip, InputSpec{Width: 300, Height: 300, Channels: 3, Type: Float32, Fit: Letterbox, Mean: 0, Std: 255}, image.Rect(0, 0, 640, 480), image.Rect(0, 37, 300, 262), false},
		{clip, InputSpec{Width: 96, Height: 96, Channels: 1, Type: Int8, Fit: Letterbox}, image.Rect(0, 0, 640, 480), image.Rect(0, 12, 96, 84), true},
		{cats, InputSpec{Width: 28, Height: 28, Channels: 1, Type: Float32, Mean: 0, Std: 1}, image.Rect(0, 0, 1200, 600), image.Rect(0, 0, 28, 28), true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%dx%d->%dx%dx%d/%v/%v", c.frame.Width(), c.frame.Height(), c.spec.Width, c.spec.Height, c.spec.Channels, c.spec.Type, c.spec.Fit)
		t.Run(name, func(t *testing.T) {
			p, err := NewPreprocessor(c.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			spec := p.Spec()
			dst := make([]byte, spec.TensorBytes())
			// Twice, with another frame size in between, to catch state kept across calls.
			other := cats
			if c.frame == cats {
				other = clip
			}
			for round := 0; round < 2; round++ {
				if _, err := p.Run(other, make([]byte, spec.TensorBytes())); err != nil {
					t.Fatal(err)
				}
				if _, err := p.Run(c.frame, dst); err != nil {
					t.Fatal(err)
				}
			}
			bgr := c.frame.mat.ToBytes()
			ref := refPreprocess(bgr, c.frame.Width(), c.crop, c.inner, spec.Width, spec.Height, spec.Channels)
			tol := 1.0
			if c.grayTolerant {
				tol = 2 // two roundings: resize, then the fixed-point gray weights
			}
			if spec.Type == Float32 {
				tol += 1e-3 * float64(spec.Std)
			}
			worst, differ := 0.0, 0
			for i := range ref {
				d := math.Abs(decode(spec, dst, i) - ref[i])
				if d > 0.5 {
					differ++
				}
				if d > worst {
					worst = d
				}
				if d > tol {
					x, y := (i/spec.Channels)%spec.Width, (i/spec.Channels)/spec.Width
					t.Fatalf("element %d (x %d y %d ch %d): got %.3f, reference %.3f", i, x, y, i%spec.Channels, decode(spec, dst, i), ref[i])
				}
			}
			// Rounding differences from OpenCV's fixed-point arithmetic are rare, not systematic.
			if differ > len(ref)/10 {
				t.Errorf("%d of %d elements differ from the reference by more than 0.5", differ, len(ref))
			}
			t.Logf("max |diff| %.3f, %d of %d elements off by more than 0.5", worst, differ, len(ref))
		})
	}
}

func TestPreprocessDTypes(t *testing.T) {
	// One white, one black and one mid-gray pixel area, checked against the documented formulas.
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 100, 10, 0), 40, 40, gocv.MatTypeCV8UC3) // B=200 G=100 R=10
	f := &Frame{mat: m}
	defer f.Close()
	cases := []struct {
		spec InputSpec
		want [3]float64 // R, G, B elements
	}{
		{InputSpec{Type: UInt8}, [3]float64{10, 100, 200}},
		{InputSpec{Type: Int8}, [3]float64{10 - 128, 100 - 128, 200 - 128}},
		{InputSpec{Type: Float32}, [3]float64{(10 - 127.5) / 127.5, (100 - 127.5) / 127.5, (200 - 127.5) / 127.5}},
		{InputSpec{Type: Float32, Mean: 0, Std: 255}, [3]float64{10.0 / 255, 100.0 / 255, 200.0 / 255}},
		// Requantization: mobilenet-style uint8 input quantization (scale 1/128, zero point 128).
		{InputSpec{Type: UInt8, Scale: 1.0 / 128, ZeroPoint: 128}, [3]float64{
			math.Round((10-127.5)/127.5*128) + 128, math.Round((100-127.5)/127.5*128) + 128, math.Round((200-127.5)/127.5*128) + 128}},
		// int8 with scale 1/255 and zero point -128 on [0,1] inputs equals pixel - 128.
		{InputSpec{Type: Int8, Scale: 1.0 / 255, ZeroPoint: -128, Mean: 0, Std: 255}, [3]float64{10 - 128, 100 - 128, 200 - 128}},
		// Clamping: a scale too fine for the range saturates.
		{InputSpec{Type: Int8, Scale: 1.0 / 1024, ZeroPoint: 0}, [3]float64{-128, -128, 127}},
	}
	for _, c := range cases {
		spec := c.spec
		spec.Width, spec.Height, spec.Channels = 8, 8, 3
		p, err := NewPreprocessor(spec)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, p.Spec().TensorBytes())
		if _, err := p.Run(f, dst); err != nil {
			t.Fatal(err)
		}
		for ch := 0; ch < 3; ch++ {
			var got float64
			switch spec.Type {
			case UInt8:
				got = float64(dst[ch])
			case Int8:
				got = float64(int8(dst[ch]))
			case Float32:
				got = float64(math.Float32frombits(binary.LittleEndian.Uint32(dst[4*ch:])))
			}
			if math.Abs(got-c.want[ch]) > 1e-6 {
				t.Errorf("%+v channel %d: got %v, want %v", c.spec, ch, got, c.want[ch])
			}
		}
		p.Close()
	}
}

func TestPreprocessTransformFindsObject(t *testing.T) {
	// A white rectangle on black at a known place: after preprocessing, its box in the model input
	// mapped back through the Transform must land where it was drawn.
	obj := image.Rect(200, 120, 360, 300)
	m := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	m.SetTo(gocv.NewScalar(0, 0, 0, 0))
	gocv.Rectangle(&m, obj, color.RGBA{255, 255, 255, 255}, -1)
	f := &Frame{mat: m}
	defer f.Close()
	for _, fit := range []Fit{Stretch, CenterCrop, Letterbox} {
		spec := InputSpec{Width: 300, Height: 300, Channels: 1, Type: UInt8, Fit: fit}
		p, err := NewPreprocessor(spec)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, spec.TensorBytes())
		tr, err := p.Run(f, dst)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		found := image.Rectangle{}
		for y := 0; y < spec.Height; y++ {
			for x := 0; x < spec.Width; x++ {
				if dst[y*spec.Width+x] >= 128 {
					found = found.Union(image.Rect(x, y, x+1, y+1))
				}
			}
		}
		norm := NormRect{
			XMin: float64(found.Min.X) / float64(spec.Width), YMin: float64(found.Min.Y) / float64(spec.Height),
			XMax: float64(found.Max.X) / float64(spec.Width), YMax: float64(found.Max.Y) / float64(spec.Height),
		}
		got := tr.Rect(norm)
		// One model pixel is 640/300 frame pixels at most here; allow that plus rounding.
		const tol = 3
		if abs(got.Min.X-obj.Min.X) > tol || abs(got.Min.Y-obj.Min.Y) > tol || abs(got.Max.X-obj.Max.X) > tol || abs(got.Max.Y-obj.Max.Y) > tol {
			t.Errorf("%v: object at %v in the model input maps back to %v, drawn at %v", fit, found, got, obj)
		}
		if tr.FrameWidth != 640 || tr.FrameHeight != 480 {
			t.Errorf("%v: transform frame size %dx%d", fit, tr.FrameWidth, tr.FrameHeight)
		}
		// The whole model input maps to the frame (stretch), the crop (center-crop), or beyond
		// the frame into the padding (letterbox), clipped to the frame.
		all := tr.Rect(NormRect{0, 0, 1, 1})
		want := map[Fit]image.Rectangle{Stretch: image.Rect(0, 0, 640, 480), CenterCrop: image.Rect(80, 0, 560, 480), Letterbox: image.Rect(0, 0, 640, 480)}[fit]
		if all != want {
			t.Errorf("%v: full model input maps to %v, want %v", fit, all, want)
		}
	}
	// A box entirely in the letterbox padding covers no frame pixel.
	tr := Transform{ScaleX: 640, ScaleY: 640, OffsetX: 0, OffsetY: -80, FrameWidth: 640, FrameHeight: 480}
	if r := tr.Rect(NormRect{XMin: 0.2, YMin: 0.01, XMax: 0.4, YMax: 0.1}); !r.Empty() {
		t.Errorf("box in the padding maps to %v, want empty", r)
	}
}

func abs(v int) int { return max(v, -v) }

func TestPreprocessErrors(t *testing.T) {
	bad := []InputSpec{
		{Width: 0, Height: 10, Channels: 3, Type: UInt8},
		{Width: 10, Height: 100000, Channels: 3, Type: UInt8},
		{Width: 10, Height: 10, Channels: 4, Type: UInt8},
		{Width: 10, Height: 10, Channels: 3, Type: 0},
		{Width: 10, Height: 10, Channels: 3, Type: Float32, Std: -1},
		{Width: 10, Height: 10, Channels: 3, Type: Float32, Mean: 5},
		{Width: 10, Height: 10, Channels: 3, Type: UInt8, Fit: 7},
		{Width: 10, Height: 10, Channels: 3, Type: Int8, Scale: float32(math.NaN())},
	}
	for _, spec := range bad {
		if _, err := NewPreprocessor(spec); !errors.Is(err, ErrInputSpec) {
			t.Errorf("NewPreprocessor(%+v) = %v, want ErrInputSpec", spec, err)
		}
	}
	p, err := NewPreprocessor(InputSpec{Width: 10, Height: 10, Channels: 3, Type: Float32})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := readImage(t, catsPath)
	if _, err := p.Run(f, make([]byte, 299)); !errors.Is(err, ErrDstSize) {
		t.Errorf("short dst: %v, want ErrDstSize", err)
	}
	f.Close()
	if _, err := p.Run(f, make([]byte, 1200)); !errors.Is(err, ErrFrame) {
		t.Errorf("closed frame: %v, want ErrFrame", err)
	}
	if _, err := p.Run(nil, make([]byte, 1200)); !errors.Is(err, ErrFrame) {
		t.Errorf("nil frame: %v, want ErrFrame", err)
	}
	m := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV32FC3)
	ff := &Frame{mat: m}
	defer ff.Close()
	if _, err := p.Run(ff, make([]byte, 1200)); !errors.Is(err, ErrFrame) {
		t.Errorf("float frame: %v, want ErrFrame", err)
	}
	if _, err := ReadImage("../testdata/models/tiny/sin_model.tflite"); err == nil {
		t.Error("ReadImage of a model file succeeded")
	}
}

func TestPreprocessDoesNotAllocate(t *testing.T) {
	f := clipFrame(t, 1)
	defer f.Close()
	for _, fit := range []Fit{Stretch, CenterCrop, Letterbox} {
		for _, typ := range []DType{UInt8, Int8, Float32} {
			p, err := NewPreprocessor(InputSpec{Width: 300, Height: 300, Channels: 3, Type: typ, Fit: fit})
			if err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, p.Spec().TensorBytes())
			allocs := testing.AllocsPerRun(5, func() {
				if _, err := p.Run(f, dst); err != nil {
					t.Fatal(err)
				}
			})
			p.Close()
			if matProfileBuild && fit == CenterCrop {
				continue // the crop's Mat header is recorded by the profiler, which allocates
			}
			if allocs != 0 {
				t.Errorf("%v %v: %v allocations per Run in steady state", fit, typ, allocs)
			}
		}
	}
}

func TestDecodeImageRefusesBadImages(t *testing.T) {
	good, err := os.ReadFile("../testdata/models/classify_quant/burger.jpg")
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeImage(good)
	if err != nil || f.Width() != 480 || f.Height() != 325 {
		t.Fatalf("DecodeImage(burger.jpg) = %v, %dx%d", err, f.Width(), f.Height())
	}
	f.Close()
	// A PNG header that claims 60000x60000 pixels: refused before anything is decoded.
	bomb := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\xea\x60\x00\x00\xea\x60\x08\x02\x00\x00\x00\x00\x00\x00\x00")
	for name, data := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("this is not an image at all"),
		"truncated": good[:len(good)/3],
		"bomb":      bomb,
		"huge":      make([]byte, MaxImageBytes+1),
	} {
		if f, err := DecodeImage(data); !errors.Is(err, ErrImage) {
			f.Close()
			t.Errorf("%s: DecodeImage = %v, want ErrImage", name, err)
		}
	}
}
