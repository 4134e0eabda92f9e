package tflite

// LOGICAL_AND and LOGICAL_OR (with NumPy broadcasting) and LOGICAL_NOT, on bool tensors.

type logicalKernel struct {
	op   int // opLogicalAnd, opLogicalOr or opLogicalNot
	plan broadcastPlan
}

func newLogicalAnd(n *node) (kernel, error) { return newLogical(n, opLogicalAnd) }
func newLogicalOr(n *node) (kernel, error)  { return newLogical(n, opLogicalOr) }
func newLogicalNot(n *node) (kernel, error) { return newLogical(n, opLogicalNot) }

func newLogical(n *node, op int) (kernel, error) {
	ins := 2
	if op == opLogicalNot {
		ins = 1
	}
	if err := checkCounts(n, ins, ins, 1); err != nil {
		return nil, err
	}
	return &logicalKernel{op: op}, nil
}

func (k *logicalKernel) prepare(n *node) error {
	out := n.outputs[0]
	for _, t := range []*Tensor{n.inputs[0], n.inputs[len(n.inputs)-1], out} {
		if t.typ != Bool {
			return n.errorf("%w: %v tensor %q (want bool)", errUnsupported, t.typ, t.name)
		}
	}
	a := n.inputs[0]
	if k.op == opLogicalNot {
		setShape(out, a.shape)
		return nil
	}
	b := n.inputs[1]
	var err error
	k.plan, err = prepareBroadcast(n, a, b, out)
	return err
}

func (k *logicalKernel) eval(n *node) error {
	a, out := n.inputs[0], n.outputs[0]
	switch k.op {
	case opLogicalNot:
		for i, v := range a.data {
			out.data[i] = b2u(v == 0)
		}
	case opLogicalAnd:
		bcast2(&k.plan, a.data, n.inputs[1].data, out.data, func(x, y byte) byte { return b2u(x != 0 && y != 0) })
	default:
		bcast2(&k.plan, a.data, n.inputs[1].data, out.data, func(x, y byte) byte { return b2u(x != 0 || y != 0) })
	}
	return nil
}
