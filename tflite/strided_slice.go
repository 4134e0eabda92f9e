package tflite

func newStridedSlice(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}
