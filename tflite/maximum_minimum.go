package tflite

// MAXIMUM and MINIMUM, elementwise with NumPy broadcasting. Like TFLite they compare raw values,
// so 8-bit inputs and output share one quantization (converters ensure it), and they keep its
// NaN rule: MAXIMUM is a > b ? a : b, which gives b when either is NaN.

type maxMinKernel struct {
	isMax bool
	typ   DataType
	plan  broadcastPlan
}

func newMaximum(n *node) (kernel, error) { return newMaxMin(n, true) }

func newMinimum(n *node) (kernel, error) { return newMaxMin(n, false) }

func newMaxMin(n *node, isMax bool) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &maxMinKernel{isMax: isMax}, nil
}

func (k *maxMinKernel) prepare(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	switch a.typ {
	case Float32, UInt8, Int8, Int16, Int32, Int64:
	default:
		return n.errorf("%w: type %v", errUnsupported, a.typ)
	}
	if b.typ != a.typ || out.typ != a.typ {
		return n.errorf("%w: inputs %v and %v, output %v", errUnsupported, a.typ, b.typ, out.typ)
	}
	k.typ = a.typ
	var err error
	k.plan, err = prepareBroadcast(n, a, b, out)
	return err
}

func (k *maxMinKernel) eval(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	switch k.typ {
	case Float32:
		maxMin(k, a.Float32s(), b.Float32s(), out.Float32s())
	case UInt8:
		maxMin(k, a.data, b.data, out.data)
	case Int8:
		maxMin(k, a.Int8s(), b.Int8s(), out.Int8s())
	case Int16:
		maxMin(k, viewAs[int16](a.data), viewAs[int16](b.data), viewAs[int16](out.data))
	case Int32:
		maxMin(k, a.Int32s(), b.Int32s(), out.Int32s())
	case Int64:
		maxMin(k, a.Int64s(), b.Int64s(), out.Int64s())
	}
	return nil
}

func maxMin[T ordered](k *maxMinKernel, a, b, out []T) {
	if k.isMax {
		bcast2(&k.plan, a, b, out, func(x, y T) T {
			if x > y {
				return x
			}
			return y
		})
		return
	}
	bcast2(&k.plan, a, b, out, func(x, y T) T {
		if x < y {
			return x
		}
		return y
	})
}
