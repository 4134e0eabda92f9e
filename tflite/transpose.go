package tflite

// TRANSPOSE, and the strided walk shared by the data-movement kernels (TRANSPOSE, PAD,
// STRIDED_SLICE): an n-dimensional loop with independent source and destination strides that
// copies whole elements and needs no allocation.

// walk is an n-dimensional element copy: for every index vector i < count, element
// srcOff + Σ i[d]*srcStride[d] of the source goes to dstOff + Σ i[d]*dstStride[d].
type walk struct {
	rank      int
	count     [maxDims]int
	srcStride [maxDims]int
	dstStride [maxDims]int
	srcOff    int
	dstOff    int
}

// empty reports whether the walk copies nothing.
func (w *walk) empty() bool {
	for d := range w.rank {
		if w.count[d] == 0 {
			return true
		}
	}
	return false
}

// contiguousStrides returns the row-major element strides of shape.
func contiguousStrides(shape []int) [maxDims]int {
	var s [maxDims]int
	step := 1
	for d := len(shape) - 1; d >= 0; d-- {
		s[d] = step
		step *= shape[d]
	}
	return s
}

func copyWalk[T any](w *walk, dst, src []T) {
	if w.empty() {
		return
	}
	d, s := w.dstOff, w.srcOff
	r := w.rank
	if r == 0 {
		dst[d] = src[s]
		return
	}
	inner := w.count[r-1]
	ds, ss := w.dstStride[r-1], w.srcStride[r-1]
	var idx [maxDims]int
	for {
		if ds == 1 && ss == 1 {
			copy(dst[d:d+inner], src[s:s+inner])
		} else {
			dd, sv := d, s
			for range inner {
				dst[dd] = src[sv]
				dd += ds
				sv += ss
			}
		}
		k := r - 2
		for ; k >= 0; k-- {
			idx[k]++
			d += w.dstStride[k]
			s += w.srcStride[k]
			if idx[k] < w.count[k] {
				break
			}
			d -= w.dstStride[k] * w.count[k]
			s -= w.srcStride[k] * w.count[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// copyWalkBytes runs w over tensors whose elements are size bytes.
func copyWalkBytes(w *walk, size int, dst, src []byte) {
	switch size {
	case 1:
		copyWalk(w, dst, src)
	case 2:
		copyWalk(w, viewAs[uint16](dst), viewAs[uint16](src))
	case 4:
		copyWalk(w, viewAs[uint32](dst), viewAs[uint32](src))
	default:
		copyWalk(w, viewAs[uint64](dst), viewAs[uint64](src))
	}
}

// movableType reports whether a data-movement kernel can handle t: any fixed-size numeric type.
func movableType(t DataType) bool {
	switch t {
	case Float32, Int32, UInt8, Int8, Int64, Int16, Float16, Bool:
		return true
	}
	return false
}

// checkMove checks that a data-movement op's output has the input's type. The bytes are moved
// unchanged: like TFLite, these ops do not requantize, and converters give their input and
// output the same quantization.
func checkMove(n *node, in, out *Tensor) error {
	if !movableType(in.typ) || out.typ != in.typ {
		return n.errorf("%w: %v input with %v output", errUnsupported, in.typ, out.typ)
	}
	return nil
}

// rankOf returns t's rank, refusing ranks beyond maxDims, the most the fixed-size per-dimension
// arrays of the layout kernels hold.
func rankOf(n *node, t *Tensor) (int, error) {
	rank := t.Rank()
	if rank > maxDims {
		return 0, n.errorf("%w: rank %d (max %d)", errUnsupported, rank, maxDims)
	}
	return rank, nil
}

type transposeKernel struct {
	w walk
}

func newTranspose(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &transposeKernel{}, nil
}

func (k *transposeKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	perm, err := constInts(n, n.inputs[1], "permutation")
	if err != nil {
		return err
	}
	rank, err := rankOf(n, in)
	if err != nil {
		return err
	}
	if len(perm) != rank {
		return n.errorf("permutation has %d entries for rank %d", len(perm), rank)
	}
	var seen [maxDims]bool
	shape := make([]int, rank)
	inStrides := contiguousStrides(in.shape)
	for i, p := range perm {
		if p < 0 {
			p += rank
		}
		if p < 0 || p >= rank || seen[p] {
			return n.errorf("invalid permutation %v", perm)
		}
		seen[p] = true
		shape[i] = in.shape[p]
		k.w.srcStride[i] = inStrides[p]
	}
	k.w.rank = rank
	copy(k.w.count[:], shape)
	k.w.dstStride = contiguousStrides(shape)
	setShape(out, shape)
	return nil
}

func (k *transposeKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	copyWalkBytes(&k.w, in.typ.Size(), out.data, in.data)
	return nil
}
