package tflite

import "fmt"

// maxWindowParam bounds strides, dilations and filter sizes read from a model, so that the window
// arithmetic below cannot overflow an int even on 32-bit ARM.
const maxWindowParam = 1 << 16

// window is the geometry of a sliding-window op (convolution or pooling) along one spatial
// dimension, computed as TFLite does (ComputeOutSize and ComputePaddingWithOffset).
type window struct {
	in, filter, stride, dilation int
	out                          int // output size
	// pad is the padding before the first element. TFLite puts the odd element of an odd total
	// padding after the last element, so pad+padAfter equals the total padding.
	pad      int
	padAfter int
}

// newWindow computes the output size and padding of a window for the given Padding enum value.
// It rejects non-positive or absurd parameters and windows that produce no output.
func newWindow(padding int8, in, filter, stride, dilation int) (window, error) {
	w := window{in: in, filter: filter, stride: stride, dilation: dilation}
	switch {
	case stride < 1 || stride > maxWindowParam:
		return w, fmt.Errorf("stride %d out of range [1, %d]", stride, maxWindowParam)
	case dilation < 1 || dilation > maxWindowParam:
		return w, fmt.Errorf("dilation %d out of range [1, %d]", dilation, maxWindowParam)
	case filter < 1 || filter > maxWindowParam:
		return w, fmt.Errorf("filter size %d out of range [1, %d]", filter, maxWindowParam)
	case in < 0:
		return w, fmt.Errorf("negative input size %d", in)
	}
	// Fits in 33 bits at most, so compute in int64 for 32-bit targets.
	eff := int64(filter-1)*int64(dilation) + 1
	var out int64
	switch padding {
	case paddingSame:
		out = (int64(in) + int64(stride) - 1) / int64(stride)
	case paddingValid:
		out = (int64(in) + int64(stride) - eff) / int64(stride)
		if int64(in) < eff {
			out = 0
		}
	default:
		return w, fmt.Errorf("%w: padding type %d", errUnsupported, padding)
	}
	if out < 1 {
		return w, fmt.Errorf("input size %d is smaller than the filter extent %d: no output", in, eff)
	}
	total := (out-1)*int64(stride) + eff - int64(in)
	if total < 0 {
		total = 0
	}
	w.out = int(out)
	w.pad = int(total / 2)
	w.padAfter = int(total - total/2)
	return w, nil
}
