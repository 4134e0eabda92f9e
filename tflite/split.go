package tflite

// SPLIT cuts its input along an axis into num_splits equal parts; SPLIT_V into parts of the
// given sizes (one of which may be -1: the rest). The bytes are copied, so any element type
// works and quantized outputs keep the input's quantization. An axis or sizes tensor computed at
// run time makes the outputs' shapes run-time shapes.

// Options slot (SplitOptions, SplitVOptions).
const slotSplitCount = 0

type splitKernel struct {
	sizes    bool // SPLIT_V
	inIndex  int  // index of the data input: 1 for SPLIT (axis first), 0 for SPLIT_V
	outer    int
	inChunk  int   // bytes per outer index in the input
	outChunk []int // bytes per outer index in each output
}

func newSplit(n *node) (kernel, error) {
	count := int(n.opts.Int32(slotSplitCount, 0))
	if count < 1 || count != len(n.outputs) {
		return nil, n.errorf("num_splits %d with %d outputs", count, len(n.outputs))
	}
	if err := checkCounts(n, 2, 2, count); err != nil {
		return nil, err
	}
	return &splitKernel{inIndex: 1, outChunk: make([]int, count)}, nil
}

func newSplitV(n *node) (kernel, error) {
	count := int(n.opts.Int32(slotSplitCount, 0))
	if count < 1 || count != len(n.outputs) {
		return nil, n.errorf("num_splits %d with %d outputs", count, len(n.outputs))
	}
	if err := checkCounts(n, 3, 3, count); err != nil {
		return nil, err
	}
	return &splitKernel{sizes: true, outChunk: make([]int, count)}, nil
}

func (k *splitKernel) prepare(n *node) error {
	in := n.inputs[k.inIndex]
	axisT := n.inputs[0]
	if k.sizes {
		axisT = n.inputs[2]
	}
	for _, out := range n.outputs {
		if err := checkMove(n, in, out); err != nil {
			return err
		}
	}
	if axisT.NumElements() != 1 {
		return n.errorf("axis tensor has shape %v, want one element", axisT.shape)
	}
	axes, err := constInts(n, axisT, "axis")
	if err != nil {
		return err
	}
	rank := in.Rank()
	axis := axes[0]
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return n.errorf("axis %d out of range for rank %d", axes[0], rank)
	}
	dim := in.shape[axis]
	count := len(n.outputs)
	parts := make([]int, count)
	if !k.sizes {
		if dim%count != 0 {
			return n.errorf("dimension %d of %v does not split into %d", axis, in.shape, count)
		}
		for i := range parts {
			parts[i] = dim / count
		}
	} else {
		sizes, err := constInts(n, n.inputs[1], "size_splits")
		if err != nil {
			return err
		}
		if len(sizes) != count {
			return n.errorf("%d size_splits for %d outputs", len(sizes), count)
		}
		rest, sum := -1, 0
		for i, s := range sizes {
			switch {
			case s == -1 && rest < 0:
				rest = i
				continue
			case s < 0:
				return n.errorf("invalid size_splits %v", sizes)
			}
			parts[i] = s
			sum += s
		}
		if rest >= 0 {
			parts[rest] = dim - sum
		}
		if parts[max(rest, 0)] < 0 || (rest < 0 && sum != dim) || (rest >= 0 && sum > dim) {
			return n.errorf("size_splits %v do not add up to dimension %d of %v", sizes, axis, in.shape)
		}
	}
	outer, _, inner := splitAt(in.shape, axis)
	k.outer = outer
	size := in.typ.Size()
	k.inChunk = dim * inner * size
	for i, out := range n.outputs {
		shape := append([]int{}, in.shape...)
		shape[axis] = parts[i]
		k.outChunk[i] = parts[i] * inner * size
		setShape(out, shape)
	}
	return nil
}

func (k *splitKernel) eval(n *node) error {
	src := n.inputs[k.inIndex].data
	for o := range k.outer {
		s := o * k.inChunk
		for i, out := range n.outputs {
			c := k.outChunk[i]
			copy(out.data[o*c:(o+1)*c], src[s:s+c])
			s += c
		}
	}
	return nil
}
