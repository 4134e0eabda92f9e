package tflite

func newReshape(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newSqueeze(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}
