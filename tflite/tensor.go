package tflite

import (
	"fmt"
	"unsafe"
)

// DataType is a tensor element type. The values are those of the TFLite schema's TensorType enum.
type DataType int8

// Element types that appear in TFLite models. Only some are supported by the kernels; the
// interpreter rejects a model using any other at load time.
const (
	Float32 DataType = 0
	Float16 DataType = 1
	Int32   DataType = 2
	UInt8   DataType = 3
	Int64   DataType = 4
	String  DataType = 5
	Bool    DataType = 6
	Int16   DataType = 7
	Int8    DataType = 9
	Float64 DataType = 10
)

var dataTypeNames = map[DataType]string{
	Float32: "float32", Float16: "float16", Int32: "int32", UInt8: "uint8", Int64: "int64",
	String: "string", Bool: "bool", Int16: "int16", Int8: "int8", Float64: "float64",
}

func (t DataType) String() string {
	if s, ok := dataTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type(%d)", int8(t))
}

// Size returns the size of one element in bytes, or 0 for types without a fixed size.
func (t DataType) Size() int {
	switch t {
	case Float32, Int32:
		return 4
	case UInt8, Int8, Bool:
		return 1
	case Int64, Float64:
		return 8
	case Float16, Int16:
		return 2
	}
	return 0
}

// Quantization holds a tensor's affine quantization: real = Scale * (q - ZeroPoint).
// Per-tensor quantization has one scale and zero point; per-channel quantization has one per
// index of dimension Axis.
type Quantization struct {
	Scale     []float32
	ZeroPoint []int64
	Axis      int
}

// PerChannel reports whether q holds more than one scale.
func (q *Quantization) PerChannel() bool { return q != nil && len(q.Scale) > 1 }

// Tensor is a typed n-dimensional array inside an Interpreter. Its data is owned by the
// interpreter: slices returned by the typed accessors stay valid until the next
// ResizeInput/AllocateTensors and are overwritten by Invoke.
type Tensor struct {
	index int // index in the subgraph's tensor list
	name  string
	typ   DataType
	// shape is the current shape; shapeSignature is the declared one with -1 for dynamic dims.
	shape          []int
	shapeSignature []int
	quant          *Quantization
	// data is the tensor's bytes: a view into the interpreter's arena for activations, or an
	// aligned copy of the model buffer for constants.
	data []byte
	// constant is set when data is fixed for the interpreter's life: a model buffer, or the
	// output of an operator folded at prepare (folded is then set too).
	constant bool
	folded   bool
	// dynamic is set when the shape is known only once Invoke has run the operator writing it.
	dynamic  bool
	variable bool
}

// Name returns the tensor's name in the model.
func (t *Tensor) Name() string { return t.name }

// Type returns the element type.
func (t *Tensor) Type() DataType { return t.typ }

// Shape returns a copy of the current shape.
func (t *Tensor) Shape() []int { return append([]int(nil), t.shape...) }

// ShapeSignature returns a copy of the declared shape, with -1 for dynamic dimensions.
func (t *Tensor) ShapeSignature() []int {
	if t.shapeSignature == nil {
		return t.Shape()
	}
	return append([]int(nil), t.shapeSignature...)
}

// Dim returns dimension i of the current shape.
func (t *Tensor) Dim(i int) int { return t.shape[i] }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.shape) }

// NumElements returns the product of the shape's dimensions (1 for a scalar).
func (t *Tensor) NumElements() int { return numElements(t.shape) }

// ByteSize returns the size of the tensor's data in bytes.
func (t *Tensor) ByteSize() int { return t.NumElements() * t.typ.Size() }

// Quantization returns the tensor's quantization parameters, or nil if it has none.
func (t *Tensor) Quantization() *Quantization { return t.quant }

// Bytes returns the tensor's raw little-endian data.
func (t *Tensor) Bytes() []byte { return t.data }

// CopyFrom copies raw little-endian bytes into the tensor; len(b) must equal ByteSize.
func (t *Tensor) CopyFrom(b []byte) error {
	if len(b) != len(t.data) {
		return fmt.Errorf("tensor %q: got %d bytes, want %d", t.name, len(b), len(t.data))
	}
	copy(t.data, b)
	return nil
}

// Float32s returns the data as float32s, or nil if the tensor is not float32.
func (t *Tensor) Float32s() []float32 {
	if t.typ != Float32 {
		return nil
	}
	return viewAs[float32](t.data)
}

// UInt8s returns the data as uint8s, or nil if the tensor is not uint8.
func (t *Tensor) UInt8s() []uint8 {
	if t.typ != UInt8 {
		return nil
	}
	return t.data
}

// Int8s returns the data as int8s, or nil if the tensor is not int8.
func (t *Tensor) Int8s() []int8 {
	if t.typ != Int8 {
		return nil
	}
	return viewAs[int8](t.data)
}

// Int32s returns the data as int32s, or nil if the tensor is not int32.
func (t *Tensor) Int32s() []int32 {
	if t.typ != Int32 {
		return nil
	}
	return viewAs[int32](t.data)
}

// Int64s returns the data as int64s, or nil if the tensor is not int64.
func (t *Tensor) Int64s() []int64 {
	if t.typ != Int64 {
		return nil
	}
	return viewAs[int64](t.data)
}

// viewAs reinterprets b as a slice of T. b must be aligned for T: the interpreter allocates
// all tensor memory 16-byte aligned and copies constant buffers into aligned memory.
func viewAs[T any](b []byte) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if len(b) < size {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/size)
}

// alignedBytes returns n zeroed bytes whose first byte is 16-byte aligned.
func alignedBytes(n int) []byte {
	if n == 0 {
		return []byte{}
	}
	words := make([]uint64, (n+15)/8+1)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)
	off := int(uintptr(unsafe.Pointer(&b[0])) & 15)
	if off != 0 {
		off = 16 - off
	}
	return b[off : off+n : off+n]
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// NewTensor returns a tensor of its own, zeroed, outside any interpreter: for callers that hand
// data to code taking tensors, such as decoders and their tests. A nil quantization means none.
func NewTensor(name string, typ DataType, shape []int, q *Quantization) (*Tensor, error) {
	size := typ.Size()
	if size == 0 {
		return nil, fmt.Errorf("tflite: tensor %q: %s has no fixed element size", name, typ)
	}
	if _, ok := byteSize(shape, size); !ok || len(shape) > maxRank {
		return nil, fmt.Errorf("tflite: tensor %q: %w: shape %v", name, ErrInvalidShape, shape)
	}
	return newTensor(name, typ, shape, q.clone()), nil
}

// newTensor returns a tensor with its own zeroed, aligned storage for the given shape.
func newTensor(name string, typ DataType, shape []int, q *Quantization) *Tensor {
	t := &Tensor{name: name, typ: typ, shape: append([]int(nil), shape...), quant: q}
	t.data = alignedBytes(t.ByteSize())
	return t
}
