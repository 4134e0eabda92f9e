package tflite

// PACK stacks its inputs along a new axis; UNPACK splits its input along an axis into tensors of
// one rank less. Both move bytes, so any element type works; as in TFLite, 8-bit inputs and
// outputs must share one quantization.

// Options slots (PackOptions, UnpackOptions).
const (
	slotPackCount = 0 // values_count, or num for UNPACK
	slotPackAxis  = 1
)

type packKernel struct {
	count, axis int
	outer       int // product of the dimensions before the axis
	chunk       int // bytes per input per outer index
}

func newPack(n *node) (kernel, error) {
	count := int(n.opts.Int32(slotPackCount, 0))
	if count < 1 || count != len(n.inputs) {
		return nil, n.errorf("values_count %d with %d inputs", count, len(n.inputs))
	}
	if err := checkCounts(n, count, count, 1); err != nil {
		return nil, err
	}
	return &packKernel{count: count, axis: int(n.opts.Int32(slotPackAxis, 0))}, nil
}

// sameQuantization checks that 8-bit tensors a and b have the same per-tensor quantization (or
// none), as the ops that move bytes between them require.
func sameQuantization(n *node, a, b *Tensor) error {
	if !is8bit(a.typ) || a.quant == nil && b.quant == nil {
		return nil
	}
	sa, za, err := quantOf(n, a)
	if err != nil {
		return err
	}
	sb, zb, err := quantOf(n, b)
	if err != nil {
		return err
	}
	if sa != sb || za != zb {
		return n.errorf("%w: tensors %q and %q have different quantization (%v, %d) and (%v, %d)",
			errUnsupported, a.name, b.name, sa, za, sb, zb)
	}
	return nil
}

func (k *packKernel) prepare(n *node) error {
	first, out := n.inputs[0], n.outputs[0]
	for _, in := range n.inputs {
		if err := checkMove(n, in, out); err != nil {
			return err
		}
		if !sameShape(in.shape, first.shape) {
			return n.errorf("inputs of shapes %v and %v", first.shape, in.shape)
		}
		if err := sameQuantization(n, in, out); err != nil {
			return err
		}
	}
	rank := first.Rank()
	axis := k.axis
	if axis < 0 {
		axis += rank + 1
	}
	if axis < 0 || axis > rank {
		return n.errorf("axis %d out of range for inputs of rank %d", k.axis, rank)
	}
	if rank+1 > maxRank {
		return n.errorf("output rank %d is more than %d", rank+1, maxRank)
	}
	shape := append(append(append([]int{}, first.shape[:axis]...), k.count), first.shape[axis:]...)
	if _, ok := byteSize(shape, first.typ.Size()); !ok {
		return n.errorf("output shape %v is too large", shape)
	}
	k.outer = numElements(first.shape[:axis])
	k.chunk = numElements(first.shape[axis:]) * first.typ.Size()
	setShape(out, shape)
	return nil
}

func (k *packKernel) eval(n *node) error {
	dst := n.outputs[0].data
	d := 0
	for o := range k.outer {
		s := o * k.chunk
		for _, in := range n.inputs {
			copy(dst[d:d+k.chunk], in.data[s:s+k.chunk])
			d += k.chunk
		}
	}
	return nil
}

type unpackKernel struct {
	num, axis int
	outer     int
	chunk     int // bytes per output per outer index
}

func newUnpack(n *node) (kernel, error) {
	num := int(n.opts.Int32(slotPackCount, 0))
	if num < 1 || num != len(n.outputs) {
		return nil, n.errorf("num %d with %d outputs", num, len(n.outputs))
	}
	if err := checkCounts(n, 1, 1, num); err != nil {
		return nil, err
	}
	return &unpackKernel{num: num, axis: int(n.opts.Int32(slotPackAxis, 0))}, nil
}

func (k *unpackKernel) prepare(n *node) error {
	in := n.inputs[0]
	rank := in.Rank()
	axis := k.axis
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return n.errorf("axis %d out of range for rank %d", k.axis, rank)
	}
	if in.shape[axis] != k.num {
		return n.errorf("dimension %d of %v is not num %d", axis, in.shape, k.num)
	}
	shape := append(append([]int{}, in.shape[:axis]...), in.shape[axis+1:]...)
	for _, out := range n.outputs {
		if err := checkMove(n, in, out); err != nil {
			return err
		}
		if err := sameQuantization(n, in, out); err != nil {
			return err
		}
		setShape(out, shape)
	}
	k.outer = numElements(in.shape[:axis])
	k.chunk = numElements(in.shape[axis+1:]) * in.typ.Size()
	return nil
}

func (k *unpackKernel) eval(n *node) error {
	src := n.inputs[0].data
	s := 0
	for o := range k.outer {
		d := o * k.chunk
		for _, out := range n.outputs {
			copy(out.data[d:d+k.chunk], src[s:s+k.chunk])
			s += k.chunk
		}
	}
	return nil
}
