package tflite

import "slices"

// RESHAPE, SQUEEZE and EXPAND_DIMS change only the shape; eval copies the bytes (the planner
// gives input and output their own memory, and a copy of a few kilobytes costs less than the
// aliasing rules).

type reshape struct {
	newShape []int32 // from ReshapeOptions.new_shape; nil if absent
}

func newReshape(n *node) (kernel, error) {
	if len(n.inputs) < 1 || len(n.inputs) > 2 || len(n.outputs) != 1 || n.inputs[0] == nil {
		return nil, n.errorf("want 1 or 2 inputs and 1 output, got %d and %d", len(n.inputs), len(n.outputs))
	}
	return &reshape{newShape: n.opts.Int32s(0)}, nil
}

func (k *reshape) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if in.typ != out.typ {
		return n.errorf("input is %s, output is %s", in.typ, out.typ)
	}
	var want []int32
	if len(n.inputs) == 2 && n.inputs[1] != nil && n.inputs[1].Rank() == 1 && n.inputs[1].typ == Int32 {
		// As in TFLite, a shape tensor overrides the options; its values may be computed.
		s := n.inputs[1]
		if !n.known(s) {
			return n.errorf("shape tensor %q: %w", s.name, errDynamic)
		}
		want = s.Int32s()
		if want == nil {
			want = []int32{}
		}
	}
	if want == nil {
		want = k.newShape
		// Old converters wrote [0] for a scalar.
		if len(want) == 1 && want[0] == 0 {
			want = []int32{}
		}
	}
	if want == nil {
		return n.errorf("no new shape: neither a constant shape input nor options")
	}
	if len(want) > maxRank {
		return n.errorf("new shape %v has more than %d dimensions", want, maxRank)
	}
	shape := make([]int, len(want))
	unknown := -1
	known := 1
	for i, d := range want {
		switch {
		case d == -1 && unknown < 0:
			unknown = i
			continue
		case d < 0:
			return n.errorf("bad new shape %v", want)
		}
		if d > 0 && known > maxTensorBytes/int(d) {
			return n.errorf("new shape %v is too large", want)
		}
		shape[i] = int(d)
		known *= int(d)
	}
	count := in.NumElements()
	if unknown >= 0 {
		if known == 0 || count%known != 0 {
			return n.errorf("cannot reshape %v (%d elements) to %v", in.shape, count, want)
		}
		shape[unknown] = count / known
	} else if known != count {
		return n.errorf("cannot reshape %v (%d elements) to %v", in.shape, count, want)
	}
	out.shape = shape
	return nil
}

func (k *reshape) eval(n *node) error {
	copy(n.outputs[0].data, n.inputs[0].data)
	return nil
}

type squeeze struct {
	dims []int32 // SqueezeOptions.squeeze_dims; empty squeezes every dimension of size 1
}

func newSqueeze(n *node) (kernel, error) {
	if len(n.inputs) != 1 || len(n.outputs) != 1 || n.inputs[0] == nil {
		return nil, n.errorf("want 1 input and 1 output, got %d and %d", len(n.inputs), len(n.outputs))
	}
	return &squeeze{dims: n.opts.Int32s(0)}, nil
}

func (k *squeeze) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if in.typ != out.typ {
		return n.errorf("input is %s, output is %s", in.typ, out.typ)
	}
	rank := in.Rank()
	drop := make([]bool, rank)
	if len(k.dims) == 0 {
		for i, d := range in.shape {
			drop[i] = d == 1
		}
	}
	for _, d := range k.dims {
		i := int(d)
		if i < 0 {
			i += rank
		}
		if i < 0 || i >= rank {
			return n.errorf("squeeze dimension %d out of range for rank %d", d, rank)
		}
		if in.shape[i] != 1 {
			return n.errorf("cannot squeeze dimension %d of shape %v", d, in.shape)
		}
		drop[i] = true
	}
	shape := make([]int, 0, rank)
	for i, d := range in.shape {
		if !drop[i] {
			shape = append(shape, d)
		}
	}
	out.shape = slices.Clip(shape)
	return nil
}

func (k *squeeze) eval(n *node) error {
	copy(n.outputs[0].data, n.inputs[0].data)
	return nil
}

// EXPAND_DIMS inserts a dimension of size 1 at the given axis (in [-rank-1, rank]).
type expandDims struct{}

func newExpandDims(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &expandDims{}, nil
}

func (k *expandDims) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if in.typ != out.typ {
		return n.errorf("input is %s, output is %s", in.typ, out.typ)
	}
	if n.inputs[1].NumElements() != 1 {
		return n.errorf("axis tensor has shape %v, want one element", n.inputs[1].shape)
	}
	axes, err := constInts(n, n.inputs[1], "axis")
	if err != nil {
		return err
	}
	rank := in.Rank()
	axis := axes[0]
	if axis < 0 {
		axis += rank + 1
	}
	if axis < 0 || axis > rank || rank+1 > maxRank {
		return n.errorf("axis %d out of range for rank %d", axes[0], rank)
	}
	out.shape = append(append(append([]int{}, in.shape[:axis]...), 1), in.shape[axis:]...)
	return nil
}

func (k *expandDims) eval(n *node) error {
	copy(n.outputs[0].data, n.inputs[0].data)
	return nil
}
