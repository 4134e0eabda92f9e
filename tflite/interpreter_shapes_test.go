package tflite

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Shapes known at prepare (folding) and shapes known only at run time.

// shapeArithmeticModel is out = RESHAPE(x, CONCATENATION(GATHER(SHAPE(x), [0]), [-1])): the
// batch of x times the rest, computed from x's shape as TF graphs do (x is [batch, 3, 4], the
// batch dynamic).
func shapeArithmeticModel() []byte {
	tensors := []fbt{
		{[]int32{2, 3, 4}, int8(Float32), uint32(0), "x", nil, nil, nil, []int32{-1, 3, 4}},
		tTensor("shape", Int32, []int32{3}, 0),
		tTensor("zero", Int32, []int32{1}, 1),
		tTensor("batch", Int32, []int32{1}, 0),
		tTensor("minus1", Int32, []int32{1}, 2),
		tTensor("newshape", Int32, []int32{2}, 0),
		tTensor("out", Float32, []int32{2, 12}, 0),
	}
	opcodes := []fbt{tOpcode(opShape), tOpcode(opGather), tOpcode(opConcatenation), tOpcode(opReshape)}
	ops := []fbt{
		tOp(0, []int32{0}, []int32{1}, optShape, fbt{int8(Int32)}),
		tOp(1, []int32{1, 2}, []int32{3}, optGather, fbt{int32(0)}),
		tOp(2, []int32{3, 4}, []int32{5}, optConcatenation, fbt{int32(0)}),
		tOp(3, []int32{0, 5}, []int32{6}, optReshape, fbt{}),
	}
	buffers := []fbt{tBuffer(nil), tBuffer(int32Bytes(0)), tBuffer(int32Bytes(-1))}
	return encodeFB(tModel(opcodes, []fbt{tSubgraph(tensors, []int32{0}, []int32{6}, ops)}, buffers), "TFL3")
}

func TestShapeArithmeticFolds(t *testing.T) {
	m, err := Load(shapeArithmeticModel())
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	// SHAPE, GATHER and CONCATENATION ran at prepare: only RESHAPE is left, nothing is dynamic.
	if ip.dynamic || !ip.idle[0] || !ip.idle[1] || !ip.idle[2] || ip.idle[3] {
		t.Fatalf("dynamic %v, idle %v; want folded shape arithmetic", ip.dynamic, ip.idle)
	}
	if got := ip.Output(0).Shape(); !slices.Equal(got, []int{2, 12}) {
		t.Fatalf("output shape %v before Invoke, want [2 12]", got)
	}
	for i := range ip.Input(0).Float32s() {
		ip.Input(0).Float32s()[i] = float32(i)
	}
	if a := testing.AllocsPerRun(10, func() {
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Invoke allocates %v times", a)
	}
	if got := ip.Output(0).Float32s(); got[23] != 23 {
		t.Errorf("output %v", got)
	}
	// A new batch folds again.
	if err := ip.ResizeInput(0, []int{5, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if got := ip.Output(0).Shape(); !slices.Equal(got, []int{5, 12}) {
		t.Fatalf("output shape %v after resize, want [5 12]", got)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
}

// runtimeShapeModel is out = RESHAPE(x, s) + 1 with s a graph input: the output shape is known
// only when s is.
func runtimeShapeModel() []byte {
	tensors := []fbt{
		tTensor("x", Float32, []int32{6}, 0),
		tTensor("s", Int32, []int32{2}, 0),
		tTensor("r", Float32, []int32{2, 3}, 0),
		tTensor("one", Float32, []int32{}, 1),
		tTensor("out", Float32, []int32{2, 3}, 0),
	}
	opcodes := []fbt{tOpcode(opReshape), tOpcode(opAdd)}
	ops := []fbt{
		tOp(0, []int32{0, 1}, []int32{2}, optReshape, fbt{}),
		tOp(1, []int32{2, 3}, []int32{4}, optAdd, fbt{}),
	}
	buffers := []fbt{tBuffer(nil), tBuffer(float32Bytes(1))}
	return encodeFB(tModel(opcodes, []fbt{tSubgraph(tensors, []int32{0, 1}, []int32{4}, ops)}, buffers), "TFL3")
}

func TestRuntimeShapes(t *testing.T) {
	m, err := Load(runtimeShapeModel())
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	if !ip.dynamic || !ip.Output(0).dynamic {
		t.Fatal("the output of a RESHAPE to an input shape is not dynamic")
	}
	copy(ip.Input(0).Float32s(), []float32{0, 1, 2, 3, 4, 5})
	for _, c := range []struct {
		shape []int32
		want  []int
	}{{[]int32{2, 3}, []int{2, 3}}, {[]int32{3, -1}, []int{3, 2}}, {[]int32{6, 1}, []int{6, 1}}, {[]int32{1, 6}, []int{1, 6}}} {
		copy(ip.Input(1).Int32s(), c.shape)
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		out := ip.Output(0)
		if !slices.Equal(out.Shape(), c.want) || !slices.Equal(out.Float32s(), []float32{1, 2, 3, 4, 5, 6}) {
			t.Errorf("shape %v: output %v %v, want %v", c.shape, out.Shape(), out.Float32s(), c.want)
		}
	}
	// A shape that does not fit is an Invoke error, and the next good one works.
	copy(ip.Input(1).Int32s(), []int32{4, 2})
	if err := ip.Invoke(); err == nil || !strings.Contains(err.Error(), "cannot reshape") {
		t.Errorf("RESHAPE of 6 elements to [4 2]: %v", err)
	}
	copy(ip.Input(1).Int32s(), []int32{2, 3})
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	// Steady state: the same shapes allocate only what prepare does (no tensor memory).
	a := testing.AllocsPerRun(10, func() { _ = ip.Invoke() })
	if a > 10 {
		t.Errorf("Invoke with stable run-time shapes allocates %v times", a)
	}
}

func TestRuntimeShapesMemoryLimit(t *testing.T) {
	// TILE of x by input multiples: a run-time shape of any size, capped by the memory limit.
	tensors := []fbt{tTensor("x", Float32, []int32{4}, 0), tTensor("m", Int32, []int32{1}, 0), tTensor("out", Float32, []int32{4}, 0)}
	b := encodeFB(tModel([]fbt{tOpcode(opTile)}, []fbt{tSubgraph(tensors, []int32{0, 1}, []int32{2}, []fbt{tOp(0, []int32{0, 1}, []int32{2}, optTile, fbt{})})}, []fbt{tBuffer(nil)}), "TFL3")
	m, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m, WithMemoryLimit(1<<16))
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	ip.Input(1).Int32s()[0] = 2
	if err := ip.Invoke(); err != nil || ip.Output(0).NumElements() != 8 {
		t.Fatalf("TILE x2: %v, %v", err, ip.Output(0).Shape())
	}
	ip.Input(1).Int32s()[0] = 1 << 14 // 256 KiB
	if err := ip.Invoke(); !errors.Is(err, ErrMemoryLimit) {
		t.Errorf("TILE beyond the memory limit: %v", err)
	}
}

// TestNewOpsInvokeAllocatesNothing runs every single-op golden model (every new op and type)
// and checks that Invoke allocates nothing.
func TestNewOpsInvokeAllocatesNothing(t *testing.T) {
	for _, c := range opGoldens {
		dir := filepath.Join(kernelGoldenDir, c.name)
		m, err := LoadFile(filepath.Join(dir, "model.tflite"))
		if err != nil {
			t.Fatal(err)
		}
		ip, err := NewInterpreter(m)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ip.InputCount() {
			b, err := os.ReadFile(filepath.Join(dir, "input"+string(rune('0'+i))+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			if err := ip.Input(i).CopyFrom(b); err != nil {
				t.Fatal(err)
			}
		}
		if a := testing.AllocsPerRun(3, func() {
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: Invoke allocates %v times", c.name, a)
		}
		ip.Close()
	}
}
