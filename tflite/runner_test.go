package tflite_test

import (
	"bytes"
	"os"
	"testing"
	"unsafe"

	"github.com/edge-agent/edge-agent/tflite"
)

func TestInterpreterIsRunner(t *testing.T) {
	b, err := os.ReadFile("../testdata/models/tiny/hello_world_float.tflite")
	if err != nil {
		t.Fatal(err)
	}
	m, err := tflite.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Bytes(), b) {
		t.Error("Model.Bytes differs from the file")
	}
	ip, err := tflite.NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	var r tflite.Runner = ip
	defer r.Close()
	if r.Runtime() != tflite.RuntimeGo || r.InputCount() != 1 || r.Input(0) == nil {
		t.Errorf("runtime %q, %d inputs", r.Runtime(), r.InputCount())
	}
}

func TestTensorView(t *testing.T) {
	info := tflite.TensorInfo{Name: "x", Type: tflite.Float32, Shape: []int{1, 2},
		Quantization: &tflite.Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{3}}}
	v := tflite.NewTensorView(info)
	tn := v.Tensor()
	if tn.Name() != "x" || tn.Type() != tflite.Float32 || len(tn.Float32s()) != 0 || tn.Quantization().Scale[0] != 0.5 {
		t.Fatalf("fresh view: %q %s %v %v", tn.Name(), tn.Type(), tn.Shape(), tn.Float32s())
	}
	info.Quantization.Scale[0] = 9 // the view keeps its own copy
	mem := make([]float32, 6)
	data := unsafe.Slice((*byte)(unsafe.Pointer(&mem[0])), 24)
	if err := v.Set([]int{2, 3}, data); err != nil {
		t.Fatal(err)
	}
	tn.Float32s()[5] = 7
	if mem[5] != 7 || tn.NumElements() != 6 || tn.Dim(1) != 3 || tn.Quantization().Scale[0] != 0.5 {
		t.Errorf("view does not alias its memory: %v, shape %v", mem, tn.Shape())
	}
	for _, c := range []struct {
		shape []int
		data  []byte
	}{
		{[]int{2, 2}, data},             // wrong size
		{[]int{-1, 6}, data},            // bad shape
		{[]int{5}, data[1:21]},          // misaligned for float32
		{[]int{1 << 30, 1 << 30}, data}, // over 2 GiB
	} {
		if err := v.Set(c.shape, c.data); err == nil {
			t.Errorf("Set(%v, %d bytes) accepted", c.shape, len(c.data))
		}
	}
	if len(tn.Float32s()) != 6 {
		t.Error("a refused Set changed the tensor")
	}
	v.Detach()
	if len(tn.Bytes()) != 0 || len(tn.Float32s()) != 0 {
		t.Error("detached tensor still has data")
	}
	if err := tflite.NewTensorView(tflite.TensorInfo{Type: tflite.String}).Set([]int{1}, []byte{0}); err == nil {
		t.Error("string view accepted data")
	}
}

func TestOperators(t *testing.T) {
	m, err := tflite.LoadFile("../testdata/models/tiny/hello_world_int8.tflite")
	if err != nil {
		t.Fatal(err)
	}
	ops := m.Operators()
	if len(ops) != 3 {
		t.Fatalf("%d operators, want 3", len(ops))
	}
	for i, op := range ops {
		// FULLY_CONNECTED(input, weights, bias): the first is an activation, the others constants.
		if op.Op != "FULLY_CONNECTED" || len(op.Inputs) != 3 || len(op.Constants) != 3 ||
			op.Constants[0] != nil || len(op.Constants[1]) == 0 || op.Inputs[1].Type != tflite.Int8 {
			t.Errorf("operator %d: %s, %d inputs, constants %v", i, op.Op, len(op.Inputs), op.Constants)
		}
	}
	if ops[0].Inputs[0].Index != m.Inputs()[0].Index {
		t.Errorf("the first operator reads tensor %d, the model input is %d", ops[0].Inputs[0].Index, m.Inputs()[0].Index)
	}
}
