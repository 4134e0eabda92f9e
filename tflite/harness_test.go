package tflite

import "testing"

// mapOptions is an options table for kernel unit tests: slot -> value (bool, int8, int32,
// float32 or []int32).
type mapOptions map[int]any

func (m mapOptions) Bool(slot int, def bool) bool {
	if v, ok := m[slot].(bool); ok {
		return v
	}
	return def
}

func (m mapOptions) Int8(slot int, def int8) int8 {
	if v, ok := m[slot].(int8); ok {
		return v
	}
	return def
}

func (m mapOptions) Int32(slot int, def int32) int32 {
	if v, ok := m[slot].(int32); ok {
		return v
	}
	return def
}

func (m mapOptions) Float32(slot int, def float32) float32 {
	if v, ok := m[slot].(float32); ok {
		return v
	}
	return def
}

func (m mapOptions) Int32s(slot int) []int32 {
	v, _ := m[slot].([]int32)
	return v
}

// runOp builds a node from the factory, prepares it, allocates the outputs with the shapes prepare
// set, and evaluates it once. Outputs are passed with any shape (prepare overwrites it).
func runOp(t *testing.T, name string, f kernelFactory, opts mapOptions, inputs, outputs []*Tensor) error {
	t.Helper()
	if opts == nil {
		opts = mapOptions{}
	}
	n := &node{op: name, inputs: inputs, outputs: outputs, opts: opts}
	k, err := f(n)
	if err != nil {
		return err
	}
	if err := k.prepare(n); err != nil {
		return err
	}
	for _, o := range outputs {
		o.data = alignedBytes(o.ByteSize())
	}
	n.scratch = alignedBytes(n.scratchSize)
	return k.eval(n)
}

// tensorF32 returns a float32 tensor holding vals with the given shape.
func tensorF32(shape []int, vals ...float32) *Tensor {
	t := newTensor("f32", Float32, shape, nil)
	copy(t.Float32s(), vals)
	return t
}
