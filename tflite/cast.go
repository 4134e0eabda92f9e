package tflite

import "math"

// CAST converts every element to the output type, ignoring quantization as TFLite does (the raw
// values are converted). Integers convert as C++'s static_cast does on two's complement
// machines: a narrower type keeps the low bits. Floats convert to integers by truncation toward
// zero; out-of-range values saturate and NaN gives 0, which is what the ARM64 and WASM builds of
// the official runtime do (C++ leaves it undefined). Bool outputs are value != 0.

// castTypes are the element types CAST reads and writes (float16 only as input).
var castTypes = map[DataType]bool{
	Float32: true, Float64: true, Int8: true, UInt8: true, Int16: true, Int32: true, Int64: true, Bool: true,
}

type castKernel struct{}

func newCast(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &castKernel{}, nil
}

func (k *castKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if !(castTypes[in.typ] || in.typ == Float16) || !castTypes[out.typ] {
		return n.errorf("%w: CAST from %v to %v", errUnsupported, in.typ, out.typ)
	}
	setShape(out, in.shape)
	return nil
}

func (k *castKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	switch out.typ {
	case Float32:
		castTo(viewAs[float32](out.data), in)
	case Float64:
		castTo(viewAs[float64](out.data), in)
	case Int8:
		castTo(viewAs[int8](out.data), in)
	case UInt8:
		castTo(out.data, in)
	case Int16:
		castTo(viewAs[int16](out.data), in)
	case Int32:
		castTo(viewAs[int32](out.data), in)
	case Int64:
		castTo(viewAs[int64](out.data), in)
	case Bool:
		castToBool(out.data, in)
	}
	return nil
}

type castNumber interface {
	~int8 | ~uint8 | ~int16 | ~int32 | ~int64 | ~float32 | ~float64
}

type castInt interface {
	~int8 | ~uint8 | ~int16 | ~int32 | ~int64
}

type castFloat interface {
	~float32 | ~float64
}

// castTo converts src's elements into dst (len(dst) == src.NumElements()).
func castTo[T castNumber](dst []T, src *Tensor) {
	switch src.typ {
	case Int8:
		castInts(dst, viewAs[int8](src.data))
	case UInt8, Bool:
		castInts(dst, src.data)
	case Int16:
		castInts(dst, viewAs[int16](src.data))
	case Int32:
		castInts(dst, viewAs[int32](src.data))
	case Int64:
		castInts(dst, viewAs[int64](src.data))
	case Float32:
		castFloats(dst, viewAs[float32](src.data))
	case Float64:
		castFloats(dst, viewAs[float64](src.data))
	case Float16:
		h := viewAs[uint16](src.data)
		lo, hi, isInt := numRange[T]()
		for i := range dst {
			dst[i] = fromFloat[T](float64(halfToFloat(h[i])), lo, hi, isInt)
		}
	}
}

func castInts[T castNumber, F castInt](dst []T, src []F) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] = T(v)
	}
}

func castFloats[T castNumber, F castFloat](dst []T, src []F) {
	lo, hi, isInt := numRange[T]()
	src = src[:len(dst)]
	if !isInt {
		for i, v := range src {
			dst[i] = T(v)
		}
		return
	}
	for i, v := range src {
		dst[i] = fromFloat[T](float64(v), lo, hi, true)
	}
}

// fromFloat converts v to T, truncating and saturating when T is an integer: values at or below
// lo give T's minimum, values at or above hi (one past T's maximum) give its maximum.
func fromFloat[T castNumber](v, lo, hi float64, isInt bool) T {
	if !isInt {
		return T(v)
	}
	switch {
	case v != v:
		return 0
	case v <= lo:
		return T(lo)
	case v >= hi:
		return T(lo) - 1 // wraps from T's minimum to its maximum
	}
	return T(v)
}

// numRange returns T's minimum and one past its maximum as floats (both exact), and whether T
// is an integer type.
func numRange[T castNumber]() (lo, hi float64, isInt bool) {
	var z T
	switch any(z).(type) {
	case int8:
		return math.MinInt8, 1 << 7, true
	case uint8:
		return 0, 1 << 8, true
	case int16:
		return math.MinInt16, 1 << 15, true
	case int32:
		return math.MinInt32, 1 << 31, true
	case int64:
		return math.MinInt64, 1 << 63, true
	}
	return math.Inf(-1), math.Inf(1), false
}

func castToBool(dst []byte, src *Tensor) {
	switch src.typ {
	case Int8, UInt8, Bool:
		for i, v := range src.data[:len(dst)] {
			dst[i] = b2u(v != 0)
		}
	case Int16:
		boolsOf(dst, viewAs[int16](src.data))
	case Int32:
		boolsOf(dst, viewAs[int32](src.data))
	case Int64:
		boolsOf(dst, viewAs[int64](src.data))
	case Float32:
		boolsOf(dst, viewAs[float32](src.data))
	case Float64:
		boolsOf(dst, viewAs[float64](src.data))
	case Float16:
		// Any bits but the sign mean non-zero (NaN too, as in C++).
		for i, h := range viewAs[uint16](src.data)[:len(dst)] {
			dst[i] = b2u(h&0x7fff != 0)
		}
	}
}

func boolsOf[F castNumber](dst []byte, src []F) {
	for i, v := range src[:len(dst)] {
		dst[i] = b2u(v != 0)
	}
}

// b2u is a bool as a byte of a Bool tensor.
func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
