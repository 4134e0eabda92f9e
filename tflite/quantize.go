package tflite

func newQuantize(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}

func newDequantize(n *node) (kernel, error) {
	return nil, n.errorf("%w: not implemented yet", errUnsupported)
}
