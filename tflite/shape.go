package tflite

// SHAPE writes its input's shape as an int32 or int64 vector. It reads no input data, so the
// interpreter computes it at prepare (see shapeKernel) and shape arithmetic after it folds: a
// RESHAPE whose shape is computed from a static tensor's SHAPE needs no run-time shapes.

// Options slot (ShapeOptions).
const slotShapeOutType = 0

type shapeOp struct {
	outType DataType
}

func newShape(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	// Without options, the output tensor's type says it (TFLite defaults to int32).
	t := DataType(n.opts.Int8(slotShapeOutType, int8(n.outputs[0].typ)))
	if t != Int32 && t != Int64 {
		return nil, n.errorf("%w: output type %v (want int32 or int64)", errUnsupported, t)
	}
	return &shapeOp{outType: t}, nil
}

func (k *shapeOp) shapeOnly() {}

func (k *shapeOp) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if out.typ != k.outType {
		return n.errorf("%w: output tensor is %v, options say %v", errUnsupported, out.typ, k.outType)
	}
	setShape(out, []int{in.Rank()})
	return nil
}

func (k *shapeOp) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if k.outType == Int32 {
		dst := out.Int32s()
		for i, d := range in.shape {
			dst[i] = int32(d)
		}
		return nil
	}
	dst := out.Int64s()
	for i, d := range in.shape {
		dst[i] = int64(d)
	}
	return nil
}
