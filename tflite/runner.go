package tflite

import (
	"fmt"
	"slices"
	"unsafe"
)

// Runner runs a model: this package's Interpreter, or the official TensorFlow Lite runtime
// through package tflite/native. Both hand out *Tensor values, so preprocessing writes
// Input(i).Bytes() and decoding reads Output(i).Float32s() (and the other accessors) the same way
// on either. Like an Interpreter, a Runner is used by one goroutine at a time.
type Runner interface {
	// Runtime names the runtime: RuntimeGo or RuntimeTFLite.
	Runtime() string
	InputCount() int
	OutputCount() int
	// Input returns input tensor i, or nil if i is out of range.
	Input(i int) *Tensor
	// Output returns output tensor i, or nil if i is out of range. Its data is valid after
	// Invoke until the next Invoke or Close.
	Output(i int) *Tensor
	Invoke() error
	// Close releases the runtime's memory and threads; the tensors' data is gone afterwards.
	Close() error
}

// Names returned by Runner.Runtime; they are also the values of the agent's model.runtime.
const (
	RuntimeGo     = "go"     // this package's Interpreter
	RuntimeTFLite = "tflite" // the official TensorFlow Lite C library (tflite/native)
)

// Runtime returns RuntimeGo.
func (ip *Interpreter) Runtime() string { return RuntimeGo }

var _ Runner = (*Interpreter)(nil)

// TensorView presents memory another runtime owns as a *Tensor, so that code written for this
// package's tensors reads and writes it unchanged. Only the holder of the view (the runtime that
// owns the memory) can point the tensor at other memory, when it reallocates it, or detach it
// before freeing the memory; a detached tensor's accessors return empty slices.
type TensorView struct{ t *Tensor }

// NewTensorView returns a view of a tensor with info's name, type, shape and quantization and no
// data until Set.
func NewTensorView(info TensorInfo) *TensorView {
	return &TensorView{t: &Tensor{
		index: -1, name: info.Name, typ: info.Type,
		shape:          slices.Clone(info.Shape),
		shapeSignature: slices.Clone(info.ShapeSignature),
		quant:          info.Quantization.clone(),
	}}
}

// Tensor returns the tensor the view controls.
func (v *TensorView) Tensor() *Tensor { return v.t }

// Set points the tensor at data with the given shape. data must hold exactly the shape's elements
// and be aligned for the element type: the typed accessors reinterpret it in place.
func (v *TensorView) Set(shape []int, data []byte) error {
	t := v.t
	size := t.typ.Size()
	if size == 0 {
		return fmt.Errorf("tflite: tensor %q: %s tensors: %w", t.name, t.typ, ErrUnsupported)
	}
	n, ok := byteSize(shape, size)
	if !ok || len(shape) > maxRank {
		return fmt.Errorf("tflite: tensor %q: %w: shape %v", t.name, ErrInvalidShape, shape)
	}
	if n != len(data) {
		return fmt.Errorf("tflite: tensor %q of shape %v: got %d bytes, want %d", t.name, shape, len(data), n)
	}
	if n > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(data)))%uintptr(size) != 0 {
		return fmt.Errorf("tflite: tensor %q: data not aligned for %s", t.name, t.typ)
	}
	t.shape = slices.Clone(shape)
	t.data = data[:n:n]
	return nil
}

// Detach drops the tensor's data, for when its memory is about to be freed.
func (v *TensorView) Detach() { v.t.data = nil }

// Bytes returns the model file's bytes, for handing the same model to another runtime. The slice
// is the model's own memory, shared by every interpreter: it must not be modified.
func (m *Model) Bytes() []byte { return m.raw }

// OperatorInfo is one operator of the main subgraph as the file declares it, for a runtime that
// checks a graph before it trusts it (tflite/native).
type OperatorInfo struct {
	Op string // the schema name, as in OpCounts
	// Inputs describes the operator's input tensors; an omitted optional input has Index -1.
	Inputs []TensorInfo
	// Constants holds the data of the inputs that are constants, nil for the others.
	Constants [][]byte
}

// Operators describes the operators of the main subgraph, in execution order. The constants'
// data is the model's own memory: it must not be modified.
func (m *Model) Operators() []OperatorInfo {
	sg := &m.subgraphs[0]
	out := make([]OperatorInfo, len(sg.ops))
	for i := range sg.ops {
		op := &sg.ops[i]
		info := OperatorInfo{Op: m.opcodes[op.opcode].name()}
		for _, ti := range op.inputs {
			if ti < 0 {
				info.Inputs = append(info.Inputs, TensorInfo{Index: -1})
				info.Constants = append(info.Constants, nil)
				continue
			}
			info.Inputs = append(info.Inputs, m.tensorInfos([]int{ti})[0])
			info.Constants = append(info.Constants, m.tensorData(&sg.tensors[ti]))
		}
		out[i] = info
	}
	return out
}

// FillProbe writes a deterministic input into t, the one runtimes are compared and checked on:
// byte b = (i*7+3) mod 256 for element i, as value b/255 for float32, b for uint8 and b-128 for
// int8 (the ramp of ../shared/tfref's --gen ramp); other types get zeros, as integer inputs are
// often indices, which a ramp would push out of range.
func FillProbe(t *Tensor) {
	switch t.Type() {
	case Float32:
		d := t.Float32s()
		for k := range d {
			d[k] = float32((k*7+3)%256) / 255
		}
	case UInt8:
		d := t.UInt8s()
		for k := range d {
			d[k] = uint8((k*7 + 3) % 256)
		}
	case Int8:
		d := t.Int8s()
		for k := range d {
			d[k] = int8((k*7+3)%256 - 128)
		}
	default:
		clear(t.Bytes())
	}
}
