package tflite

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Helpers for the kernel tests of this package's elementwise and data-movement ops. The
// references below are deliberately naive: float64 math on multi-indices, then TFLite's
// quantization (round half away from zero, clamp).

// tensorQ returns an 8-bit quantized tensor holding vals (as integers of the type's range).
func tensorQ(typ DataType, shape []int, scale float32, zp int64, vals ...int32) *Tensor {
	t := newTensor("q", typ, shape, &Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}})
	for i, v := range vals {
		t.data[i] = byte(v)
	}
	return t
}

// qOut returns an empty 8-bit output tensor with the given quantization.
func qOut(typ DataType, scale float32, zp int64) *Tensor {
	return newTensor("out", typ, nil, &Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}})
}

// constI32 returns a constant int32 tensor.
func constI32(shape []int, vals ...int32) *Tensor {
	t := newTensor("c", Int32, shape, nil)
	copy(t.Int32s(), vals)
	t.constant = true
	return t
}

// qValues returns an 8-bit tensor's values as integers.
func qValues(t *Tensor) []int32 {
	out := make([]int32, t.NumElements())
	for i := range out {
		out[i] = byteValue(t.typ, int(t.data[i]))
	}
	return out
}

// refQuantize quantizes a real value the TFLite way.
func refQuantize(typ DataType, x float64, scale float32, zp int64) int32 {
	lo, hi := typeRange(typ)
	r := math.Round(x/float64(scale)) + float64(zp)
	return int32(math.Max(float64(lo), math.Min(float64(hi), r)))
}

// randQ returns count random values of an 8-bit type.
func randQ(r *rand.Rand, typ DataType, count int) []int32 {
	lo, hi := typeRange(typ)
	v := make([]int32, count)
	for i := range v {
		v[i] = lo + r.Int32N(hi-lo+1)
	}
	return v
}

func randF32(r *rand.Rand, count int, scale float32) []float32 {
	v := make([]float32, count)
	for i := range v {
		v[i] = (r.Float32()*2 - 1) * scale
	}
	return v
}

// unravel returns the multi-index of flat index i in shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

// ravelBroadcast returns the flat index in shape of the (right-aligned, broadcast) multi-index idx.
func ravelBroadcast(idx, shape []int) int {
	flat := 0
	off := len(idx) - len(shape)
	for d, n := range shape {
		v := idx[off+d]
		if n == 1 {
			v = 0
		}
		flat = flat*n + v
	}
	return flat
}

func wantErr(t *testing.T, err error, unsupported bool) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if unsupported && !errors.Is(err, errUnsupported) {
		t.Fatalf("error %v does not wrap errUnsupported", err)
	}
}

// wantDynamic checks that a prepare asked to be run again in Invoke, where the values of its
// non-constant inputs are known.
func wantDynamic(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, errDynamic) {
		t.Fatalf("error %v, want errDynamic", err)
	}
}

func checkClose(t *testing.T, got []float32, want []float64, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > 1e-4+1e-4*math.Abs(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// checkWithinOne compares quantized outputs with a reference, allowing one step.
func checkWithinOne(t *testing.T, got, want []int32, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := got[i] - want[i]; d < -1 || d > 1 {
			t.Fatalf("%s: [%d] = %d, want %d (±1)", what, i, got[i], want[i])
		}
	}
}

func TestBroadcastShape(t *testing.T) {
	cases := []struct {
		a, b, want []int
	}{
		{[]int{}, []int{}, []int{}},
		{[]int{3}, []int{}, []int{3}},
		{[]int{2, 1, 4}, []int{3, 1}, []int{2, 3, 4}},
		{[]int{1, 2, 1, 3, 1, 2}, []int{2, 1, 3, 2, 1}, []int{1, 2, 1, 3, 2, 2}},
		{[]int{5, 0}, []int{1}, []int{5, 0}},
	}
	for _, c := range cases {
		got, err := broadcastShape(c.a, c.b)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("broadcastShape(%v, %v) = %v, %v; want %v", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := broadcastShape([]int{2, 3}, []int{3, 2}); err == nil {
		t.Error("[2 3] and [3 2] broadcast")
	}
	if _, err := broadcastShape(make([]int, 7), []int{1}); !errors.Is(err, errUnsupported) {
		t.Errorf("rank 7: %v", err)
	}
}

// TestKernelsDoNotAllocate runs every kernel of this file set once prepared and checks that eval
// allocates nothing, with and without worker threads.
func TestKernelsDoNotAllocate(t *testing.T) {
	big := []int{1, 32, 32, 40} // large enough for the pool to split
	q := func(shape []int) *Tensor { return tensorQ(UInt8, shape, 0.1, 128) }
	cases := []struct {
		name    string
		f       kernelFactory
		opts    mapOptions
		inputs  []*Tensor
		outputs []*Tensor
	}{
		{"ADD", newAdd, mapOptions{0: int8(actRelu)}, []*Tensor{tensorF32(big), tensorF32([]int{40})}, []*Tensor{tensorF32(nil)}},
		{"SUB q", newSub, nil, []*Tensor{q(big), q([]int{1, 32, 1, 40})}, []*Tensor{qOut(UInt8, 0.2, 100)}},
		{"MUL int32", newMul, nil, []*Tensor{constI32([]int{3, 4}), constI32([]int{4})}, []*Tensor{constI32(nil)}},
		{"LOGISTIC", newLogistic, nil, []*Tensor{tensorF32(big)}, []*Tensor{tensorF32(nil)}},
		{"TANH q", newTanh, nil, []*Tensor{q(big)}, []*Tensor{qOut(UInt8, 1.0/128, 128)}},
		{"RELU6 q", newRelu6, nil, []*Tensor{q(big)}, []*Tensor{qOut(UInt8, 0.05, 0)}},
		{"SOFTMAX", newSoftmax, mapOptions{0: float32(1)}, []*Tensor{tensorF32([]int{4, 10})}, []*Tensor{tensorF32(nil)}},
		{"SOFTMAX q", newSoftmax, mapOptions{0: float32(1)}, []*Tensor{q([]int{4, 10})}, []*Tensor{qOut(UInt8, 1.0/256, 0)}},
		{"CONCATENATION q", newConcatenation, mapOptions{0: int32(-1)}, []*Tensor{q([]int{2, 3}), tensorQ(UInt8, []int{2, 5}, 0.3, 10)}, []*Tensor{qOut(UInt8, 0.1, 128)}},
		{"PAD", newPad, nil, []*Tensor{tensorF32([]int{1, 4, 4, 3}), constI32([]int{4, 2}, 0, 0, 1, 1, 1, 1, 0, 0)}, []*Tensor{tensorF32(nil)}},
		{"MEAN q", newMean, mapOptions{0: true}, []*Tensor{q([]int{1, 7, 7, 8}), constI32([]int{2}, 1, 2)}, []*Tensor{qOut(UInt8, 0.05, 120)}},
		{"RESIZE_BILINEAR", newResizeBilinear, nil, []*Tensor{tensorF32([]int{1, 4, 4, 3}), constI32([]int{2}, 7, 9)}, []*Tensor{tensorF32(nil)}},
		{"RESIZE_BILINEAR q", newResizeBilinear, mapOptions{3: true}, []*Tensor{q([]int{1, 4, 4, 3}), constI32([]int{2}, 7, 9)}, []*Tensor{qOut(UInt8, 0.1, 128)}},
		{"RESIZE_NEAREST_NEIGHBOR", newResizeNearestNeighbor, nil, []*Tensor{tensorF32([]int{1, 4, 4, 3}), constI32([]int{2}, 8, 8)}, []*Tensor{tensorF32(nil)}},
		{"QUANTIZE", newQuantize, nil, []*Tensor{tensorF32(big)}, []*Tensor{qOut(Int8, 0.1, 0)}},
		{"DEQUANTIZE", newDequantize, nil, []*Tensor{q(big)}, []*Tensor{tensorF32(nil)}},
		{"TRANSPOSE", newTranspose, nil, []*Tensor{tensorF32([]int{2, 3, 4}), constI32([]int{3}, 2, 0, 1)}, []*Tensor{tensorF32(nil)}},
		{"STRIDED_SLICE", newStridedSlice, nil, []*Tensor{tensorF32([]int{4, 5}), constI32([]int{2}, 3, 0), constI32([]int{2}, 0, 5), constI32([]int{2}, -1, 2)}, []*Tensor{tensorF32(nil)}},
	}
	p := newPool(2)
	defer p.close()
	for _, c := range cases {
		for _, threads := range []*pool{nil, p} {
			if c.opts == nil {
				c.opts = mapOptions{}
			}
			n := &node{op: c.name, inputs: c.inputs, outputs: c.outputs, opts: c.opts, pool: threads}
			k, err := c.f(n)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if err := k.prepare(n); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			for _, o := range c.outputs {
				o.data = alignedBytes(o.ByteSize())
			}
			n.scratch = alignedBytes(n.scratchSize)
			if allocs := testing.AllocsPerRun(5, func() {
				if err := k.eval(n); err != nil {
					t.Fatal(err)
				}
			}); allocs != 0 {
				t.Errorf("%s (pool %v): eval allocates %v times", c.name, threads != nil, allocs)
			}
		}
	}
}

// benchOp prepares a kernel once and measures eval.
func benchOp(b *testing.B, f kernelFactory, opts mapOptions, inputs, outputs []*Tensor, threads int) {
	b.Helper()
	if opts == nil {
		opts = mapOptions{}
	}
	p := newPool(threads)
	defer p.close()
	n := &node{op: "BENCH", inputs: inputs, outputs: outputs, opts: opts, pool: p}
	k, err := f(n)
	if err != nil {
		b.Fatal(err)
	}
	if err := k.prepare(n); err != nil {
		b.Fatal(err)
	}
	for _, o := range outputs {
		o.data = alignedBytes(o.ByteSize())
	}
	n.scratch = alignedBytes(n.scratchSize)
	b.ReportAllocs()
	for b.Loop() {
		if err := k.eval(n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSoftmaxQuantized1001(b *testing.B) {
	in := tensorQ(UInt8, []int{1, 1001}, 0.1, 128, randQ(rand.New(rand.NewPCG(1, 1)), UInt8, 1001)...)
	benchOp(b, newSoftmax, mapOptions{0: float32(1)}, []*Tensor{in}, []*Tensor{qOut(UInt8, 1.0/256, 0)}, 1)
}

func BenchmarkSoftmaxFloat1001(b *testing.B) {
	in := tensorF32([]int{1, 1001}, randF32(rand.New(rand.NewPCG(1, 1)), 1001, 10)...)
	benchOp(b, newSoftmax, mapOptions{0: float32(1)}, []*Tensor{in}, []*Tensor{tensorF32(nil)}, 1)
}

// BenchmarkConcatenationSSD concatenates box predictions of six SSD heads (uint8, differing
// quantization for one of them).
func BenchmarkConcatenationSSD(b *testing.B) {
	var ins []*Tensor
	for i, n := range []int{1083, 600, 150, 54, 24, 6} {
		scale := float32(0.05)
		if i == 2 {
			scale = 0.07
		}
		ins = append(ins, tensorQ(UInt8, []int{1, n, 1, 4}, scale, 128))
	}
	benchOp(b, newConcatenation, mapOptions{0: int32(1)}, ins, []*Tensor{qOut(UInt8, 0.05, 128)}, 1)
}

func BenchmarkLogisticQuantized(b *testing.B) {
	in := tensorQ(UInt8, []int{1, 1917, 91}, 0.1, 128)
	benchOp(b, newLogistic, nil, []*Tensor{in}, []*Tensor{qOut(UInt8, 1.0/256, 0)}, 1)
}

func BenchmarkLogisticFloat(b *testing.B) {
	in := tensorF32([]int{1, 1917, 91})
	benchOp(b, newLogistic, nil, []*Tensor{in}, []*Tensor{tensorF32(nil)}, 1)
}

func BenchmarkResizeBilinearFloat(b *testing.B) {
	in := tensorF32([]int{1, 480, 640, 3})
	benchOp(b, newResizeBilinear, nil, []*Tensor{in, constI32([]int{2}, 300, 300)}, []*Tensor{tensorF32(nil)}, 1)
}

func BenchmarkResizeBilinearQuantized(b *testing.B) {
	in := tensorQ(UInt8, []int{1, 480, 640, 3}, 1, 0)
	benchOp(b, newResizeBilinear, nil, []*Tensor{in, constI32([]int{2}, 300, 300)}, []*Tensor{qOut(UInt8, 1, 0)}, 1)
}

func BenchmarkTranspose(b *testing.B) {
	in := tensorF32([]int{1, 64, 64, 32})
	benchOp(b, newTranspose, nil, []*Tensor{in, constI32([]int{4}, 0, 3, 1, 2)}, []*Tensor{tensorF32(nil)}, 1)
}

func BenchmarkAddFloatBroadcast(b *testing.B) {
	benchOp(b, newAdd, nil, []*Tensor{tensorF32([]int{1, 64, 64, 32}), tensorF32([]int{32})}, []*Tensor{tensorF32(nil)}, 1)
}

func BenchmarkAddFloatBroadcast2Threads(b *testing.B) {
	benchOp(b, newAdd, nil, []*Tensor{tensorF32([]int{1, 64, 64, 32}), tensorF32([]int{32})}, []*Tensor{tensorF32(nil)}, 2)
}

func BenchmarkMeanQuantizedSpatial(b *testing.B) {
	in := tensorQ(UInt8, []int{1, 7, 7, 1024}, 0.1, 128)
	benchOp(b, newMean, mapOptions{0: true}, []*Tensor{in, constI32([]int{2}, 1, 2)}, []*Tensor{qOut(UInt8, 0.1, 128)}, 1)
}

// TestKernelsHostileParameters feeds random, mostly invalid shape-like constants and options to
// the kernels that take them: prepare must either fail with an error or produce a plan that eval
// runs without panicking, and no output may be larger than the bounds allow.
func TestKernelsHostileParameters(t *testing.T) {
	r := rand.New(rand.NewPCG(99, 100))
	val := func() int32 {
		switch r.IntN(6) {
		case 0:
			return int32(r.Uint32()) // anything
		case 1:
			return -int32(r.IntN(8))
		default:
			return int32(r.IntN(8))
		}
	}
	vals := func(n int) []int32 {
		v := make([]int32, n)
		for i := range v {
			v[i] = val()
		}
		return v
	}
	randShape := func() []int {
		s := make([]int, r.IntN(5))
		for i := range s {
			s[i] = r.IntN(4)
		}
		return s
	}
	for i := range 10000 {
		shape := randShape()
		in := tensorF32(shape, randF32(r, numElements(shape), 3)...)
		k := r.IntN(4) + len(shape)
		var name string
		var f kernelFactory
		var inputs []*Tensor
		opts := mapOptions{}
		switch i % 7 {
		case 0:
			name, f = "STRIDED_SLICE", newStridedSlice
			n := r.IntN(k + 1)
			inputs = []*Tensor{in, constI32([]int{n}, vals(n)...), constI32([]int{n}, vals(n)...), constI32([]int{n}, vals(n)...)}
			for s := range 5 {
				opts[s] = int32(r.IntN(64)) - 8
			}
			opts[5] = r.IntN(2) == 0
		case 1:
			name, f = "PAD", newPad
			inputs = []*Tensor{in, constI32([]int{r.IntN(k + 1), 2}, vals(2*k)...)}
		case 2:
			name, f = "TRANSPOSE", newTranspose
			n := r.IntN(k + 1)
			inputs = []*Tensor{in, constI32([]int{n}, vals(n)...)}
		case 3:
			name, f = "MEAN", newMean
			n := r.IntN(k + 1)
			inputs = []*Tensor{in, constI32([]int{n}, vals(n)...)}
			opts[0] = r.IntN(2) == 0
		case 4:
			name, f = "CONCATENATION", newConcatenation
			other := tensorF32(randShape())
			inputs = []*Tensor{in, other}
			opts[0] = val()
		case 5:
			name, f = "RESIZE_BILINEAR", newResizeBilinear
			inputs = []*Tensor{in, constI32([]int{2}, vals(2)...)}
			opts[2], opts[3] = r.IntN(2) == 0, r.IntN(2) == 0
		default:
			name, f = "ADD", newAdd
			inputs = []*Tensor{in, tensorF32(randShape())}
			opts[0] = int8(r.IntN(8))
		}
		out := tensorF32(nil)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s on %v with %v %v: panic %v", name, shape, inputs[1:], opts, p)
				}
			}()
			n := &node{op: name, inputs: inputs, outputs: []*Tensor{out}, opts: opts}
			kern, err := f(n)
			if err != nil {
				return
			}
			if err := kern.prepare(n); err != nil {
				return
			}
			if out.NumElements() > maxOutputElements {
				t.Fatalf("%s: output shape %v", name, out.shape)
			}
			if out.ByteSize() > 16<<20 {
				return // the interpreter's memory limit stops such models before eval
			}
			out.data = alignedBytes(out.ByteSize())
			n.scratch = alignedBytes(n.scratchSize)
			if err := kern.eval(n); err != nil {
				t.Fatalf("%s: eval: %v", name, err)
			}
		}()
	}
}
