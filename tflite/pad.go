package tflite

import "slices"

// PAD and PADV2: constant padding with zero (PAD: the output zero point for quantized tensors,
// the quantized representation of 0.0), or with PADV2's scalar constant_values (raw, which TFLite
// requires to share the output's quantization). MIRROR_PAD reflects the input at its borders.

type padKernel struct {
	w        walk
	size     int
	padValue byte // for 1-byte types without constant_values; wider types pad with zero bytes
	v2       bool // PADV2: constant_values is input 2
	// When only the last dimension is padded (BlazeFace widens its channels so before each
	// residual ADD), the output is written row by row over the pool: rows of inRow bytes of
	// input become rows of before + inRow + after bytes. rows is 0 otherwise.
	rows, inRow, before, after int
	// Operands of the current eval, for the pool's run callback.
	in, out, value []byte
}

// padMinBytesPerSlot is the output size below which a worker is not worth it.
const padMinBytesPerSlot = 32 << 10

func newPad(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &padKernel{}, nil
}

func newPadV2(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 3, 1); err != nil {
		return nil, err
	}
	return &padKernel{v2: len(n.inputs) == 3 && n.inputs[2] != nil}, nil
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
	if k.v2 {
		cv := n.inputs[2]
		if cv.typ != in.typ || cv.NumElements() != 1 {
			return n.errorf("constant_values is %v %v, want one %v", cv.typ, cv.shape, in.typ)
		}
		if err := sameQuantization(n, cv, out); err != nil {
			return err
		}
	} else if is8bit(in.typ) {
		_, zp, err := quantOf(n, out)
		if err != nil {
			return err
		}
		k.padValue = byte(zp)
	}
	k.rows = 0
	if rank > 0 && slices.Equal(shape[:rank-1], in.shape[:rank-1]) && in.shape[rank-1] > 0 {
		k.rows = numElements(shape[:rank-1])
		k.inRow = in.shape[rank-1] * k.size
		k.before, k.after = pads[2*rank-2]*k.size, pads[2*rank-1]*k.size
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
	if k.v2 {
		k.value = n.inputs[2].data[:k.size]
	}
	if k.rows > 0 {
		k.in, k.out = in.data, out.data
		rowBytes := k.before + k.inRow + k.after
		part := max(1, padMinBytesPerSlot/rowBytes)
		n.pool.do(k.rows, part, max(1, part/4), k)
		k.in, k.out = nil, nil
	} else {
		k.fill(out.data)
		copyWalkBytes(&k.w, k.size, out.data, in.data)
	}
	k.value = nil
	return nil
}

// run writes output rows [lo, hi) of a pad of the last dimension: one fill of the whole range,
// then one copy per row (the pads are a few elements each, and filling them one by one cost
// more than filling the rows first).
func (k *padKernel) run(lo, hi, _ int) {
	rowBytes := k.before + k.inRow + k.after
	k.fill(k.out[lo*rowBytes : hi*rowBytes])
	for r := lo; r < hi; r++ {
		copy(k.out[r*rowBytes+k.before:], k.in[r*k.inRow:(r+1)*k.inRow])
	}
}

// fill sets dst to the pad value: PADV2's constant, else padValue.
func (k *padKernel) fill(dst []byte) {
	switch {
	case k.value != nil:
		fillElements(dst, k.value)
	case k.padValue == 0:
		clear(dst)
	default:
		for i := range dst {
			dst[i] = k.padValue
		}
	}
}

// fillElements fills dst with copies of the element v (len(dst) a multiple of len(v)).
func fillElements(dst, v []byte) {
	if len(dst) == 0 {
		return
	}
	n := copy(dst, v)
	for n < len(dst) {
		n += copy(dst[n:], dst[:n])
	}
}

// Options slot (MirrorPadOptions).
const slotMirrorPadMode = 0

// MIRROR_PAD modes.
const (
	mirrorReflect   = 0 // the border element is not repeated
	mirrorSymmetric = 1 // it is
)

type mirrorPadKernel struct {
	mode  int8
	rank  int
	shape [maxDims]int // output shape
	// src[d][i] is the input index along dimension d of output index i, times the input's
	// element stride of d.
	src [maxDims][]int
}

func newMirrorPad(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	mode := n.opts.Int8(slotMirrorPadMode, mirrorReflect)
	if mode != mirrorReflect && mode != mirrorSymmetric {
		return nil, n.errorf("%w: mirror pad mode %d", errUnsupported, mode)
	}
	return &mirrorPadKernel{mode: mode}, nil
}

func (k *mirrorPadKernel) prepare(n *node) error {
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
	if len(pads) != 2*rank {
		return n.errorf("paddings tensor has shape %v, want [%d 2]", n.inputs[1].shape, rank)
	}
	// REFLECT pads at most dim-1 on a side, SYMMETRIC at most dim.
	extra := 0
	if k.mode == mirrorReflect {
		extra = 1
	}
	inStrides := contiguousStrides(in.shape)
	shape := make([]int, rank)
	total := 1
	for d := range rank {
		before, after, dim := pads[2*d], pads[2*d+1], in.shape[d]
		if before < 0 || after < 0 || before > dim-extra || after > dim-extra {
			return n.errorf("padding %d,%d of dimension %d (size %d) is more than mirroring allows", before, after, d, dim)
		}
		shape[d] = dim + before + after
		total *= shape[d]
		if total > maxOutputElements {
			return n.errorf("padded output of shape %v is too large", shape)
		}
		m := make([]int, shape[d])
		for i := range m {
			j := i - before
			switch {
			case j < 0 && k.mode == mirrorReflect:
				j = -j
			case j < 0:
				j = -j - 1
			case j >= dim && k.mode == mirrorReflect:
				j = 2*dim - 2 - j
			case j >= dim:
				j = 2*dim - 1 - j
			}
			m[i] = j * inStrides[d]
		}
		k.src[d] = m
	}
	k.rank = rank
	copy(k.shape[:], shape)
	setShape(out, shape)
	return nil
}

func (k *mirrorPadKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	switch in.typ.Size() {
	case 1:
		mirror(k, out.data, in.data)
	case 2:
		mirror(k, viewAs[uint16](out.data), viewAs[uint16](in.data))
	case 4:
		mirror(k, viewAs[uint32](out.data), viewAs[uint32](in.data))
	default:
		mirror(k, viewAs[uint64](out.data), viewAs[uint64](in.data))
	}
	return nil
}

func mirror[T any](k *mirrorPadKernel, dst, src []T) {
	if k.rank == 0 {
		copy(dst, src)
		return
	}
	if numElements(k.shape[:k.rank]) == 0 {
		return
	}
	last := k.src[k.rank-1]
	var idx [maxDims]int
	o := 0
	for {
		base := 0
		for d := 0; d < k.rank-1; d++ {
			base += k.src[d][idx[d]]
		}
		row := dst[o : o+len(last)]
		for i, s := range last {
			row[i] = src[base+s]
		}
		o += len(last)
		d := k.rank - 2
		for ; d >= 0; d-- {
			idx[d]++
			if idx[d] < k.shape[d] {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}
