package tflite

func newConv2D(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}
