package tflite

func newAveragePool2D(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newMaxPool2D(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}
