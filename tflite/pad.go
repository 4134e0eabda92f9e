package tflite

// PAD: constant padding with zero, or with the output zero point for quantized tensors (the
// quantized representation of 0.0).

type padKernel struct {
	w        walk
	size     int
	padValue byte // for 1-byte types; wider types pad with zero bytes
}

func newPad(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &padKernel{}, nil
}

func (k *padKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	rank, err := rankOf(n, in)
	if err != nil {
		return err
	}
	pads, err := constInts(n, n.inputs[1], "paddings")
	if err != nil {
		return err
	}
	pt := n.inputs[1]
	if len(pads) != 2*rank || (pt.Rank() != 2 && rank > 0) || (pt.Rank() == 2 && pt.shape[1] != 2) {
		return n.errorf("paddings tensor has shape %v, want [%d 2]", pt.shape, rank)
	}
	shape := make([]int, rank)
	total := 1
	for d := range rank {
		before, after := pads[2*d], pads[2*d+1]
		if before < 0 || after < 0 {
			return n.errorf("negative padding %d,%d on dimension %d", before, after, d)
		}
		shape[d] = in.shape[d] + before + after
		if shape[d] > maxOutputElements {
			return n.errorf("padded dimension %d is too large (%d)", d, shape[d])
		}
		total *= shape[d]
		if total > maxOutputElements {
			return n.errorf("padded output of shape %v is too large", shape)
		}
	}
	k.size = in.typ.Size()
	k.padValue = 0
	if is8bit(in.typ) {
		_, zp, err := quantOf(n, out)
		if err != nil {
			return err
		}
		k.padValue = byte(zp)
	}
	outStrides := contiguousStrides(shape)
	k.w = walk{rank: rank, srcStride: contiguousStrides(in.shape), dstStride: outStrides}
	copy(k.w.count[:], in.shape)
	for d := range rank {
		k.w.dstOff += pads[2*d] * outStrides[d]
	}
	setShape(out, shape)
	return nil
}

func (k *padKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	dst := out.data
	if k.padValue == 0 {
		clear(dst)
	} else {
		for i := range dst {
			dst[i] = k.padValue
		}
	}
	copyWalkBytes(&k.w, k.size, dst, in.data)
	return nil
}
