package vision

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registered decoders: the formats DecodeImage accepts
	_ "image/png"
	"io"
	"math"
	"os"

	_ "golang.org/x/image/bmp"

	"github.com/edge-agent/edge-agent/tflite"
)

// Limits on decoded images, checked from the header before any pixel is decoded.
const (
	MaxImageFileSize = 64 << 20
	MaxImagePixels   = 50_000_000
)

// ErrImage is wrapped by errors about unreadable or oversized images.
var ErrImage = errors.New("bad image")

// ErrInput is wrapped by errors about a model input FillInput cannot fill.
var ErrInput = errors.New("unsupported model input")

// DecodeImage decodes a PNG, JPEG or BMP image, refusing files and images over the limits.
func DecodeImage(r io.Reader) (image.Image, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxImageFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read image: %w", err)
	}
	if len(b) > MaxImageFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrImage, MaxImageFileSize)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("%w: %s of %dx%d pixels (at most %d pixels)", ErrImage, format, cfg.Width, cfg.Height, MaxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrImage, format, err)
	}
	return img, nil
}

// LoadImage decodes the image file at path.
func LoadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	img, err := DecodeImage(f)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return img, nil
}

// RGB returns the image's pixels as packed 8-bit RGB, row by row. Alpha is ignored.
func RGB(img image.Image) (pix []byte, width, height int) {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	pix = make([]byte, 0, w*h*3)
	switch m := img.(type) {
	case *image.RGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:w*4]
			for x := 0; x < w; x++ {
				pix = append(pix, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.NRGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			row := m.Pix[m.PixOffset(r.Min.X, y):][:w*4]
			for x := 0; x < w; x++ {
				pix = append(pix, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	case *image.Gray:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for _, v := range m.Pix[m.PixOffset(r.Min.X, y):][:w] {
				pix = append(pix, v, v, v)
			}
		}
	case *image.YCbCr:
		if m.SubsampleRatio == image.YCbCrSubsampleRatio420 && r.Min == (image.Point{}) {
			return ycbcr420ToRGB(m, pix), w, h
		}
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				yi, ci := m.YOffset(x, y), m.COffset(x, y)
				cr, cg, cb := ycbcrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				pix = append(pix, cr, cg, cb)
			}
		}
	default:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				pix = append(pix, c.R, c.G, c.B)
			}
		}
	}
	return pix, w, h
}

// ResizeBilinear resizes packed RGB pixels (sw x sh) to dw x dh with bilinear interpolation on
// pixel centres (the sampling of OpenCV's and libyuv's bilinear resize), rounding to 8 bits.
// All sizes must be positive and src must hold sw*sh*3 bytes.
func ResizeBilinear(src []byte, sw, sh, dw, dh int) []byte {
	dst := make([]byte, dw*dh*3)
	if sw == dw && sh == dh {
		copy(dst, src)
		return dst
	}
	xs := make([]span, dw)
	for x := range xs {
		xs[x] = sample(x, sw, dw)
	}
	for y := 0; y < dh; y++ {
		sy := sample(y, sh, dh)
		r0, r1 := src[sy.i0*sw*3:][:sw*3], src[sy.i1*sw*3:][:sw*3]
		out := dst[y*dw*3:][:dw*3]
		for x, sx := range xs {
			for c := 0; c < 3; c++ {
				// Each product is converted explicitly so that no platform fuses it into a
				// multiply-add: the result must not depend on the CPU.
				top := float32(float32(r0[sx.i0*3+c])*(1-sx.f)) + float32(float32(r0[sx.i1*3+c])*sx.f)
				bot := float32(float32(r1[sx.i0*3+c])*(1-sx.f)) + float32(float32(r1[sx.i1*3+c])*sx.f)
				out[x*3+c] = uint8(float32(top*(1-sy.f)) + float32(bot*sy.f) + 0.5)
			}
		}
	}
	return dst
}

// span is a sampling position: the two source indices and the weight of the second.
type span struct {
	i0, i1 int
	f      float32
}

func sample(d, srcSize, dstSize int) span {
	s := (float64(d)+0.5)*float64(srcSize)/float64(dstSize) - 0.5
	s = max(0, min(s, float64(srcSize-1)))
	i0 := int(math.Floor(s))
	return span{i0: i0, i1: min(i0+1, srcSize-1), f: float32(s - float64(i0))}
}

// Normalization maps 8-bit pixel values v to float inputs: (v - Mean) / Std. The zero value
// means the default, (v - 127.5) / 127.5.
type Normalization struct {
	Mean, Std float32
}

// FillInput resizes img to the size of input tensor t ([1, H, W, C] with C 3 for RGB or 1 for
// gray) and writes it into t: float32 inputs get (v - Mean) / Std, uint8 inputs the pixel values,
// int8 inputs the values minus 128.
func FillInput(t *tflite.Tensor, img image.Image, norm Normalization) error {
	if t.Rank() != 4 || t.Dim(0) != 1 || (t.Dim(3) != 1 && t.Dim(3) != 3) {
		return fmt.Errorf("%w: input %q has shape %v (want [1, height, width, 1 or 3])", ErrInput, t.Name(), t.Shape())
	}
	h, w, ch := t.Dim(1), t.Dim(2), t.Dim(3)
	src, sw, sh := RGB(img)
	if sw == 0 || sh == 0 {
		return fmt.Errorf("%w: empty image", ErrImage)
	}
	pix := ResizeBilinear(src, sw, sh, w, h)
	if ch == 1 {
		for i := 0; i < w*h; i++ {
			r, g, b := uint32(pix[3*i]), uint32(pix[3*i+1]), uint32(pix[3*i+2])
			// The luma weights of Go's color.GrayModel.
			pix[i] = uint8((19595*r + 38470*g + 7471*b + 1<<15) >> 16)
		}
		pix = pix[:w*h]
	}
	switch t.Type() {
	case tflite.Float32:
		if norm.Std == 0 {
			norm = Normalization{Mean: 127.5, Std: 127.5}
		}
		dst := t.Float32s()
		for i, v := range pix {
			dst[i] = (float32(v) - norm.Mean) / norm.Std
		}
	case tflite.UInt8:
		copy(t.UInt8s(), pix)
	case tflite.Int8:
		dst := t.Int8s()
		for i, v := range pix {
			dst[i] = int8(int(v) - 128)
		}
	default:
		return fmt.Errorf("%w: input %q has type %s (want float32, uint8 or int8)", ErrInput, t.Name(), t.Type())
	}
	return nil
}

// ycbcr420ToRGB converts a 4:2:0 JPEG image the way libjpeg and stb_image do by default, with
// "fancy" (triangle filter) chroma upsampling rather than Go's nearest-neighbour chroma: the
// published results of the TFLite Task library were made with stb_image, and the smoother chroma
// moves SSD boxes by a few pixels.
func ycbcr420ToRGB(m *image.YCbCr, pix []byte) []byte {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw := (w + 1) / 2
	cbRow, crRow := make([]byte, 2*cw), make([]byte, 2*cw)
	for y := 0; y < h; y++ {
		near := y / 2
		far := near - 1
		if y%2 == 1 {
			far = near + 1
		}
		far = max(0, min(far, (h+1)/2-1))
		upsampleRow(cbRow, m.Cb[near*m.CStride:][:cw], m.Cb[far*m.CStride:][:cw])
		upsampleRow(crRow, m.Cr[near*m.CStride:][:cw], m.Cr[far*m.CStride:][:cw])
		ys := m.Y[y*m.YStride:][:w]
		for x := 0; x < w; x++ {
			r, g, b := ycbcrToRGB(ys[x], cbRow[x], crRow[x])
			pix = append(pix, r, g, b)
		}
	}
	return pix
}

// upsampleRow doubles a row of chroma samples with weights 3/4 near, 1/4 far vertically and
// 3/4, 1/4 horizontally (stb_image's resample_row_hv_2).
func upsampleRow(out, near, far []byte) {
	n := len(near)
	t1 := 3*int(near[0]) + int(far[0])
	if n == 1 {
		out[0], out[1] = byte((t1+2)>>2), byte((t1+2)>>2)
		return
	}
	out[0] = byte((t1 + 2) >> 2)
	for i := 1; i < n; i++ {
		t0 := t1
		t1 = 3*int(near[i]) + int(far[i])
		out[2*i-1] = byte((3*t0 + t1 + 8) >> 4)
		out[2*i] = byte((3*t1 + t0 + 8) >> 4)
	}
	out[2*n-1] = byte((t1 + 2) >> 2)
}

// ycbcrToRGB is the JFIF conversion in stb_image's fixed point (20 fractional bits).
func ycbcrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	fix := func(x float32) int { return int(x*4096+0.5) << 8 }
	yf := int(y)<<20 + 1<<19
	cbi, cri := int(cb)-128, int(cr)-128
	r := yf + cri*fix(1.40200)
	g := yf + cri*-fix(0.71414) + (cbi*-fix(0.34414))&^0xffff
	b := yf + cbi*fix(1.77200)
	return clamp8(r >> 20), clamp8(g >> 20), clamp8(b >> 20)
}

func clamp8(v int) uint8 {
	return uint8(max(0, min(v, 255)))
}
