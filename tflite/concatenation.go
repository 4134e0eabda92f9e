package tflite

// CONCATENATION along one axis. Quantized inputs whose scale or zero point differ from the
// output's are requantized through a per-input byte table (TFLite: round(x*s + b) + zp_out in
// float); the others are copied.

// Options slots (ConcatenationOptions).
const (
	slotConcatAxis       = 0
	slotConcatActivation = 1
)

type concatKernel struct {
	axis     int // as given, possibly negative
	act      int8
	typ      DataType
	outer    int          // product of the dimensions before the axis
	chunks   []int        // per input: bytes per outer index
	outChunk int          // bytes per outer index in the output
	luts     []*lutKernel // per input, nil when the bytes are copied unchanged
	fmin     float32
	fmax     float32
	n        *node // the node of the current eval, for run
}

func newConcatenation(n *node) (kernel, error) {
	if len(n.inputs) < 1 {
		return nil, n.errorf("got no inputs")
	}
	if err := checkCounts(n, len(n.inputs), len(n.inputs), 1); err != nil {
		return nil, err
	}
	act := n.opts.Int8(slotConcatActivation, actNone)
	if act < actNone || act > actRelu6 {
		return nil, n.errorf("%w: fused activation %d", errUnsupported, act)
	}
	return &concatKernel{axis: int(n.opts.Int32(slotConcatAxis, 0)), act: act}, nil
}

func (k *concatKernel) prepare(n *node) error {
	first, out := n.inputs[0], n.outputs[0]
	k.typ = first.typ
	rank := first.Rank()
	axis := k.axis
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return n.errorf("axis %d out of range for rank %d", k.axis, rank)
	}
	switch k.typ {
	case Float32, UInt8, Int8:
	case Int32, Int64:
		if k.act != actNone {
			return n.errorf("%w: fused activation on %v", errUnsupported, k.typ)
		}
	default:
		return n.errorf("%w: type %v", errUnsupported, k.typ)
	}
	if out.typ != k.typ {
		return n.errorf("%w: inputs %v, output %v", errUnsupported, k.typ, out.typ)
	}
	shape := append([]int(nil), first.shape...)
	shape[axis] = 0
	for i, t := range n.inputs {
		if t.typ != k.typ {
			return n.errorf("%w: input %d has type %v, input 0 has %v", errUnsupported, i, t.typ, k.typ)
		}
		if t.Rank() != rank {
			return n.errorf("input %d has rank %d, input 0 has %d", i, t.Rank(), rank)
		}
		for d := range rank {
			if d != axis && t.shape[d] != first.shape[d] {
				return n.errorf("input %d shape %v does not match input 0 shape %v off axis %d", i, t.shape, first.shape, axis)
			}
		}
		shape[axis] += t.shape[axis]
	}
	k.outer = numElements(first.shape[:axis])
	inner := numElements(first.shape[axis+1:]) * k.typ.Size()
	k.chunks = make([]int, len(n.inputs))
	for i, t := range n.inputs {
		k.chunks[i] = t.shape[axis] * inner
	}
	k.outChunk = shape[axis] * inner
	k.fmin, k.fmax = activationRangeFloat(k.act)
	k.luts = make([]*lutKernel, len(n.inputs))
	if is8bit(k.typ) {
		so, zo, err := quantOf(n, out)
		if err != nil {
			return err
		}
		lo, hi := typeRange(k.typ)
		qmin, qmax := activationRangeQuantized(k.act, so, zo, lo, hi)
		for i, t := range n.inputs {
			si, zi, err := quantOf(n, t)
			if err != nil {
				return err
			}
			if si == so && zi == zo && qmin == lo && qmax == hi {
				continue
			}
			scale := si / so
			bias := -float32(zi) * scale
			l := &lutKernel{}
			l.build(k.typ, func(q int32) int32 {
				v := quantizeFloat(float32(q)*scale+bias, 1, zo, qmin, qmax)
				return v
			})
			k.luts[i] = l
		}
	}
	setShape(out, shape)
	return nil
}

// concatMinChunk is the output element count below which splitting over the pool does not pay
// (SSD's requantized [1, 1917, 91] box scores are 174k bytes through tables).
const concatMinChunk = 32 << 10

func (k *concatKernel) eval(n *node) error {
	k.n = n
	size := k.typ.Size()
	n.pool.do(k.outer*k.outChunk/size, concatMinChunk, concatMinChunk/4, k)
	k.n = nil
	return nil
}

// run computes output elements [lo, hi): the pieces of the inputs' chunks they cover.
func (k *concatKernel) run(lo, hi, _ int) {
	n := k.n
	size := k.typ.Size()
	dst := n.outputs[0].data
	pos, end := lo*size, hi*size
	for pos < end {
		o, r := pos/k.outChunk, pos%k.outChunk
		i := 0
		for r >= k.chunks[i] {
			r -= k.chunks[i]
			i++
		}
		c := k.chunks[i]
		m := min(c-r, end-pos)
		src := n.inputs[i].data[o*c+r : o*c+r+m]
		if l := k.luts[i]; l != nil {
			l.apply(dst[pos:pos+m], src)
		} else {
			copy(dst[pos:pos+m], src)
		}
		pos += m
	}
	if k.typ == Float32 && k.act != actNone {
		out := n.outputs[0].Float32s()[lo:hi]
		for i, v := range out {
			out[i] = min(max(v, k.fmin), k.fmax)
		}
	}
}
