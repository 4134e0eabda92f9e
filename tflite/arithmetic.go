package tflite

func newAdd(n *node) (kernel, error) { return nil, n.errorf("%w: not implemented yet", errUnsupported) }

func newSub(n *node) (kernel, error) { return nil, n.errorf("%w: not implemented yet", errUnsupported) }

func newMul(n *node) (kernel, error) { return nil, n.errorf("%w: not implemented yet", errUnsupported) }
