package camera

import (
	"encoding/binary"
	"fmt"
	"image"
	"math"
	"strconv"

	"gocv.io/x/gocv"
)

// DType is the element type of a model's input tensor.
type DType int

// Input element types.
const (
	UInt8   DType = iota + 1 // 1 byte per element
	Int8                     // 1 byte per element
	Float32                  // 4 bytes per element, little-endian
)

// String returns the type's name as TFLite spells it.
func (t DType) String() string {
	switch t {
	case UInt8:
		return "uint8"
	case Int8:
		return "int8"
	case Float32:
		return "float32"
	}
	return "DType(" + strconv.Itoa(int(t)) + ")"
}

// Size returns the number of bytes per element (0 for an unknown type).
func (t DType) Size() int {
	switch t {
	case UInt8, Int8:
		return 1
	case Float32:
		return 4
	}
	return 0
}

// Fit is how a frame is fitted to the model's input size.
type Fit int

// Fit modes. The zero value is Stretch.
const (
	// Stretch scales the whole frame to the input size, changing its aspect ratio if they differ.
	Stretch Fit = iota
	// CenterCrop scales the frame to cover the input and crops the overflow equally on both sides.
	CenterCrop
	// Letterbox scales the whole frame to fit inside the input and pads the rest with black.
	Letterbox
)

// String returns the fit mode's name.
func (f Fit) String() string {
	switch f {
	case Stretch:
		return "stretch"
	case CenterCrop:
		return "center-crop"
	case Letterbox:
		return "letterbox"
	}
	return "Fit(" + strconv.Itoa(int(f)) + ")"
}

// Default normalisation of float inputs: (x - 127.5) / 127.5 maps pixels to [-1, 1].
const (
	DefaultMean = 127.5
	DefaultStd  = 127.5
)

// InputSpec describes a model's image input tensor: NHWC with N = 1, channels in RGB order (or one
// gray channel).
//
// Element values: a Float32 input gets (pixel - Mean) / Std. An 8-bit input gets the raw pixel
// (UInt8) or pixel - 128 (Int8), which is what quantized image models expect; only when Scale is
// set is the pixel instead normalised with Mean and Std and then quantized with Scale and
// ZeroPoint: q = round((pixel - Mean) / Std / Scale) + ZeroPoint, clamped to the type's range.
type InputSpec struct {
	Width, Height int
	Channels      int // 3 (RGB) or 1 (gray)
	Type          DType
	// Scale and ZeroPoint are the input tensor's quantization, used for 8-bit types only when
	// Scale > 0 (see above).
	Scale     float32
	ZeroPoint int32
	// Mean and Std normalise pixels for Float32 inputs (and quantized ones with Scale set). Both
	// zero means DefaultMean and DefaultStd.
	Mean, Std float32
	Fit       Fit
}

// TensorBytes returns the size in bytes of the input tensor spec describes.
func (spec InputSpec) TensorBytes() int {
	return spec.Width * spec.Height * spec.Channels * spec.Type.Size()
}

func (spec InputSpec) withDefaults() (InputSpec, error) {
	if spec.Mean == 0 && spec.Std == 0 {
		spec.Mean, spec.Std = DefaultMean, DefaultStd
	}
	switch {
	case spec.Width <= 0 || spec.Height <= 0 || spec.Width > maxDim || spec.Height > maxDim:
		return spec, fmt.Errorf("%w: size %dx%d out of range 1-%d", ErrInputSpec, spec.Width, spec.Height, maxDim)
	case spec.Channels != 1 && spec.Channels != 3:
		return spec, fmt.Errorf("%w: %d channels (want 3 for RGB or 1 for gray)", ErrInputSpec, spec.Channels)
	case spec.Type.Size() == 0:
		return spec, fmt.Errorf("%w: unknown element type %v", ErrInputSpec, spec.Type)
	case spec.Fit != Stretch && spec.Fit != CenterCrop && spec.Fit != Letterbox:
		return spec, fmt.Errorf("%w: unknown fit %v", ErrInputSpec, spec.Fit)
	case !(spec.Std > 0) || math.IsInf(float64(spec.Std), 0) || math.IsNaN(float64(spec.Mean)) || math.IsInf(float64(spec.Mean), 0):
		return spec, fmt.Errorf("%w: normalisation mean %v std %v (std must be positive and both finite)", ErrInputSpec, spec.Mean, spec.Std)
	case spec.Scale < 0 || math.IsNaN(float64(spec.Scale)) || math.IsInf(float64(spec.Scale), 0):
		return spec, fmt.Errorf("%w: quantization scale %v", ErrInputSpec, spec.Scale)
	}
	return spec, nil
}

// Transform maps normalised model coordinates (0..1 across the model input) back to frame pixels,
// undoing the crop or letterbox of the Fit: x = nx*ScaleX + OffsetX, y = ny*ScaleY + OffsetY.
type Transform struct {
	ScaleX, ScaleY   float64
	OffsetX, OffsetY float64
	// FrameWidth and FrameHeight bound the rectangles Rect returns.
	FrameWidth, FrameHeight int
}

// Point maps a normalised model point to frame pixel coordinates (not clipped).
func (t Transform) Point(nx, ny float64) (x, y float64) {
	return nx*t.ScaleX + t.OffsetX, ny*t.ScaleY + t.OffsetY
}

// NormRect is a box in normalised model coordinates. SSD models output [ymin, xmin, ymax, xmax];
// the named fields keep that order from being confused.
type NormRect struct {
	XMin, YMin, XMax, YMax float64
}

// Rect maps a normalised box to the frame pixel rectangle it covers, clipped to the frame (empty
// if the box lies in the letterbox padding or outside the frame).
func (t Transform) Rect(r NormRect) image.Rectangle {
	x0, y0 := t.Point(r.XMin, r.YMin)
	x1, y1 := t.Point(r.XMax, r.YMax)
	if x1 < x0 {
		x0, x1 = x1, x0
	}
	if y1 < y0 {
		y0, y1 = y1, y0
	}
	return image.Rect(roundClamp(x0, t.FrameWidth), roundClamp(y0, t.FrameHeight),
		roundClamp(x1, t.FrameWidth), roundClamp(y1, t.FrameHeight)).Canon()
}

func roundClamp(v float64, hi int) int {
	switch {
	case math.IsNaN(v) || v <= 0:
		return 0
	case v >= float64(hi):
		return hi
	}
	return int(math.Round(v))
}

// Preprocessor turns frames into a model's input tensor. It keeps its working images between
// calls, so steady-state Run allocates nothing; it is not safe for concurrent use. Close it to free
// them.
type Preprocessor struct {
	spec InputSpec
	// lut maps a pixel to its 8-bit tensor byte (8-bit types); flut to its value (Float32).
	lut  [256]byte
	flut [256]float32

	resized gocv.Mat // frame scaled to the model size (the letterbox canvas for Letterbox)
	color   gocv.Mat // resized converted to RGB or gray, continuous

	// Letterbox state, rebuilt when the frame size or type changes.
	inner    gocv.Mat        // region of resized that receives the scaled frame
	hasInner bool            // inner is a live region
	innerKey [3]int          // frame width, height, type that inner was made for
	innerR   image.Rectangle // inner's rectangle in model pixels
}

// NewPreprocessor checks spec and prepares a preprocessor for it.
func NewPreprocessor(spec InputSpec) (*Preprocessor, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Preprocessor{spec: spec, resized: gocv.NewMat(), color: gocv.NewMat()}
	for i := range 256 {
		norm := (float32(i) - spec.Mean) / spec.Std
		p.flut[i] = norm
		switch {
		case spec.Type == UInt8 && spec.Scale == 0:
			p.lut[i] = byte(i)
		case spec.Type == Int8 && spec.Scale == 0:
			p.lut[i] = byte(int8(i - 128))
		case spec.Type == UInt8:
			p.lut[i] = byte(quantize(norm, spec.Scale, spec.ZeroPoint, 0, 255))
		case spec.Type == Int8:
			p.lut[i] = byte(int8(quantize(norm, spec.Scale, spec.ZeroPoint, -128, 127)))
		}
	}
	return p, nil
}

func quantize(v, scale float32, zp int32, lo, hi float64) int {
	q := math.Round(float64(v)/float64(scale)) + float64(zp)
	return int(max(lo, min(hi, q)))
}

// Spec returns the spec with defaults filled in.
func (p *Preprocessor) Spec() InputSpec { return p.spec }

// Close frees the preprocessor's working images.
func (p *Preprocessor) Close() error {
	if p.hasInner {
		p.inner.Close()
		p.hasInner = false
	}
	p.resized.Close()
	p.color.Close()
	return nil
}

// Run writes f as the model input into dst, which must be exactly spec.TensorBytes() long (the
// input tensor's bytes), and returns the transform from model coordinates back to f's pixels.
// Resizing is bilinear; channels are converted from the frame's BGR to RGB (or gray).
func (p *Preprocessor) Run(f *Frame, dst []byte) (Transform, error) {
	if err := f.usable(); err != nil {
		return Transform{}, err
	}
	spec := p.spec
	if n := spec.TensorBytes(); len(dst) != n {
		return Transform{}, fmt.Errorf("%w: %d bytes, want %d for %dx%dx%d %v", ErrDstSize, len(dst), n, spec.Width, spec.Height, spec.Channels, spec.Type)
	}
	src := f.mat
	fw, fh := src.Cols(), src.Rows()
	mt := src.Type()
	code, convert, err := colorCode(mt, spec.Channels)
	if err != nil {
		return Transform{}, err
	}
	size := image.Pt(spec.Width, spec.Height)
	var tr Transform
	switch spec.Fit {
	case Stretch:
		gocv.Resize(src, &p.resized, size, 0, 0, gocv.InterpolationLinear)
		tr = Transform{ScaleX: float64(fw), ScaleY: float64(fh)}
	case CenterCrop:
		r := centerCrop(fw, fh, spec.Width, spec.Height)
		roi := src.Region(r)
		gocv.Resize(roi, &p.resized, size, 0, 0, gocv.InterpolationLinear)
		roi.Close()
		tr = Transform{ScaleX: float64(r.Dx()), ScaleY: float64(r.Dy()), OffsetX: float64(r.Min.X), OffsetY: float64(r.Min.Y)}
	case Letterbox:
		p.prepareLetterbox(fw, fh, mt)
		r := p.innerR
		gocv.Resize(src, &p.inner, r.Size(), 0, 0, gocv.InterpolationLinear)
		// model pixel m maps to frame pixel (m - r.Min) * fw / r.Dx().
		sx, sy := float64(fw)/float64(r.Dx()), float64(fh)/float64(r.Dy())
		tr = Transform{
			ScaleX: float64(spec.Width) * sx, ScaleY: float64(spec.Height) * sy,
			OffsetX: -float64(r.Min.X) * sx, OffsetY: -float64(r.Min.Y) * sy,
		}
	}
	tr.FrameWidth, tr.FrameHeight = fw, fh
	out := &p.resized
	if convert {
		gocv.CvtColor(p.resized, &p.color, code)
		out = &p.color
	}
	pix, err := out.DataPtrUint8()
	if err != nil || len(pix)*spec.Type.Size() != len(dst) {
		return Transform{}, fmt.Errorf("%w: internal: converted image is %d bytes, want %d elements", ErrFrame, len(pix), len(dst)/spec.Type.Size())
	}
	switch {
	case spec.Type == Float32:
		for i, v := range pix {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(p.flut[v]))
		}
	case spec.Type == UInt8 && spec.Scale == 0:
		copy(dst, pix)
	default:
		for i, v := range pix {
			dst[i] = p.lut[v]
		}
	}
	return tr, nil
}

// prepareLetterbox makes p.inner the region of the canvas p.resized that a fw x fh frame of type
// mt scales into, and blackens the canvas, when the frame geometry changes.
func (p *Preprocessor) prepareLetterbox(fw, fh int, mt gocv.MatType) {
	key := [3]int{fw, fh, int(mt)}
	if p.hasInner && key == p.innerKey {
		return
	}
	if p.hasInner {
		p.inner.Close()
	}
	W, H := p.spec.Width, p.spec.Height
	s := min(float64(W)/float64(fw), float64(H)/float64(fh))
	iw := max(1, min(W, int(math.Round(float64(fw)*s))))
	ih := max(1, min(H, int(math.Round(float64(fh)*s))))
	x0, y0 := (W-iw)/2, (H-ih)/2
	p.innerR = image.Rect(x0, y0, x0+iw, y0+ih)
	p.resized.Close()
	p.resized = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), H, W, mt)
	p.inner = p.resized.Region(p.innerR)
	p.hasInner = true
	p.innerKey = key
}

// centerCrop returns the largest centred rectangle of a fw x fh frame with the aspect ratio of w x h.
func centerCrop(fw, fh, w, h int) image.Rectangle {
	// Compare fw/fh with w/h in integers to avoid rounding the common equal-aspect case.
	if fw*h > w*fh { // frame wider: crop the sides
		cw := max(1, min(fw, int(math.Round(float64(fh)*float64(w)/float64(h)))))
		x0 := (fw - cw) / 2
		return image.Rect(x0, 0, x0+cw, fh)
	}
	ch := max(1, min(fh, int(math.Round(float64(fw)*float64(h)/float64(w)))))
	y0 := (fh - ch) / 2
	return image.Rect(0, y0, fw, y0+ch)
}

// colorCode picks the conversion from a frame of type mt to the model's channels; convert is false
// when the resized frame is already in the right format.
func colorCode(mt gocv.MatType, channels int) (code gocv.ColorConversionCode, convert bool, err error) {
	switch {
	case mt == gocv.MatTypeCV8UC3 && channels == 3:
		return gocv.ColorBGRToRGB, true, nil
	case mt == gocv.MatTypeCV8UC3 && channels == 1:
		return gocv.ColorBGRToGray, true, nil
	case mt == gocv.MatTypeCV8UC1 && channels == 3:
		return gocv.ColorGrayToBGR, true, nil // gray has R = G = B, so BGR is RGB
	case mt == gocv.MatTypeCV8UC1 && channels == 1:
		return 0, false, nil
	case mt == gocv.MatTypeCV8UC4 && channels == 3:
		return gocv.ColorRGBAToBGR, true, nil // same code as BGRA to RGB: swap R and B, drop alpha
	case mt == gocv.MatTypeCV8UC4 && channels == 1:
		return gocv.ColorBGRAToGray, true, nil
	}
	return 0, false, fmt.Errorf("%w: pixel format %v (want 8-bit BGR, BGRA or gray)", ErrFrame, mt)
}
