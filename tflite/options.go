package tflite

import "github.com/edge-agent/edge-agent/tflite/internal/fb"

// options reads the fields of an operator's builtin options table by slot (the field's index in
// the TFLite schema's options table). An absent field, or an absent table, yields the default.
// The model reader checks every offset at load time, so the accessors cannot fail.
type options interface {
	Bool(slot int, def bool) bool
	Int8(slot int, def int8) int8 // enums such as Padding and ActivationFunctionType
	Int32(slot int, def int32) int32
	Float32(slot int, def float32) float32
	Int32s(slot int) []int32 // nil when absent
}

// tableOptions implements options over a builtin-options table validated at load. A read that
// does not fit (which validation rules out for the fields kernels use) yields the default.
type tableOptions struct {
	t  fb.Table
	ok bool // false: the operator has no options table, every read yields the default
}

func (o tableOptions) Bool(slot int, def bool) bool {
	if !o.ok {
		return def
	}
	v, err := o.t.Bool(slot, def)
	if err != nil {
		return def
	}
	return v
}

func (o tableOptions) Int8(slot int, def int8) int8 {
	if !o.ok {
		return def
	}
	v, err := o.t.Int8(slot, def)
	if err != nil {
		return def
	}
	return v
}

func (o tableOptions) Int32(slot int, def int32) int32 {
	if !o.ok {
		return def
	}
	v, err := o.t.Int32(slot, def)
	if err != nil {
		return def
	}
	return v
}

func (o tableOptions) Float32(slot int, def float32) float32 {
	if !o.ok {
		return def
	}
	v, err := o.t.Float32(slot, def)
	if err != nil {
		return def
	}
	return v
}

// Int32s returns nil for a vector longer than maxOptionVector, which the loader rejects for the
// fields it knows.
func (o tableOptions) Int32s(slot int) []int32 {
	if !o.ok {
		return nil
	}
	v, ok, err := o.t.Vector(slot, 4)
	if !ok || err != nil || v.Len() > maxOptionVector {
		return nil
	}
	s := make([]int32, v.Len())
	for i := range s {
		s[i] = v.Int32(i)
	}
	return s
}
