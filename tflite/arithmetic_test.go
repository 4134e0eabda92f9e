package tflite

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var broadcastCases = []struct{ a, b []int }{
	{[]int{2, 3}, []int{2, 3}},
	{[]int{2, 3, 4}, []int{}},
	{[]int{}, []int{5}},
	{[]int{2, 3, 4}, []int{4}},
	{[]int{2, 1, 4}, []int{3, 1}},
	{[]int{1, 2, 1, 3, 1, 2}, []int{2, 1, 3, 2, 1}},
	{[]int{4, 1}, []int{1, 5}},
	{[]int{1, 3, 3, 8}, []int{1, 1, 1, 8}},
	{[]int{2, 0, 3}, []int{3}},
}

var arithOps = []struct {
	name string
	f    kernelFactory
	op   func(x, y float64) float64
}{
	{"ADD", newAdd, func(x, y float64) float64 { return x + y }},
	{"SUB", newSub, func(x, y float64) float64 { return x - y }},
	{"MUL", newMul, func(x, y float64) float64 { return x * y }},
}

// refBinary evaluates op on broadcast inputs, returning float64 results in output order.
func refBinary(a []float64, as []int, b []float64, bs []int, op func(x, y float64) float64) ([]int, []float64) {
	out, err := broadcastShape(as, bs)
	if err != nil {
		panic(err)
	}
	res := make([]float64, numElements(out))
	for i := range res {
		idx := unravel(i, out)
		res[i] = op(a[ravelBroadcast(idx, as)], b[ravelBroadcast(idx, bs)])
	}
	return out, res
}

func refActivation(act int8, x float64) float64 {
	switch act {
	case actRelu:
		return math.Max(x, 0)
	case actRelu6:
		return math.Min(math.Max(x, 0), 6)
	case actReluN1To1:
		return math.Min(math.Max(x, -1), 1)
	}
	return x
}

func TestArithFloatBroadcast(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, op := range arithOps {
		for _, c := range broadcastCases {
			for _, act := range []int8{actNone, actRelu, actRelu6, actReluN1To1} {
				av := randF32(r, numElements(c.a), 4)
				bv := randF32(r, numElements(c.b), 4)
				a, b := tensorF32(c.a, av...), tensorF32(c.b, bv...)
				out := tensorF32(nil)
				if err := runOp(t, op.name, op.f, mapOptions{0: act}, []*Tensor{a, b}, []*Tensor{out}); err != nil {
					t.Fatalf("%s %v %v: %v", op.name, c.a, c.b, err)
				}
				shape, want := refBinary(toF64(av), c.a, toF64(bv), c.b, op.op)
				for i := range want {
					want[i] = refActivation(act, float64(float32(want[i])))
				}
				if !slices.Equal(out.shape, shape) {
					t.Fatalf("%s %v %v: shape %v, want %v", op.name, c.a, c.b, out.shape, shape)
				}
				checkClose(t, out.Float32s(), want, op.name)
			}
		}
	}
}

func toF64[T float32 | int32 | int64](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func TestArithIntegers(t *testing.T) {
	a := constI32([]int{2, 3}, 1, -2, 3, 40, 5, -6)
	b := constI32([]int{3}, 10, 20, -30)
	for _, c := range []struct {
		f    kernelFactory
		act  int8
		want []int32
	}{
		{newAdd, actNone, []int32{11, 18, -27, 50, 25, -36}},
		{newSub, actNone, []int32{-9, -22, 33, 30, -15, 24}},
		{newMul, actNone, []int32{10, -40, -90, 400, 100, 180}},
		{newAdd, actRelu6, []int32{6, 6, 0, 6, 6, 0}},
		{newSub, actReluN1To1, []int32{-1, -1, 1, 1, -1, 1}},
	} {
		out := newTensor("o", Int32, nil, nil)
		if err := runOp(t, "ARITH", c.f, mapOptions{0: c.act}, []*Tensor{a, b}, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.Int32s(), c.want) {
			t.Errorf("got %v, want %v", out.Int32s(), c.want)
		}
	}
	a64 := newTensor("a", Int64, []int{2}, nil)
	copy(a64.Int64s(), []int64{1 << 40, -3})
	b64 := newTensor("b", Int64, []int{}, nil)
	b64.Int64s()[0] = 1 << 33
	out := newTensor("o", Int64, nil, nil)
	if err := runOp(t, "MUL", newMul, nil, []*Tensor{a64, b64}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	// 2^40 * 2^33 wraps to 0 in int64, as in C++.
	if got, want := out.Int64s(), []int64{0, -3 << 33}; !slices.Equal(got, want) {
		t.Errorf("int64 MUL = %v, want %v", got, want)
	}
	if err := runOp(t, "ADD", newAdd, mapOptions{0: int8(actRelu)}, []*Tensor{a64, b64}, []*Tensor{out}); err == nil {
		t.Error("int64 with fused activation accepted")
	}
}

func TestArithQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	type qp struct {
		scale float32
		zp    int64
	}
	for _, typ := range []DataType{UInt8, Int8} {
		lo, _ := typeRange(typ)
		params := [][3]qp{
			{{0.05, 10}, {0.05, 10}, {0.1, 3}},
			{{0.02, int64(lo) + 128}, {0.13, int64(lo) + 100}, {0.07, int64(lo) + 60}},
			{{0.5, int64(lo) + 7}, {0.003, int64(lo) + 200}, {0.25, int64(lo) + 128}},
		}
		for _, op := range arithOps {
			for _, p := range params {
				for _, c := range broadcastCases {
					for _, act := range []int8{actNone, actRelu, actRelu6} {
						av := randQ(r, typ, numElements(c.a))
						bv := randQ(r, typ, numElements(c.b))
						a := tensorQ(typ, c.a, p[0].scale, p[0].zp, av...)
						b := tensorQ(typ, c.b, p[1].scale, p[1].zp, bv...)
						out := qOut(typ, p[2].scale, p[2].zp)
						if err := runOp(t, op.name, op.f, mapOptions{0: act}, []*Tensor{a, b}, []*Tensor{out}); err != nil {
							t.Fatal(err)
						}
						ar := make([]float64, len(av))
						for i, v := range av {
							ar[i] = float64(p[0].scale) * float64(int64(v)-p[0].zp)
						}
						br := make([]float64, len(bv))
						for i, v := range bv {
							br[i] = float64(p[1].scale) * float64(int64(v)-p[1].zp)
						}
						_, real := refBinary(ar, c.a, br, c.b, op.op)
						want := make([]int32, len(real))
						for i, x := range real {
							want[i] = refQuantize(typ, refActivation(act, x), p[2].scale, p[2].zp)
						}
						checkWithinOne(t, qValues(out), want, op.name+" "+typ.String())
					}
				}
			}
		}
	}
}

// TestArithQuantizedExact checks hand-computed cases where the fixed-point result is exact.
func TestArithQuantizedExact(t *testing.T) {
	// uint8 ADD: reals 0.5*(q-128) + 0.25*(q-64) into scale 0.5, zp 100.
	a := tensorQ(UInt8, []int{4}, 0.5, 128, 128, 130, 0, 255)
	b := tensorQ(UInt8, []int{4}, 0.25, 64, 64, 68, 64, 255)
	out := qOut(UInt8, 0.5, 100)
	if err := runOp(t, "ADD", newAdd, nil, []*Tensor{a, b}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	// reals: 0, 1+1=2, -64, 63.5+47.75=111.25 -> q = 100, 104, 0 (clamped from -28), 255 (clamped)
	if got, want := qValues(out), []int32{100, 104, 0, 255}; !slices.Equal(got, want) {
		t.Errorf("ADD = %v, want %v", got, want)
	}
	// int8 MUL with RELU: 0.1*(q-0) * 0.2*(q-10) into scale 0.01, zp -20.
	a = tensorQ(Int8, []int{3}, 0.1, 0, 10, -10, 5)
	b = tensorQ(Int8, []int{3}, 0.2, 10, 15, 15, 10)
	out = qOut(Int8, 0.01, -20)
	if err := runOp(t, "MUL", newMul, mapOptions{0: int8(actRelu)}, []*Tensor{a, b}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	// reals: 1*1=1 -> 80; -1*1=-1 -> relu 0 -> -20; 0.5*0=0 -> -20
	if got, want := qValues(out), []int32{80, -20, -20}; !slices.Equal(got, want) {
		t.Errorf("MUL = %v, want %v", got, want)
	}
	// uint8 SUB: same scales everywhere.
	a = tensorQ(UInt8, []int{3}, 1, 0, 10, 200, 3)
	b = tensorQ(UInt8, []int{}, 1, 0, 5)
	out = qOut(UInt8, 1, 0)
	if err := runOp(t, "SUB", newSub, nil, []*Tensor{a, b}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := qValues(out), []int32{5, 195, 0}; !slices.Equal(got, want) {
		t.Errorf("SUB = %v, want %v", got, want)
	}
}

func TestArithErrors(t *testing.T) {
	f := tensorF32([]int{2, 3})
	if err := runOp(t, "ADD", newAdd, nil, []*Tensor{f, tensorF32([]int{3, 2})}, []*Tensor{tensorF32(nil)}); err == nil {
		t.Error("non-broadcastable shapes accepted")
	}
	q := tensorQ(UInt8, []int{2, 3}, 0.1, 0)
	wantErr(t, runOp(t, "ADD", newAdd, nil, []*Tensor{f, q}, []*Tensor{tensorF32(nil)}), true)
	wantErr(t, runOp(t, "MUL", newMul, nil, []*Tensor{newTensor("s", Int16, []int{1}, nil), newTensor("s", Int16, []int{1}, nil)}, []*Tensor{newTensor("o", Int16, nil, nil)}), true)
	noQuant := newTensor("q", UInt8, []int{2, 3}, nil)
	wantErr(t, runOp(t, "ADD", newAdd, nil, []*Tensor{q, noQuant}, []*Tensor{qOut(UInt8, 1, 0)}), true)
	badZP := tensorQ(UInt8, []int{1}, 0.1, 300)
	wantErr(t, runOp(t, "ADD", newAdd, nil, []*Tensor{q, badZP}, []*Tensor{qOut(UInt8, 1, 0)}), false)
	wantErr(t, runOp(t, "ADD", newAdd, mapOptions{0: int8(actSignBit)}, []*Tensor{f, f}, []*Tensor{tensorF32(nil)}), true)
	if err := runOp(t, "ADD", newAdd, nil, []*Tensor{f}, []*Tensor{tensorF32(nil)}); err == nil {
		t.Error("one input accepted")
	}
}

// TestArithPool checks that splitting rows over worker goroutines gives the same result.
func TestArithPool(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	shape := []int{1, 64, 64, 24}
	av, bv := randF32(r, numElements(shape), 3), randF32(r, 24, 3)
	p := newPool(2)
	defer p.close()
	a, b := tensorF32(shape, av...), tensorF32([]int{24}, bv...)
	out := tensorF32(nil)
	n := &node{op: "ADD", inputs: []*Tensor{a, b}, outputs: []*Tensor{out}, opts: mapOptions{}, pool: p}
	k, err := newAdd(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.prepare(n); err != nil {
		t.Fatal(err)
	}
	out.data = alignedBytes(out.ByteSize())
	if err := k.eval(n); err != nil {
		t.Fatal(err)
	}
	_, want := refBinary(toF64(av), shape, toF64(bv), []int{24}, func(x, y float64) float64 { return x + y })
	checkClose(t, out.Float32s(), want, "pooled ADD")
}

func BenchmarkAddQuantized(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	shape := []int{1, 38, 38, 128}
	x := tensorQ(UInt8, shape, 0.05, 120, randQ(r, UInt8, numElements(shape))...)
	y := tensorQ(UInt8, shape, 0.07, 130, randQ(r, UInt8, numElements(shape))...)
	out := qOut(UInt8, 0.1, 128)
	n := &node{op: "ADD", inputs: []*Tensor{x, y}, outputs: []*Tensor{out}, opts: mapOptions{}}
	k, _ := newAdd(n)
	if err := k.prepare(n); err != nil {
		b.Fatal(err)
	}
	out.data = alignedBytes(out.ByteSize())
	b.ReportAllocs()
	for b.Loop() {
		_ = k.eval(n)
	}
}

// TestRescalerMatchesFixedPoint checks the inlinable requantization against the reference
// fixed-point functions, including extreme inputs and shifts.
func TestRescalerMatchesFixedPoint(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	xs := []int32{0, 1, -1, 1 << 20, -(1 << 20), math.MaxInt32 >> 4, math.MinInt32 >> 4, 12345, -12345}
	for range 2000 {
		xs = append(xs, int32(r.Uint32())>>r.IntN(20))
	}
	for range 300 {
		m := math.Ldexp(r.Float64()+0.001, -r.IntN(30)+2)
		mult, shift := quantizeMultiplier(m)
		rq := newRescaler(mult, shift)
		for _, x := range xs {
			if shift > 0 {
				x >>= shift // keep x<<shift in range, as the kernels do
			}
			if got, want := rq.apply(x), multiplyByQuantizedMultiplier(x, mult, shift); got != want {
				t.Fatalf("m=%v x=%d: got %d, want %d", m, x, got, want)
			}
		}
	}
}

// TestArithQuantizedLUT checks that large 8-bit ops, which read their results from a table built
// at prepare and split long rows over the pool, give the bytes the per-element computation does.
// The table is for CPUs without the SIMD kernel (which takes such ops where it runs), so the test
// turns that off.
func TestArithQuantizedLUT(t *testing.T) {
	defer func(on bool) { arithQKernel = on }(arithQKernel)
	arithQKernel = false
	r := rand.New(rand.NewPCG(9, 10))
	shapes := [][2][]int{
		{{1, 40, 40, 12}, {1, 40, 40, 12}}, // one row of 19200
		{{1, 48, 48, 1}, {1, 48, 48, 17}},  // MoveNet's broadcast SUB
		{{1, 48, 48, 17}, {17}},
	}
	for _, typ := range []DataType{UInt8, Int8} {
		lo, _ := typeRange(typ)
		for _, op := range arithOps {
			for _, s := range shapes {
				for _, threads := range []int{1, 2} {
					a := tensorQ(typ, s[0], 0.03, int64(lo)+120, randQ(r, typ, numElements(s[0]))...)
					b := tensorQ(typ, s[1], 0.11, int64(lo)+90, randQ(r, typ, numElements(s[1]))...)
					out := qOut(typ, 0.07, int64(lo)+60)
					n := &node{op: op.name, inputs: []*Tensor{a, b}, outputs: []*Tensor{out}, opts: mapOptions{0: int8(actRelu6)}, pool: poolFor(t, threads)}
					kn, err := op.f(n)
					if err != nil {
						t.Fatal(err)
					}
					if err := kn.prepare(n); err != nil {
						t.Fatal(err)
					}
					k := kn.(*arithKernel)
					if k.lut == nil {
						t.Fatalf("%s %v %v: no table for %d elements", op.name, typ, s, out.NumElements())
					}
					out.data = alignedBytes(out.ByteSize())
					if err := k.eval(n); err != nil {
						t.Fatal(err)
					}
					got := slices.Clone(out.data)
					k.lut, n.pool = nil, nil
					if err := k.eval(n); err != nil {
						t.Fatal(err)
					}
					if i := firstDiff(got, out.data); i >= 0 {
						t.Errorf("%s %v %v threads=%d: element %d is %d from the table, %d computed", op.name, typ, s, threads, i, got[i], out.data[i])
					}
				}
			}
		}
	}
}

// firstDiff returns the first index where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
