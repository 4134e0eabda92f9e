package vision

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"slices"

	"github.com/edge-agent/edge-agent/tflite"
)

// Segmentation is a semantic segmentation: the class of every pixel of the model's output grid
// and the share of the grid each class covers.
type Segmentation struct {
	// Width and Height are the size of the class map (the model output, often the model input).
	Width  int `json:"width"`
	Height int `json:"height"`
	// Classes are the classes present, by decreasing share.
	Classes []ClassShare `json:"classes"`

	mask []uint16
}

// ClassShare is the fraction of the segmentation's pixels of one class.
type ClassShare struct {
	Index    int     `json:"index"`
	Label    string  `json:"label,omitempty"`
	Fraction float64 `json:"fraction"`
}

// maxSegmentClasses bounds the class indices of a class map (and the channels of a score map).
const maxSegmentClasses = 1 << 16

// Mask returns the class of every pixel, row by row (Width*Height values). The Decoder reuses it
// on its next Decode.
func (s *Segmentation) Mask() []uint16 { return s.mask }

// PNG encodes the class map as a PNG whose pixel values are the class indices: paletted with the
// PASCAL VOC colour map when there are at most 256 classes (so viewers show distinct colours,
// background black), else 16-bit gray.
func (s *Segmentation) PNG() ([]byte, error) {
	if len(s.mask) != s.Width*s.Height || s.Width <= 0 {
		return nil, fmt.Errorf("vision: segmentation has no mask")
	}
	r := image.Rect(0, 0, s.Width, s.Height)
	var img image.Image
	if slices.Max(s.mask) < 256 {
		p := image.NewPaletted(r, vocPalette())
		for i, c := range s.mask {
			p.Pix[i] = uint8(c)
		}
		img = p
	} else {
		g := image.NewGray16(r)
		for i, c := range s.mask {
			g.Pix[2*i], g.Pix[2*i+1] = uint8(c>>8), uint8(c)
		}
		img = g
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("vision: segmentation PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// vocPalette is the PASCAL VOC colour map: class i's colour spreads its bits over R, G and B.
func vocPalette() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		var r, g, b uint8
		c := i
		for j := 7; j >= 0; j-- {
			r |= uint8(c&1) << j
			g |= uint8(c>>1&1) << j
			b |= uint8(c>>2&1) << j
			c >>= 3
		}
		p[i] = color.RGBA{r, g, b, 255}
	}
	return p
}

// segmentShape reports whether t is a segmentation output for an input of inH x inW: a class
// map [1, H, W] of integers, or per-class scores [1, H, W, C], with H and W at least an eighth of
// the input's (feature maps are coarser) and at least 2.
func segmentShape(t tflite.TensorInfo, inH, inW int) bool {
	s := t.Shape
	var h, w int
	switch {
	case len(s) == 3 && s[0] == 1 && (t.Type == tflite.Int64 || t.Type == tflite.Int32 || t.Type == tflite.UInt8):
		h, w = s[1], s[2]
	case len(s) == 4 && s[0] == 1 && s[3] >= 1 && s[3] <= maxSegmentClasses:
		h, w = s[1], s[2]
	default:
		return false
	}
	return h >= 2 && w >= 2 && 8*h >= inH && 8*w >= inW
}

// decodeSegmentation turns a class map or score map into a Segmentation whose mask reuses buf.
func decodeSegmentation(out *tflite.Tensor, buf []uint16, labels Labels, scratch []float32) (*Segmentation, []float32, error) {
	s := out.Shape()
	if !(len(s) == 3 || len(s) == 4) || s[0] != 1 || s[1] < 1 || s[2] < 1 {
		return nil, scratch, fmt.Errorf("%w: segmentation output %q has shape %v (want [1, H, W] or [1, H, W, classes])", ErrOutput, out.Name(), s)
	}
	h, w := s[1], s[2]
	if cap(buf) < h*w {
		buf = make([]uint16, h*w)
	}
	mask := buf[:h*w]
	seg := &Segmentation{Width: w, Height: h, mask: mask}
	var err error
	if len(s) == 3 {
		err = classMap(out, mask)
	} else {
		scratch, err = argmaxMap(out, s[3], mask, scratch)
	}
	if err != nil {
		return nil, scratch, err
	}
	counts := make(map[int]int)
	for _, c := range mask {
		counts[int(c)]++
	}
	seg.Classes = make([]ClassShare, 0, len(counts))
	for c, n := range counts {
		f := math.Round(float64(n)/float64(len(mask))*1e6) / 1e6
		seg.Classes = append(seg.Classes, ClassShare{Index: c, Label: labels.Name(c), Fraction: f})
	}
	slices.SortFunc(seg.Classes, func(a, b ClassShare) int {
		if a.Fraction != b.Fraction {
			if a.Fraction > b.Fraction {
				return -1
			}
			return 1
		}
		return a.Index - b.Index
	})
	return seg, scratch, nil
}

// classMap copies an integer class map into mask, checking every class.
func classMap(out *tflite.Tensor, mask []uint16) error {
	get := func(i int) int64 { return 0 }
	switch out.Type() {
	case tflite.Int64:
		v := out.Int64s()
		get = func(i int) int64 { return v[i] }
	case tflite.Int32:
		v := out.Int32s()
		get = func(i int) int64 { return int64(v[i]) }
	case tflite.UInt8:
		v := out.UInt8s()
		get = func(i int) int64 { return int64(v[i]) }
	default:
		return fmt.Errorf("%w: class map %q has type %s (want int64, int32 or uint8)", ErrOutput, out.Name(), out.Type())
	}
	for i := range mask {
		c := get(i)
		if c < 0 || c >= maxSegmentClasses {
			return fmt.Errorf("%w: class map %q holds class %d", ErrOutput, out.Name(), c)
		}
		mask[i] = uint16(c)
	}
	return nil
}

// argmaxMap picks each pixel's highest-scoring class of a [1, H, W, C] score map (ties: the
// lower class). A single channel is a foreground probability: class 1 where it exceeds 0.5.
func argmaxMap(out *tflite.Tensor, classes int, mask []uint16, scratch []float32) ([]float32, error) {
	v, err := Dequantize(scratch, out)
	if err != nil {
		return scratch, err
	}
	if classes == 1 {
		for i := range mask {
			mask[i] = 0
			if v[i] > 0.5 {
				mask[i] = 1
			}
		}
		return v, nil
	}
	for i := range mask {
		row := v[i*classes : (i+1)*classes]
		best := 0
		for c := 1; c < classes; c++ {
			if row[c] > row[best] {
				best = c
			}
		}
		mask[i] = uint16(best)
	}
	return v, nil
}
