package tflite

func newResizeBilinear(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newResizeNearestNeighbor(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}
