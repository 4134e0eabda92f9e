package tflite

// SLICE copies the block of its input that starts at begin and has the given size (-1: to the
// end of the dimension); TILE repeats its input multiples[d] times along each dimension d. Both
// move bytes, so any element type works. Begin, size and multiples computed at run time make
// the output's shape a run-time shape.

type sliceKernel struct {
	w walk
}

func newSlice(n *node) (kernel, error) {
	if err := checkCounts(n, 3, 3, 1); err != nil {
		return nil, err
	}
	return &sliceKernel{}, nil
}

func (k *sliceKernel) prepare(n *node) error {
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
	size, err := constInts(n, n.inputs[2], "size")
	if err != nil {
		return err
	}
	if len(begin) != rank || len(size) != rank {
		return n.errorf("begin %v and size %v for rank %d", begin, size, rank)
	}
	shape := make([]int, rank)
	strides := contiguousStrides(in.shape)
	k.w = walk{rank: rank, srcStride: strides}
	for d := range rank {
		b, s := begin[d], size[d]
		if s == -1 {
			s = in.shape[d] - b
		}
		if b < 0 || s < 0 || b+s > in.shape[d] {
			return n.errorf("slice begin %v size %v outside shape %v", begin, size, in.shape)
		}
		shape[d] = s
		k.w.srcOff += b * strides[d]
	}
	copy(k.w.count[:], shape)
	k.w.dstStride = contiguousStrides(shape)
	setShape(out, shape)
	return nil
}

func (k *sliceKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	copyWalkBytes(&k.w, in.typ.Size(), out.data, in.data)
	return nil
}

type tileKernel struct {
	w     walk // copies the input once, into the first tile
	rank  int
	shape [maxDims]int // output shape
	in    [maxDims]int // input shape
}

func newTile(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &tileKernel{}, nil
}

func (k *tileKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	rank, err := rankOf(n, in)
	if err != nil {
		return err
	}
	mult, err := constInts(n, n.inputs[1], "multiples")
	if err != nil {
		return err
	}
	if len(mult) != rank {
		return n.errorf("%d multiples for rank %d", len(mult), rank)
	}
	shape := make([]int, rank)
	total := 1
	for d, m := range mult {
		if m < 0 {
			return n.errorf("negative multiple %d", m)
		}
		shape[d] = in.shape[d] * m
		if shape[d] > maxOutputElements || (shape[d] > 0 && total > maxOutputElements/shape[d]) {
			return n.errorf("tiled output of shape %v is too large", shape)
		}
		total *= shape[d]
	}
	k.rank = rank
	copy(k.shape[:], shape)
	copy(k.in[:], in.shape)
	k.w = walk{rank: rank, srcStride: contiguousStrides(in.shape), dstStride: contiguousStrides(shape)}
	copy(k.w.count[:], in.shape)
	setShape(out, shape)
	return nil
}

// eval copies the input into the first tile, then, from the innermost dimension out, repeats
// the filled block along each dimension: every copy is of contiguous bytes.
func (k *tileKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if numElements(k.shape[:k.rank]) == 0 {
		return nil
	}
	size := in.typ.Size()
	copyWalkBytes(&k.w, size, out.data, in.data)
	strides := contiguousStrides(k.shape[:k.rank])
	// block is the filled extent of dimension d and the ones inside it: in[d] * stride(d).
	for d := k.rank - 1; d >= 0; d-- {
		block := k.in[d] * strides[d] * size
		times := k.shape[d] / max(k.in[d], 1)
		// Repeat along d inside every index of the outer dimensions that is already filled.
		outerCount := 1
		for e := 0; e < d; e++ {
			outerCount *= k.in[e]
		}
		for o := range outerCount {
			base := outerOffset(o, d, k.in[:], strides, size)
			for t := 1; t < times; t++ {
				copy(out.data[base+t*block:base+(t+1)*block], out.data[base:base+block])
			}
		}
	}
	return nil
}

// outerOffset returns the byte offset in the output of the o-th index (row-major over counts)
// of the dimensions before d.
func outerOffset(o, d int, counts []int, strides [maxDims]int, size int) int {
	off := 0
	for e := d - 1; e >= 0; e-- {
		off += (o % counts[e]) * strides[e]
		o /= counts[e]
	}
	return off * size
}
