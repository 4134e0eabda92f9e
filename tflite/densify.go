package tflite

// DENSIFY turns a sparse constant into a dense tensor. The model reader densifies sparse
// constants already (see sparse.go), so this is a copy, and the interpreter folds it at prepare.

type densifyKernel struct{}

func newDensify(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &densifyKernel{}, nil
}

func (k *densifyKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	setShape(out, in.shape)
	return nil
}

func (k *densifyKernel) eval(n *node) error {
	copy(n.outputs[0].data, n.inputs[0].data)
	return nil
}
