package camera

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"

	"gocv.io/x/gocv"
)

// Box is a detection to draw on a snapshot: a rectangle in frame pixels (see Transform.Rect) and
// the text written above it (for example "cat 0.87"; empty for none).
type Box struct {
	Rect  image.Rectangle
	Label string
}

// DefaultSnapshotQuality is the JPEG quality SnapshotJPEG uses when given 0.
const DefaultSnapshotQuality = 85

// Size-cap search limits: quality goes down to minSnapshotQuality first, then the image shrinks
// by snapshotShrink per step while its longer side stays at least minSnapshotSide pixels.
const (
	minSnapshotQuality = 30
	snapshotShrink     = 0.75
	minSnapshotSide    = 64
)

// SnapshotJPEG draws boxes with their labels on a copy of the frame and encodes it as a JPEG of at
// most maxBytes bytes (maxBytes <= 0: no cap). quality is the starting JPEG quality (1-100, 0 for
// DefaultSnapshotQuality); when the image is too large the quality is lowered, then the image
// scaled down, until it fits, or ErrSnapshotTooLarge is returned. The frame is not modified.
func (f *Frame) SnapshotJPEG(boxes []Box, quality, maxBytes int) ([]byte, error) {
	if err := f.usable(); err != nil {
		return nil, err
	}
	if quality == 0 {
		quality = DefaultSnapshotQuality
	}
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("camera: snapshot quality %d out of range 1-100", quality)
	}
	img := f.mat.Clone()
	defer img.Close()
	drawBoxes(&img, boxes)

	small := gocv.NewMat()
	defer small.Close()
	cur := &img
	w, h := img.Cols(), img.Rows()
	q := quality
	for {
		b, err := encodeJPEG(*cur, q)
		if err != nil {
			return nil, err
		}
		if maxBytes <= 0 || len(b) <= maxBytes {
			return b, nil
		}
		if q > minSnapshotQuality {
			q = max(minSnapshotQuality, q-15)
			continue
		}
		nw, nh := int(float64(w)*snapshotShrink), int(float64(h)*snapshotShrink)
		if max(nw, nh) < minSnapshotSide || min(nw, nh) < 1 {
			return nil, fmt.Errorf("%w: %d bytes at quality %d and %dx%d, cap %d", ErrSnapshotTooLarge, len(b), q, w, h, maxBytes)
		}
		w, h = nw, nh
		// INTER_AREA averages the pixels it drops, keeping the smaller image sharp and small.
		gocv.Resize(img, &small, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
		cur = &small
	}
}

func encodeJPEG(m gocv.Mat, quality int) ([]byte, error) {
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, fmt.Errorf("camera: encoding JPEG: %w", err)
	}
	defer buf.Close()
	// GetBytes aliases the C buffer that Close frees: copy it out.
	b := bytes.Clone(buf.GetBytes())
	if len(b) == 0 {
		return nil, fmt.Errorf("camera: encoding JPEG: encoder returned nothing")
	}
	return b, nil
}

// drawBoxes outlines each box in a colour picked from its label and writes the label on a filled
// band above it (inside it when the box touches the top edge).
func drawBoxes(img *gocv.Mat, boxes []Box) {
	w, h := img.Cols(), img.Rows()
	bounds := image.Rect(0, 0, w, h)
	thick := max(1, min(w, h)/240)
	scale := max(0.4, float64(min(w, h))/960)
	for _, b := range boxes {
		r := b.Rect.Canon().Intersect(bounds)
		if r.Empty() {
			continue
		}
		c := labelColor(b.Label)
		gocv.Rectangle(img, r, c, thick)
		if b.Label == "" {
			continue
		}
		ts, base := gocv.GetTextSizeWithBaseline(b.Label, gocv.FontHersheySimplex, scale, thick)
		band := image.Rect(r.Min.X, r.Min.Y-ts.Y-base-2*thick, r.Min.X+ts.X+2*thick, r.Min.Y)
		if band.Min.Y < 0 {
			band = band.Add(image.Pt(0, -band.Min.Y))
		}
		gocv.Rectangle(img, band, c, -1)
		text := color.RGBA{255, 255, 255, 255}
		if int(c.R)*299+int(c.G)*587+int(c.B)*114 > 150000 {
			text = color.RGBA{0, 0, 0, 255}
		}
		gocv.PutText(img, b.Label, image.Pt(band.Min.X+thick, band.Max.Y-base-thick), gocv.FontHersheySimplex, scale, text, thick)
	}
}

// palette holds saturated colours that stand out on photos; gocv takes them as RGBA and draws them
// in the image's BGR order.
var palette = [...]color.RGBA{
	{230, 25, 75, 255}, {60, 180, 75, 255}, {255, 225, 25, 255}, {0, 130, 200, 255},
	{245, 130, 48, 255}, {145, 30, 180, 255}, {70, 240, 240, 255}, {240, 50, 230, 255},
}

func labelColor(label string) color.RGBA {
	h := fnv.New32a()
	h.Write([]byte(label))
	return palette[h.Sum32()%uint32(len(palette))]
}
