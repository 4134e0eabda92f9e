package tflite

// SELECT and SELECT_V2 pick, element by element, x where the bool condition holds and y where it
// does not. SELECT_V2 broadcasts all three inputs NumPy-style; SELECT (v1) takes x and y of one
// shape and a condition of that shape, or a vector selecting whole rows along the first
// dimension. Bytes are moved, so any element type works; 8-bit x, y and output share one
// quantization, as in TFLite.

type selectKernel struct {
	v2   bool
	size int
	w    broadcast3
}

func newSelect(n *node) (kernel, error)   { return newSelectOp(n, false) }
func newSelectV2(n *node) (kernel, error) { return newSelectOp(n, true) }

func newSelectOp(n *node, v2 bool) (kernel, error) {
	if err := checkCounts(n, 3, 3, 1); err != nil {
		return nil, err
	}
	return &selectKernel{v2: v2}, nil
}

func (k *selectKernel) prepare(n *node) error {
	cond, x, y, out := n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[0]
	if cond.typ != Bool {
		return n.errorf("%w: %v condition (want bool)", errUnsupported, cond.typ)
	}
	for _, t := range []*Tensor{x, y} {
		if err := checkMove(n, t, out); err != nil {
			return err
		}
		if err := sameQuantization(n, t, out); err != nil {
			return err
		}
	}
	for _, t := range []*Tensor{cond, x, y} {
		if t.Rank() > maxDims {
			return n.errorf("%w: rank %d (max %d)", errUnsupported, t.Rank(), maxDims)
		}
	}
	condShape := cond.shape
	var shape []int
	if k.v2 {
		xy, err := broadcastShape(x.shape, y.shape)
		if err != nil {
			return n.errorf("%w", err)
		}
		if shape, err = broadcastShape(cond.shape, xy); err != nil {
			return n.errorf("%w", err)
		}
	} else {
		if !sameShape(x.shape, y.shape) {
			return n.errorf("x %v and y %v differ", x.shape, y.shape)
		}
		shape = x.shape
		switch {
		case sameShape(cond.shape, x.shape):
		case cond.Rank() == 1 && x.Rank() > 1 && cond.shape[0] == x.shape[0]:
			// One condition per row: as a [n, 1, ..., 1] tensor it broadcasts over the rest.
			condShape = make([]int, x.Rank())
			for i := range condShape {
				condShape[i] = 1
			}
			condShape[0] = cond.shape[0]
		case cond.Rank() == 0:
		default:
			return n.errorf("condition %v does not select over %v", cond.shape, x.shape)
		}
	}
	k.size = x.typ.Size()
	k.w = newBroadcast3(shape, condShape, x.shape, y.shape)
	setShape(out, shape)
	return nil
}

func (k *selectKernel) eval(n *node) error {
	cond, x, y, out := n.inputs[0].data, n.inputs[1].data, n.inputs[2].data, n.outputs[0].data
	size := k.size
	k.w.each(func(o, c, i, j int) {
		if cond[c] != 0 {
			copy(out[o*size:(o+1)*size], x[i*size:(i+1)*size])
		} else {
			copy(out[o*size:(o+1)*size], y[j*size:(j+1)*size])
		}
	})
	return nil
}
