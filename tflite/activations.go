package tflite

func newLogistic(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newRelu(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newRelu6(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newReluN1To1(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newTanh(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newHardSwish(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}
