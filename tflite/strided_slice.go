package tflite

// STRIDED_SLICE with TensorFlow's full slice spec: begin/end/strides (constant), begin and end
// masks, one ellipsis, new axes, shrunk axes, negative strides, and TFLite's offset option (end
// is relative to begin). Prepare resolves the spec into one range per input dimension, so eval
// is a strided copy.

// Options slots (StridedSliceOptions).
const (
	slotSliceBeginMask    = 0
	slotSliceEndMask      = 1
	slotSliceEllipsisMask = 2
	slotSliceNewAxisMask  = 3
	slotSliceShrinkMask   = 4
	slotSliceOffset       = 5
)

// maxSliceSpec bounds the length of the begin/end/strides vectors (the masks are 32-bit).
const maxSliceSpec = 32

type stridedSliceKernel struct {
	beginMask, endMask, ellipsisMask, newAxisMask, shrinkMask int32
	offset                                                    bool
	w                                                         walk
}

func newStridedSlice(n *node) (kernel, error) {
	if err := checkCounts(n, 4, 4, 1); err != nil {
		return nil, err
	}
	return &stridedSliceKernel{
		beginMask:    n.opts.Int32(slotSliceBeginMask, 0),
		endMask:      n.opts.Int32(slotSliceEndMask, 0),
		ellipsisMask: n.opts.Int32(slotSliceEllipsisMask, 0),
		newAxisMask:  n.opts.Int32(slotSliceNewAxisMask, 0),
		shrinkMask:   n.opts.Int32(slotSliceShrinkMask, 0),
		offset:       n.opts.Bool(slotSliceOffset, false),
	}, nil
}

// sliceDim is one input dimension's part of a resolved slice spec.
type sliceDim struct {
	begin, end, stride   int
	beginMasked, endMask bool
	shrink               bool
	full                 bool // covered by an ellipsis or not named: the whole dimension
}

func (k *stridedSliceKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	rank, err := rankOf(n, in)
	if err != nil {
		return err
	}
	begin, err := constInts(n, n.inputs[1], "begin")
	if err != nil {
		return err
	}
	end, err := constInts(n, n.inputs[2], "end")
	if err != nil {
		return err
	}
	strides, err := constInts(n, n.inputs[3], "strides")
	if err != nil {
		return err
	}
	ns := len(begin)
	if len(end) != ns || len(strides) != ns {
		return n.errorf("begin, end and strides have %d, %d and %d entries", ns, len(end), len(strides))
	}
	if ns > maxSliceSpec {
		return n.errorf("slice spec has %d entries (max %d)", ns, maxSliceSpec)
	}
	bit := func(mask int32, i int) bool { return mask&(1<<i) != 0 }
	ellipsis := -1
	for i := range ns {
		if bit(k.ellipsisMask, i) {
			if ellipsis >= 0 {
				return n.errorf("more than one ellipsis in the slice spec")
			}
			ellipsis = i
		}
	}

	// Resolve the sparse spec into one entry per input dimension, and the output shape: -1
	// marks a new axis, -2-d the dense dimension d.
	var dense [maxDims]sliceDim
	var layout []int
	full := 0
	for i := range ns {
		if i == ellipsis {
			after := 0
			for j := i + 1; j < ns; j++ {
				if !bit(k.newAxisMask, j) {
					after++
				}
			}
			fill := rank - full - after
			if fill < 0 {
				return n.errorf("slice spec names more dimensions than the input's %d", rank)
			}
			for range fill {
				dense[full] = sliceDim{full: true, stride: 1}
				layout = append(layout, -2-full)
				full++
			}
			continue
		}
		if bit(k.newAxisMask, i) {
			layout = append(layout, -1)
			continue
		}
		if full >= rank {
			return n.errorf("slice spec names more dimensions than the input's %d", rank)
		}
		dense[full] = sliceDim{
			begin: begin[i], end: end[i], stride: strides[i],
			beginMasked: bit(k.beginMask, i), endMask: bit(k.endMask, i), shrink: bit(k.shrinkMask, i),
		}
		layout = append(layout, -2-full)
		full++
	}
	for ; full < rank; full++ {
		dense[full] = sliceDim{full: true, stride: 1}
		layout = append(layout, -2-full)
	}

	inStrides := contiguousStrides(in.shape)
	k.w = walk{rank: rank}
	var counts [maxDims]int
	for d := range rank {
		s := &dense[d]
		dim := in.shape[d]
		if s.stride == 0 {
			return n.errorf("stride of dimension %d is 0", d)
		}
		start, count := 0, dim
		switch {
		case s.full:
		case s.shrink:
			idx := s.begin
			if s.beginMasked {
				idx = 0
				if s.stride < 0 {
					idx = dim - 1
				}
			} else if idx < 0 {
				idx += dim
			}
			if idx < 0 || idx >= dim {
				return n.errorf("index %d out of range for dimension %d of size %d", s.begin, d, dim)
			}
			start, count = idx, 1
			s.stride = 1
		default:
			start, count = sliceRange(s, dim, k.offset)
		}
		counts[d] = count
		k.w.count[d] = count
		k.w.srcStride[d] = inStrides[d] * s.stride
		k.w.srcOff += start * inStrides[d]
	}
	k.w.dstStride = contiguousStrides(counts[:rank])
	if k.w.empty() {
		k.w.srcOff = 0
	}

	shape := make([]int, 0, len(layout))
	for _, l := range layout {
		if l == -1 {
			shape = append(shape, 1)
			continue
		}
		d := -2 - l
		if !dense[d].shrink {
			shape = append(shape, counts[d])
		}
	}
	setShape(out, shape)
	return nil
}

// sliceRange resolves begin/end/stride of a non-shrunk dimension of size dim into the first
// index and the element count, as TFLite does: negative indices count from the end, masks
// select the whole range in the stride's direction, and indices are clamped to the dimension.
func sliceRange(s *sliceDim, dim int, offset bool) (start, count int) {
	lo, hi := 0, dim // clamp range for stride > 0
	if s.stride < 0 {
		lo, hi = -1, dim-1
	}
	start = s.begin
	if s.beginMasked {
		start = 0
		if s.stride < 0 {
			start = dim - 1
		}
	} else {
		if start < 0 {
			start += dim
		}
		start = min(max(start, lo), hi)
	}
	stop := s.end
	switch {
	case s.endMask:
		stop = dim
		if s.stride < 0 {
			stop = -1
		}
	case offset:
		stop = min(max(start+stop, lo), hi)
	default:
		if stop < 0 {
			stop += dim
		}
		stop = min(max(stop, lo), hi)
	}
	if s.stride > 0 {
		count = (stop - start + s.stride - 1) / s.stride
	} else {
		count = (start - stop - s.stride - 1) / -s.stride
	}
	return start, max(count, 0)
}

func (k *stridedSliceKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	copyWalkBytes(&k.w, in.typ.Size(), out.data, in.data)
	return nil
}
