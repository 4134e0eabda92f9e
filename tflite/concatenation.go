package tflite

func newConcatenation(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}
