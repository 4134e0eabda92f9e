package tflite

import (
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"
)

// dynamicModel: in [1,3] (signature [-1,3]) -RESHAPE([-1])-> flat -RESHAPE([-1,3])-> out,
// with a signature aliasing the input "x" and the output "y".
func dynamicModel() []byte {
	tensors := []fbt{
		{[]int32{1, 3}, int8(Float32), uint32(0), "in", nil, nil, nil, []int32{-1, 3}},
		tTensor("flat", Float32, []int32{3}, 0),
		tTensor("out", Float32, []int32{1, 3}, 0),
	}
	ops := []fbt{
		tOp(0, []int32{0}, []int32{1}, 17, fbt{[]int32{-1}}),
		tOp(0, []int32{1}, []int32{2}, 17, fbt{[]int32{-1, 3}}),
	}
	root := tModel([]fbt{tOpcode(opReshape)}, []fbt{tSubgraph(tensors, []int32{0}, []int32{2}, ops)}, []fbt{tBuffer(nil)})
	root = append(root, nil, nil, []fbt{{[]fbt{{"x", uint32(0)}}, []fbt{{"y", uint32(2)}}, "serving_default", nil, uint32(0)}})
	return encodeFB(root, "TFL3")
}

func newDynamic(t *testing.T, opts ...Option) *Interpreter {
	t.Helper()
	m, err := Load(dynamicModel())
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip.Close() })
	return ip
}

func TestResizeInput(t *testing.T) {
	ip := newDynamic(t, WithMemoryLimit(1024))
	if got := ip.Input(0).ShapeSignature(); !slices.Equal(got, []int{-1, 3}) {
		t.Fatalf("signature %v", got)
	}
	if err := ip.ResizeInput(0, []int{4, 3}); err != nil {
		t.Fatal(err)
	}
	if got := ip.Output(0).Shape(); !slices.Equal(got, []int{4, 3}) {
		t.Errorf("output shape %v, want [4 3]", got)
	}
	in := make([]float32, 12)
	for i := range in {
		in[i] = float32(i) * 1.5
	}
	if n := copy(ip.Input(0).Float32s(), in); n != 12 {
		t.Fatalf("input holds %d values, want 12", n)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	if got := ip.Output(0).Float32s(); !slices.Equal(got, in) {
		t.Errorf("output %v, want %v", got, in)
	}

	bad := []struct {
		i     int
		shape []int
		is    error
	}{
		{0, []int{4, 2}, ErrInvalidShape},       // static dimension
		{0, []int{12}, ErrInvalidShape},         // rank
		{0, []int{0, 3}, ErrInvalidShape},       // empty batch
		{1, []int{1, 3}, ErrInvalidShape},       // no such input
		{0, []int{1000, 3}, ErrMemoryLimit},     // 12 KB arena > 1 KB limit
		{0, []int{1 << 30, 3}, ErrInvalidShape}, // more than 2 GiB
	}
	for _, b := range bad {
		if err := ip.ResizeInput(b.i, b.shape); !errors.Is(err, b.is) {
			t.Errorf("ResizeInput(%d, %v) = %v, want %v", b.i, b.shape, err, b.is)
		}
	}
	// Failed resizes left the interpreter as it was.
	if got := ip.Input(0).Shape(); !slices.Equal(got, []int{4, 3}) {
		t.Errorf("input shape %v after failed resizes", got)
	}
	copy(ip.Input(0).Float32s(), in)
	if err := ip.Invoke(); err != nil || !slices.Equal(ip.Output(0).Float32s(), in) {
		t.Errorf("invoke after failed resizes: %v %v", err, ip.Output(0).Float32s())
	}
	// Back to the declared shape.
	if err := ip.ResizeInput(0, []int{1, 3}); err != nil || ip.Output(0).NumElements() != 3 {
		t.Errorf("resize back: %v, output %v", err, ip.Output(0).Shape())
	}
}

func TestInvokeAllocatesNothing(t *testing.T) {
	ip := newDynamic(t)
	if err := ip.ResizeInput(0, []int{8, 3}); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Invoke allocates %v times per run", allocs)
	}
}

func TestByName(t *testing.T) {
	ip := newDynamic(t)
	if ip.InputCount() != 1 || ip.OutputCount() != 1 {
		t.Fatalf("counts %d %d", ip.InputCount(), ip.OutputCount())
	}
	if ip.InputByName("in") != ip.Input(0) || ip.InputByName("x") != ip.Input(0) {
		t.Error("input by tensor name or signature alias")
	}
	if ip.OutputByName("out") != ip.Output(0) || ip.OutputByName("y") != ip.Output(0) {
		t.Error("output by tensor name or signature alias")
	}
	if ip.InputByName("y") != nil || ip.OutputByName("nope") != nil || ip.Input(1) != nil || ip.Output(-1) != nil {
		t.Error("unknown names or indices must give nil")
	}
	if ip.Model() == nil || ip.Model().Signatures()[0].Key != "serving_default" {
		t.Error("model signatures")
	}
}

func TestThreadsAndClose(t *testing.T) {
	before := settledGoroutines()
	m, err := Load(dynamicModel())
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m, WithThreads(4))
	if err != nil {
		t.Fatal(err)
	}
	if ip.pool.threads != 4 {
		t.Errorf("pool has %d threads, want 4", ip.pool.threads)
	}
	if got := poolWorkers(); got != before+3 {
		t.Errorf("%d goroutines, want %d (3 workers)", got, before+3)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	if err := ip.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ip.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for poolWorkers() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := poolWorkers(); got > before {
		t.Errorf("%d goroutines after Close, want %d", got, before)
	}
	if err := ip.Invoke(); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: %v", err)
	}
	if err := ip.ResizeInput(0, []int{2, 3}); !errors.Is(err, ErrClosed) {
		t.Errorf("ResizeInput after Close: %v", err)
	}
	// Threads below 1 mean 1: no workers.
	ip1, err := NewInterpreter(m, WithThreads(0))
	if err != nil {
		t.Fatal(err)
	}
	defer ip1.Close()
	if ip1.pool.threads != 1 || len(ip1.pool.workers) != 0 {
		t.Errorf("WithThreads(0): %d threads", ip1.pool.threads)
	}
}

// Two interpreters built from one model do not share tensor memory.
func TestInterpretersShareModel(t *testing.T) {
	m, err := Load(dynamicModel())
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	copy(a.Input(0).Float32s(), []float32{1, 2, 3})
	copy(b.Input(0).Float32s(), []float32{4, 5, 6})
	if err := errors.Join(a.Invoke(), b.Invoke()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Output(0).Float32s(), []float32{1, 2, 3}) || !slices.Equal(b.Output(0).Float32s(), []float32{4, 5, 6}) {
		t.Errorf("outputs %v %v", a.Output(0).Float32s(), b.Output(0).Float32s())
	}
}

// Constants are copied into 16-byte aligned memory, once per buffer.
func TestConstantsAligned(t *testing.T) {
	c := newChain()
	c.tensors = append(c.tensors, tTensor("shape", Int32, []int32{1}, 1), tTensor("shape2", Int32, []int32{1}, 1))
	c.buffers = append(c.buffers, tBuffer(int32Bytes(6)))
	c.ops[1] = tOp(0, []int32{1, 3}, []int32{2}, 17, nil)
	ip, err := c.build()
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	s, s2 := ip.tensors[3], ip.tensors[4]
	if !s.constant || uintptrOf(s.data)%16 != 0 || !slices.Equal(s.Int32s(), []int32{6}) {
		t.Errorf("constant %v aligned=%v", s.Int32s(), uintptrOf(s.data)%16 == 0)
	}
	if uintptrOf(s.data) != uintptrOf(s2.data) {
		t.Error("tensors sharing a buffer got two copies")
	}
	if &ip.model.raw[0] == &s.data[0] {
		t.Error("constant points into the file")
	}
}

func TestQuantizeDequantize(t *testing.T) {
	u := newTensor("u", UInt8, []int{5}, &Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{10}})
	if err := Quantize(u, []float32{-10, 0, 1.25, -1.25, 200}); err != nil {
		t.Fatal(err)
	}
	// round half away from zero: 2.5 -> 3, -2.5 -> -3; clamped to [0, 255].
	if got := u.UInt8s(); !slices.Equal(got, []uint8{0, 10, 13, 7, 255}) {
		t.Errorf("uint8 %v", got)
	}
	f := make([]float32, 5)
	if err := Dequantize(u, f); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f, []float32{-5, 0, 1.5, -1.5, 122.5}) {
		t.Errorf("dequantized %v", f)
	}

	// Per-channel int8 along axis 1 of [2,2].
	q := newTensor("q", Int8, []int{2, 2}, &Quantization{Scale: []float32{1, 0.1}, ZeroPoint: []int64{0, -5}, Axis: 1})
	if err := Quantize(q, []float32{3, 3, -200, 0.04}); err != nil {
		t.Fatal(err)
	}
	if got := q.Int8s(); !slices.Equal(got, []int8{3, 25, -128, -5}) {
		t.Errorf("int8 per-channel %v", got)
	}
	f = make([]float32, 4)
	if err := Dequantize(q, f); err != nil {
		t.Fatal(err)
	}
	if f[0] != 3 || f[2] != -128 || f[3] != 0 || f[1] < 2.99 || f[1] > 3.01 {
		t.Errorf("dequantized per-channel %v", f)
	}

	fl := tensorF32([]int{2}, 1, 2)
	if err := Quantize(fl, []float32{7, 8}); err != nil || !slices.Equal(fl.Float32s(), []float32{7, 8}) {
		t.Errorf("float passthrough: %v %v", err, fl.Float32s())
	}
	if err := Quantize(u, []float32{1}); err == nil {
		t.Error("length mismatch accepted")
	}
	if err := Quantize(newTensor("n", UInt8, []int{1}, nil), []float32{1}); err == nil {
		t.Error("tensor without quantization accepted")
	}
	if err := Dequantize(newTensor("i", Int32, []int{1}, &Quantization{Scale: []float32{1}, ZeroPoint: []int64{0}}), []float32{0}); err == nil {
		t.Error("int32 accepted")
	}
}

// poolWorkers counts the goroutines of the process: tests that make no other ones see the pool
// workers come and go.
func poolWorkers() int {
	// Not counted in runtime.Stack: a spinning worker's stack is "unavailable" there.
	return runtime.NumGoroutine()
}

// settledGoroutines is poolWorkers once the count has held for a few milliseconds (at most a
// second): goroutines of earlier tests still on their way out would otherwise be counted in a
// baseline and missing from the next count (a fresh-clone run saw 5 goroutines where 6 were due).
func settledGoroutines() int {
	n, same := poolWorkers(), 0
	for deadline := time.Now().Add(time.Second); same < 3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		if m := poolWorkers(); m == n {
			same++
		} else {
			n, same = m, 0
		}
	}
	return n
}

// Buffer tables sharing one data vector get one copy, not one per buffer index.
func TestSharedBufferDataCopiedOnce(t *testing.T) {
	c := newChain()
	c.tensors = append(c.tensors, tTensor("s1", Int32, []int32{1}, 1), tTensor("s2", Int32, []int32{1}, 2))
	root := tModel(c.opcodes, []fbt{tSubgraph(c.tensors, c.in, c.out, c.ops)}, nil)
	root[4] = fbRepeat{n: 3, t: tBuffer(int32Bytes(6))}
	m, err := Load(encodeFB(root, "TFL3"))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	s1, s2 := ip.tensors[3], ip.tensors[4]
	if !s1.constant || !s2.constant || uintptrOf(s1.data) != uintptrOf(s2.data) || s2.Int32s()[0] != 6 {
		t.Errorf("shared buffer data: constant %v %v, same copy %v", s1.constant, s2.constant, uintptrOf(s1.data) == uintptrOf(s2.data))
	}
}

// A resize that a kernel cannot take fails with ErrInvalidShape and leaves the old shapes.
func TestResizeInputKernelRejects(t *testing.T) {
	c := newChain()
	c.tensors[0] = fbt{[]int32{2, 3}, int8(Float32), uint32(0), "in", nil, nil, nil, []int32{-1, 3}}
	ip, err := c.build()
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	err = ip.ResizeInput(0, []int{4, 3})
	checkErr(t, err, ErrInvalidShape, "operator 0 (RESHAPE): cannot reshape [4 3] (12 elements) to [3 2]")
	if !slices.Equal(ip.Input(0).Shape(), []int{2, 3}) || !slices.Equal(ip.Output(0).Shape(), []int{6}) {
		t.Errorf("shapes after failed resize: %v %v", ip.Input(0).Shape(), ip.Output(0).Shape())
	}
	copy(ip.Input(0).Float32s(), []float32{1, 2, 3, 4, 5, 6})
	if err := ip.Invoke(); err != nil || ip.Output(0).Float32s()[5] != 6 {
		t.Errorf("invoke after failed resize: %v %v", err, ip.Output(0).Float32s())
	}
}
