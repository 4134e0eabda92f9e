package vision

import (
	"fmt"
	"math"

	"github.com/edge-agent/edge-agent/tflite"
)

// Box is a rectangle in pixels of the original image: top-left corner and size.
type Box struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Detection is one detected object.
type Detection struct {
	Label string  `json:"label,omitempty"`
	Class int     `json:"class"`
	Score float32 `json:"score"`
	Box   Box     `json:"box"`
}

// SSDOutputs are the four outputs of TFLite_Detection_PostProcess, in the op's order: boxes
// [1, N, 4] (ymin, xmin, ymax, xmax, normalised), classes [1, N], scores [1, N], count [1].
type SSDOutputs struct {
	Boxes, Classes, Scores, Count *tflite.Tensor
}

// DetectOptions controls DecodeSSD.
type DetectOptions struct {
	// Width and Height are the size of the original image the boxes are scaled to.
	Width, Height int
	// Threshold is the lowest score kept.
	Threshold float32
	// MaxResults caps the number of detections (0: no cap).
	MaxResults int
	Labels     Labels
}

// DecodeSSD converts an SSD detector's outputs into detections with boxes in pixels of the
// original image (the image stretched to the model input), clipped to it, by decreasing score.
// The raw class value is the label index. It is Decoder.Decode with the Stretch mapper.
func DecodeSSD(out SSDOutputs, opts DetectOptions) ([]Detection, error) {
	if opts.Width <= 0 || opts.Height <= 0 {
		return nil, fmt.Errorf("vision: image size %dx%d", opts.Width, opts.Height)
	}
	return decodeSSD(out, opts.Threshold, opts.MaxResults, opts.Labels, Stretch(opts.Width, opts.Height))
}

// pixelBox scales a normalised (ymin, xmin, ymax, xmax) box to pixels and clips it to the image.
// The corner is truncated and the size rounded, as the TFLite Task library does; it reports false
// for non-finite coordinates.
func pixelBox(ymin, xmin, ymax, xmax float32, w, h int) (Box, bool) {
	for _, v := range []float32{ymin, xmin, ymax, xmax} {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 1e6 {
			return Box{}, false
		}
	}
	x, bw := clipSpan(float64(xmin), float64(xmax), w)
	y, bh := clipSpan(float64(ymin), float64(ymax), h)
	return Box{X: x, Y: y, W: bw, H: bh}, true
}

func clipSpan(lo, hi float64, size int) (int, int) {
	start := int(lo * float64(size))
	length := int(math.Round(math.Abs(hi-lo) * float64(size)))
	end := start + length
	start = max(0, min(start, size))
	end = max(start, min(end, size))
	return start, end - start
}
