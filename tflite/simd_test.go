package tflite

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// The SIMD kernels against the portable ones: the same op on the same operands, once with this
// CPU's kernels and once with the portable Go kernels, must give the same bytes on 8-bit types
// and agree within rounding on float32. The shapes cover partial tiles (rows and columns past a
// multiple of the micro-kernel's), depths that are not a multiple of the kernel's unit, padding,
// strides, dilations, batches and two threads.

// withPortableKernels runs f with the SIMD kernels switched off.
func withPortableKernels(f func()) {
	q, fk, dw, lerp, arg, arith, quant := simdQ, simdF, simdDW, lerpKernel, argKernel, arithQKernel, quantFKernel
	simdQ, simdF, simdDW, lerpKernel, argKernel, arithQKernel, quantFKernel = nil, nil, nil, false, false, false, false
	defer func() {
		simdQ, simdF, simdDW, lerpKernel, argKernel, arithQKernel, quantFKernel = q, fk, dw, lerp, arg, arith, quant
	}()
	f()
}

// requireSIMD skips a test that has nothing to compare, and makes the SIMD kernels take every
// shape for its duration.
func requireSIMD(t *testing.T) {
	t.Helper()
	if simdQ == nil && simdF == nil && simdDW == nil {
		t.Skip("no SIMD kernels in this build or on this CPU: the portable kernels are the only ones")
	}
	old := simdMinMACs
	simdMinMACs = 0
	t.Cleanup(func() { simdMinMACs = old })
}

// cloneOperands copies tensors (data included) so that two runs do not share outputs.
func cloneOperands(ts []*Tensor) []*Tensor {
	out := make([]*Tensor, len(ts))
	for i, t := range ts {
		c := *t
		c.data = append(alignedBytes(len(t.data))[:0], t.data...)
		c.shape = append([]int(nil), t.shape...)
		out[i] = &c
	}
	return out
}

// compareOutputs checks SIMD output got against portable output want.
func compareOutputs(t *testing.T, name string, got, want *Tensor) {
	t.Helper()
	if fmt.Sprint(got.shape) != fmt.Sprint(want.shape) {
		t.Fatalf("%s: shape %v, portable %v", name, got.shape, want.shape)
	}
	if got.typ != Float32 {
		for i := range want.data {
			if got.data[i] != want.data[i] {
				t.Fatalf("%s: byte %d = %d, portable kernels %d", name, i, got.data[i], want.data[i])
			}
		}
		return
	}
	g, w := got.Float32s(), want.Float32s()
	for i := range w {
		if d := math.Abs(float64(g[i] - w[i])); d > 1e-5*math.Max(1, math.Abs(float64(w[i]))) || math.IsNaN(float64(g[i])) != math.IsNaN(float64(w[i])) {
			t.Fatalf("%s: output[%d] = %v, portable kernels %v", name, i, g[i], w[i])
		}
	}
}

// runBoth runs the op with every SIMD GEMM kernel this CPU has and with the portable kernels,
// and compares.
func runBoth(t *testing.T, name, op string, f kernelFactory, opts mapOptions, threads int, inputs []*Tensor, outTemplate *Tensor) {
	t.Helper()
	run := func() *Tensor {
		out := *outTemplate
		out.shape = nil
		if err := runOpPool(t, op, f, opts, poolFor(t, threads), cloneOperands(inputs), []*Tensor{&out}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return &out
	}
	var want *Tensor
	withPortableKernels(func() { want = run() })
	qs, fs := kernelVariants()
	q0, f0 := simdQ, simdF
	defer func() { simdQ, simdF = q0, f0 }()
	for i := 0; i < max(len(qs), len(fs), 1); i++ {
		if len(qs) > 0 {
			simdQ = qs[min(i, len(qs)-1)]
		}
		if len(fs) > 0 {
			simdF = fs[min(i, len(fs)-1)]
		}
		compareOutputs(t, fmt.Sprintf("%s [%s, %s]", name, kernelName(simdQ), kernelName(simdF)), run(), want)
	}
}

func kernelName(k any) string {
	switch k := k.(type) {
	case *qKernel:
		if k != nil {
			return k.name
		}
	case *fKernel:
		if k != nil {
			return k.name
		}
	case *dwKernel:
		if k != nil {
			return k.name
		}
	}
	return "portable"
}

func randConvCase(r *rand.Rand, i int) convCase {
	return convCase{
		name: fmt.Sprintf("r%d", i), batch: 1 + r.IntN(2), inH: 1 + r.IntN(12), inW: 1 + r.IntN(12), inC: 1 + r.IntN(40),
		outC: 1 + r.IntN(40), fH: 1 + r.IntN(3), fW: 1 + r.IntN(3), strideH: 1 + r.IntN(2), strideW: 1 + r.IntN(2),
		dilH: 1 + r.IntN(2), dilW: 1 + r.IntN(2), padding: int8(r.IntN(2)), act: []int8{actNone, actRelu, actRelu6, actReluN1To1}[r.IntN(4)],
		noBias: r.IntN(4) == 0,
	}
}

// quantOperands returns random 8-bit operands for a convolution-like op, its filter constant.
func quantOperands(r *rand.Rand, typ DataType, inShape, fShape []int, axis, outC int, noBias bool) ([]*Tensor, *Tensor) {
	s := newQuantConvSetup(r, typ, typ == Int8 && r.IntN(2) == 0, inShape, fShape, axis)
	inputs := []*Tensor{s.in, s.filter, s.bias}
	if noBias {
		inputs = inputs[:2]
	}
	return inputs, qtensor(typ, nil, []float32{s.outScale}, []int64{int64(s.outZp)}, 0)
}

func floatOperands(r *rand.Rand, inShape, fShape []int, outC int, noBias bool) ([]*Tensor, *Tensor) {
	in, filter, bias := newTensor("in", Float32, inShape, nil), newTensor("f", Float32, fShape, nil), newTensor("b", Float32, []int{outC}, nil)
	randFloats(r, in)
	randFloats(r, filter)
	randFloats(r, bias)
	filter.constant = r.IntN(2) == 0
	inputs := []*Tensor{in, filter, bias}
	if noBias {
		inputs = inputs[:2]
	}
	return inputs, newTensor("out", Float32, nil, nil)
}

func TestSIMDConv2DMatchesPortable(t *testing.T) {
	requireSIMD(t)
	r := rand.New(rand.NewPCG(51, 52))
	for i := 0; i < 300; i++ {
		c := randConvCase(r, i)
		if i%3 == 0 { // 1x1 stride 1 without padding: the direct path
			c.fH, c.fW, c.strideH, c.strideW, c.padding = 1, 1, 1, 1, paddingValid
		}
		if c.padding == paddingValid && (c.inH < (c.fH-1)*c.dilH+1 || c.inW < (c.fW-1)*c.dilW+1) {
			continue
		}
		inShape, fShape := []int{c.batch, c.inH, c.inW, c.inC}, []int{c.outC, c.fH, c.fW, c.inC}
		for _, typ := range []DataType{Float32, UInt8, Int8} {
			var inputs []*Tensor
			var out *Tensor
			if typ == Float32 {
				inputs, out = floatOperands(r, inShape, fShape, c.outC, c.noBias)
			} else {
				inputs, out = quantOperands(r, typ, inShape, fShape, 0, c.outC, c.noBias)
			}
			runBoth(t, fmt.Sprintf("%v %v", c, typ), "CONV_2D", newConv2D, convOpts(c), 1+i%2, inputs, out)
		}
	}
}

func TestSIMDFullyConnectedMatchesPortable(t *testing.T) {
	requireSIMD(t)
	r := rand.New(rand.NewPCG(53, 54))
	for i := 0; i < 200; i++ {
		batch, units, depth := 1+r.IntN(40), 1+r.IntN(70), 1+r.IntN(90)
		if i%5 == 0 {
			batch = 1
		}
		c := fcCase{inShape: []int{batch, depth}, units: units, depth: depth, act: []int8{actNone, actRelu, actRelu6}[r.IntN(3)], noBias: r.IntN(4) == 0}
		for _, typ := range []DataType{Float32, UInt8, Int8} {
			var inputs []*Tensor
			var out *Tensor
			if typ == Float32 {
				inputs, out = floatOperands(r, c.inShape, []int{units, depth}, units, c.noBias)
			} else {
				inputs, out = quantOperands(r, typ, c.inShape, []int{units, depth}, 0, units, c.noBias)
			}
			runBoth(t, fmt.Sprintf("%v %v", c, typ), "FULLY_CONNECTED", newFullyConnected, fcOpts(c), 1+i%2, inputs, out)
		}
	}
}

// TestSIMDGemmExtremes drives the 8-bit SIMD kernel with the largest products at the deepest
// allowed dot product, where sums reach the int32 limit, and checks the accumulators through an
// identity output stage against int64 sums.
func TestSIMDGemmExtremes(t *testing.T) {
	qs, _ := kernelVariants()
	if len(qs) == 0 {
		t.Skip("no 8-bit SIMD kernel in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(55, 56))
	for _, kern := range qs {
		extremes(t, r, kern)
	}
}

func extremes(t *testing.T, r *rand.Rand, kern *qKernel) {
	for _, k := range []int{1, 9, 1000, maxQuantDepth} {
		for pattern := 0; pattern < 5; pattern++ {
			rows, n := kern.mr+1, kern.nr+3
			a := make([]uint8, rows*k)
			b := make([]uint8, n*k)
			zp := int32(255)
			for i := range a {
				switch pattern {
				case 2:
					a[i] = uint8(r.IntN(256))
				case 3, 4:
					a[i] = 0 // -128 to a pairs kernel
				default:
					a[i] = 255
				}
			}
			for i := range b {
				switch pattern {
				case 1:
					b[i] = uint8(255 * (i % 2))
				case 2:
					b[i] = uint8(r.IntN(256))
				case 3:
					// A pairs kernel's largest int16 sums: -128·-128 + -128·-127 in every
					// lane (b 0 at depths i%16 < 8, 1 at the others).
					b[i] = uint8(min(1, i%k%16/8))
				case 4:
					// The same with 0 at both depths of a lane in one column: a pairs
					// kernel would overflow, so packQ8 takes its fallback.
					b[i] = uint8(min(1, i%k%16/8))
					if i/k == 1 && i%k%16 >= 8 {
						b[i] = 0
					}
				}
			}
			if pattern == 2 {
				zp = int32(r.IntN(256))
			}
			var p packedQ8
			packQ8(&p, kern, b, n, k, []int32{zp})
			if kern.pairs {
				wantKern := kern
				if pattern == 4 && k > 8 || pattern < 2 && k > 8 {
					wantKern = kern.fallback
				}
				if pattern != 2 && p.kern != wantKern {
					t.Fatalf("%s k=%d pattern %d: packed for %s, want %s", kern.name, k, pattern, p.kern.name, wantKern.name)
				}
			}
			tile := newQTile(p.kern, alignedBytes(qTileBytes(p.kern, rows, p.kp)), rows, p.kp)
			for i := 0; i < rows; i++ {
				setRow(&tile, i, a[i*k:(i+1)*k])
			}
			// Output stage: the column offsets subtract the wanted sums of one row, whose
			// outputs must then be the zero point.
			want := make([]int64, rows*n)
			for i := 0; i < rows; i++ {
				for j := 0; j < n; j++ {
					for x := 0; x < k; x++ {
						want[i*n+j] += int64(a[i*k+x]) * int64(int32(b[j*k+x])-zp)
					}
				}
			}
			for i := 0; i < rows; i++ {
				q := requant{offset: make([]int32, n), scale: make([]float32, n), outZp: 128, lo: 0, hi: 255, flo: -128, fhi: 127}
				for j := range q.offset {
					q.offset[j] = int32(-want[i*n+j]) + p.colTerm(j)
					q.scale[j] = 1
				}
				q.pad(p.kern.nr)
				c := make([]uint8, rows*n)
				qgemmSIMD(&tile, rows, &p, 0, p.panels(), &q, c, n, false)
				for j := 0; j < n; j++ {
					if c[i*n+j] != 128 {
						t.Fatalf("%s k=%d pattern %d: row %d column %d: accumulator - want = %d", kern.name, k, pattern, i, j, int(c[i*n+j])-128)
					}
				}
			}
		}
	}
}

func TestSIMDDepthwiseMatchesPortable(t *testing.T) {
	requireSIMD(t)
	r := rand.New(rand.NewPCG(57, 58))
	for i := 0; i < 300; i++ {
		c := randConvCase(r, i)
		c.fH, c.fW = 1+r.IntN(5), 1+r.IntN(5)
		if i%3 == 0 {
			c.fH, c.fW = 3, 3
		}
		c.outC = 1 // depth multiplier
		if i%4 == 0 {
			c.inC = 8 * (1 + r.IntN(4)) // whole blocks: the shared offsets inside the image
		}
		if i%10 == 0 {
			c.outC = 2
		}
		if c.padding == paddingValid && (c.inH < (c.fH-1)*c.dilH+1 || c.inW < (c.fW-1)*c.dilW+1) {
			continue
		}
		outC := c.inC * c.outC
		inShape, fShape := []int{c.batch, c.inH, c.inW, c.inC}, []int{1, c.fH, c.fW, outC}
		for _, typ := range []DataType{Float32, UInt8, Int8} {
			var inputs []*Tensor
			var out *Tensor
			if typ == Float32 {
				inputs, out = floatOperands(r, inShape, fShape, outC, c.noBias)
			} else {
				inputs, out = quantOperands(r, typ, inShape, fShape, 3, outC, c.noBias)
			}
			runBoth(t, fmt.Sprintf("%v %v", c, typ), "DEPTHWISE_CONV_2D", newDepthwiseConv2D, depthwiseOpts(c), 1+i%2, inputs, out)
		}
	}
}

// TestSIMDKernelNames logs which kernels this CPU runs, so that a test log (under qemu with
// several CPU models, say) shows which paths were checked.
func TestSIMDKernelNames(t *testing.T) {
	qs, fs := kernelVariants()
	var names []string
	for _, k := range qs {
		names = append(names, k.name)
	}
	for _, k := range fs {
		names = append(names, k.name)
	}
	t.Logf("8-bit GEMM %s, float32 GEMM %s, depthwise %s; tests check %v", kernelName(simdQ), kernelName(simdF), kernelName(simdDW), names)
}

// TestSIMDElementwiseMatchesPortable: float ADD, SUB and MUL with fused activations, the
// clamping activations and LOGISTIC, on lengths around the vector width, with infinities and
// NaNs (TestSIMDLogisticRange checks LOGISTIC over the whole float range).
func TestSIMDElementwiseMatchesPortable(t *testing.T) {
	requireSIMD(t)
	old := simdEW
	defer func() { simdEW = old }()
	r := rand.New(rand.NewPCG(59, 60))
	special := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0, float32(math.Copysign(0, -1)), 6, -1, 1e30}
	randTensor := func(n int) *Tensor {
		x := newTensor("x", Float32, []int{1, n}, nil)
		for i := range x.Float32s() {
			x.Float32s()[i] = float32(r.NormFloat64() * 4)
			if r.IntN(10) == 0 {
				x.Float32s()[i] = special[r.IntN(len(special))]
			}
		}
		return x
	}
	run := func(name string, f kernelFactory, opts mapOptions, inputs []*Tensor) {
		outs := make([]*Tensor, 2)
		for i, ew := range []*ewKernel{old, nil} {
			simdEW = ew
			outs[i] = newTensor("out", Float32, nil, nil)
			if err := runOpPool(t, name, f, opts, nil, cloneOperands(inputs), []*Tensor{outs[i]}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		compareOutputs(t, name, outs[0], outs[1])
	}
	for _, n := range []int{1, 7, 8, 9, 16, 31, 64, 100} {
		for _, op := range []struct {
			name string
			f    kernelFactory
		}{{"ADD", newAdd}, {"SUB", newSub}, {"MUL", newMul}} {
			for _, act := range []int8{actNone, actRelu, actRelu6, actReluN1To1} {
				run(fmt.Sprintf("%s n=%d act=%d", op.name, n, act), op.f, mapOptions{slotArithActivation: act}, []*Tensor{randTensor(n), randTensor(n)})
			}
		}
		for _, a := range []struct {
			name string
			f    kernelFactory
		}{{"RELU", newRelu}, {"RELU6", newRelu6}, {"RELU_N1_TO_1", newReluN1To1}, {"LOGISTIC", newLogistic}} {
			run(fmt.Sprintf("%s n=%d", a.name, n), a.f, nil, []*Tensor{randTensor(n)})
		}
	}
}

// TestSIMDLogisticRange: the SIMD LOGISTIC against the portable one (float64, rounded once) on
// values spread over every exponent, both signs, and the edges where e^-|x| leaves the normal
// range: within 2e-7 of it, relative to max(1, |want|) as compareOutputs measures (a few units in
// the last place near 1, absolute below).
func TestSIMDLogisticRange(t *testing.T) {
	if simdEW == nil {
		t.Skip("no SIMD kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(63, 64))
	var xs []float32
	for e := -40; e <= 40; e++ {
		for j := 0; j < 64; j++ {
			v := float32(math.Ldexp(1+r.Float64(), e/2)) * float32(r.IntN(2)*2-1)
			xs = append(xs, v)
		}
	}
	for _, v := range []float32{0, -0, 0.5, -0.5, 1e-30, -1e-30, 86.9, -86.9, 87.5, -87.5, 88.8, -88.8, 103, -103, 1e30, -1e30} {
		xs = append(xs, v)
	}
	xs = append(xs, make([]float32, (8-len(xs)%8)%8)...)
	got, want := make([]float32, len(xs)), make([]float32, len(xs))
	if n := ewF32(ewLogistic, got, xs, nil, 0, 0); n != len(xs) {
		t.Fatalf("the kernel computed %d of %d", n, len(xs))
	}
	logisticF32(want, xs)
	worst := 0.0
	for i := range xs {
		d := math.Abs(float64(got[i])-float64(want[i])) / math.Max(1e-30, math.Abs(float64(want[i])))
		if math.Abs(float64(want[i])) < 1 {
			d = math.Abs(float64(got[i]) - float64(want[i]))
		}
		worst = max(worst, d)
		if d > 2e-7 {
			t.Fatalf("logistic(%v) = %v, portable %v", xs[i], got[i], want[i])
		}
	}
	t.Logf("largest difference %.3g over %d values", worst, len(xs))
}

// TestSIMDExpRange: SOFTMAX's exponentials (ewExp) against math.Exp over the exponents it takes,
// 0 down to past float32's underflow, within a few units in the last place; 0 below -87
// (and for -Inf), NaN for NaN; and with a maximum and a beta, e^((a-lo)·hi).
func TestSIMDExpRange(t *testing.T) {
	if simdEW == nil {
		t.Skip("no SIMD kernels in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(65, 66))
	var zs []float32
	for e := -30; e <= 14; e++ {
		for range 64 {
			zs = append(zs, -float32(math.Ldexp(1+r.Float64(), e/2)))
		}
	}
	for range 256 {
		zs = append(zs, -float32(r.Float64()*110))
	}
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	zs = append(zs, 0, float32(math.Copysign(0, -1)), -1e-30, -86.99, -87, -87.01, -87.5, -100, -1e30, -inf, nan)
	zs = append(zs, make([]float32, (8-len(zs)%8)%8)...)
	for _, c := range []struct{ lo, hi float32 }{{0, 1}, {3, 0.5}, {-2, 2}} {
		a := make([]float32, len(zs))
		for i, z := range zs {
			a[i] = z/c.hi + c.lo
		}
		got := make([]float32, len(a))
		if n := ewF32(ewExp, got, a, nil, c.lo, c.hi); n != len(a) {
			t.Fatalf("the kernel computed %d of %d", n, len(a))
		}
		worst := 0.0
		for i, v := range a {
			z := (v - c.lo) * c.hi
			want := math.Exp(float64(z))
			switch {
			case math.IsNaN(float64(z)):
				if !math.IsNaN(float64(got[i])) {
					t.Fatalf("e^NaN = %v", got[i])
				}
			case z < -87:
				if got[i] != 0 {
					t.Fatalf("e^%v = %v, want 0 below -87", z, got[i])
				}
			default:
				d := math.Abs(float64(got[i])-want) / want
				worst = max(worst, d)
				if d > 3e-7 {
					t.Fatalf("lo %v, hi %v: e^%v = %v, math.Exp %v", c.lo, c.hi, z, got[i], want)
				}
			}
		}
		t.Logf("lo %v, hi %v: largest relative difference %.3g over %d values", c.lo, c.hi, worst, len(a))
	}
}

// TestSIMDPoolingMatchesPortable: float MAX_POOL_2D and AVERAGE_POOL_2D with the SIMD kernel
// and with the portable loop, on random shapes (channels around the vector width, windows
// clipped by padding, large windows), with infinities and NaNs: the same bits, but for a zero's
// sign.
func TestSIMDPoolingMatchesPortable(t *testing.T) {
	if simdEW == nil {
		t.Skip("no SIMD kernels in this build or on this CPU")
	}
	old := simdEW
	defer func() { simdEW = old }()
	r := rand.New(rand.NewPCG(61, 62))
	special := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 0, float32(math.Copysign(0, -1)), -math.MaxFloat32, 1e30}
	for i := 0; i < 300; i++ {
		c := poolCase{name: fmt.Sprintf("r%d", i), batch: 1 + r.IntN(2), inH: 1 + r.IntN(9), inW: 1 + r.IntN(9),
			c: []int{8, 9, 15, 16, 24, 28, 42, 5 + r.IntN(60)}[r.IntN(8)], filterH: 1 + r.IntN(4), filterW: 1 + r.IntN(4),
			strideH: 1 + r.IntN(3), strideW: 1 + r.IntN(3), padding: int8(r.IntN(2)), act: []int8{actNone, actRelu, actRelu6, actReluN1To1}[r.IntN(4)]}
		if i%10 == 0 { // a global pool of up to poolMaxTaps taps, or one past it
			c.inH, c.inW, c.filterH, c.filterW = 8, 9, 8, 7+r.IntN(3)
		}
		if c.padding == paddingValid {
			c.filterH, c.filterW = min(c.filterH, c.inH), min(c.filterW, c.inW)
		}
		in := newTensor("in", Float32, []int{c.batch, c.inH, c.inW, c.c}, nil)
		for j := range in.Float32s() {
			in.Float32s()[j] = float32(r.NormFloat64() * 4)
			if r.IntN(20) == 0 {
				in.Float32s()[j] = special[r.IntN(len(special))]
			}
		}
		for _, op := range []struct {
			name string
			f    kernelFactory
		}{{"MAX_POOL_2D", newMaxPool2D}, {"AVERAGE_POOL_2D", newAveragePool2D}} {
			name := fmt.Sprintf("%s %v", op.name, c)
			outs := make([]*Tensor, 2)
			for k, ew := range []*ewKernel{old, nil} {
				simdEW = ew
				outs[k] = newTensor("out", Float32, nil, nil)
				if err := runOpPool(t, op.name, op.f, poolOpts(c), poolFor(t, 1+i%2), []*Tensor{in}, []*Tensor{outs[k]}); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			got, want := outs[0].Float32s(), outs[1].Float32s()
			for j := range want {
				g, w := got[j], want[j]
				if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) && !(g == 0 && w == 0) {
					t.Fatalf("%s: output[%d] = %v, portable %v", name, j, g, w)
				}
			}
		}
	}
}

// TestSIMDModelsMatchPortable runs whole models with the SIMD kernels and with the portable
// ones on the same input: quantized models must give the same bytes, float models agree within
// rounding (relative to the largest output).
func TestSIMDModelsMatchPortable(t *testing.T) {
	requireSIMD(t)
	models := append(realModels(t), "testdata/blazeface/face_detection_short_range.tflite")
	for i, path := range models {
		if testing.Short() && strings.Contains(path, "deeplab") {
			continue // the largest: 513x513
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			m := mustLoad(t, path)
			run := func() []*Tensor {
				ip, err := NewInterpreter(m, WithThreads(1+i%2))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ip.Close() })
				for j := 0; j < ip.InputCount(); j++ { // the benchmark's ramp
					in := ip.Input(j)
					if in.typ == Float32 {
						for k := range in.Float32s() {
							in.Float32s()[k] = float32((k*7+3)%256) / 255
						}
						continue
					}
					for k := range in.data {
						in.data[k] = byte(k*7 + 3)
					}
				}
				if err := ip.Invoke(); err != nil {
					t.Fatal(err)
				}
				outs := make([]*Tensor, ip.OutputCount())
				for j := range outs {
					outs[j] = ip.Output(j)
				}
				return outs
			}
			got := run()
			var want []*Tensor
			withPortableKernels(func() { want = run() })
			quantized := m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]].typ != Float32
			for j := range want {
				g, w := got[j], want[j]
				if quantized || g.typ != Float32 {
					if !bytes.Equal(g.data, w.data) {
						t.Errorf("output %d (%s): the SIMD kernels' bytes differ from the portable kernels'", j, w.name)
					}
					continue
				}
				var scale float64
				for _, v := range w.Float32s() {
					scale = max(scale, math.Abs(float64(v)))
				}
				var worst float64
				for k, v := range w.Float32s() {
					d := math.Abs(float64(g.Float32s()[k] - v))
					if d > 1e-4*max(scale, 1) {
						t.Fatalf("output %d (%s)[%d] = %v, portable kernels %v", j, w.name, k, g.Float32s()[k], v)
					}
					worst = max(worst, d)
				}
				t.Logf("output %d (%s): largest difference %.2g, largest value %.3g", j, w.name, worst, scale)
			}
		})
	}
}

// TestWiden8 checks the widening of 8-bit rows into tiles (widen8, copySum8: SIMD kernels on
// blocks of 16 where the build has them) against the plain loop: lengths around the block
// size, starts at every offset of a block, both signs.
func TestWiden8(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	buf := make([]byte, 300)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	buf[3], buf[4] = 0, 255 // the extremes of both types
	for n := 0; n <= 200; n += 1 + n/8 {
		for off := range 17 {
			if off+n > len(buf) {
				continue
			}
			u := buf[off : off+n]
			s := unsafe.Slice((*int8)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf))[off : off+n]
			var wantU, wantS int32
			for i := range n {
				wantU += int32(u[i])
				wantS += int32(s[i])
			}
			d16 := make([]int16, n+1)
			d16[n] = 12345
			if got := widen8(d16, u); got != wantU {
				t.Errorf("widen8 uint8 n=%d off=%d: sum %d, want %d", n, off, got, wantU)
			}
			for i := range n {
				if d16[i] != int16(u[i]) {
					t.Fatalf("widen8 uint8 n=%d off=%d: [%d] = %d, want %d", n, off, i, d16[i], u[i])
				}
			}
			if got := widen8(d16, s); got != wantS {
				t.Errorf("widen8 int8 n=%d off=%d: sum %d, want %d", n, off, got, wantS)
			}
			for i := range n {
				if d16[i] != int16(s[i]) {
					t.Fatalf("widen8 int8 n=%d off=%d: [%d] = %d, want %d", n, off, i, d16[i], s[i])
				}
			}
			d8 := make([]byte, n+1)
			d8[n] = 77
			if got := copySum8(d8, u); got != wantU || !bytes.Equal(d8[:n], u) {
				t.Errorf("copySum8 uint8 n=%d off=%d: sum %d, want %d", n, off, got, wantU)
			}
			if got := copySum8(d8, s); got != wantS || !bytes.Equal(d8[:n], u) {
				t.Errorf("copySum8 int8 n=%d off=%d: sum %d, want %d", n, off, got, wantS)
			}
			if d16[n] != 12345 || d8[n] != 77 {
				t.Fatalf("n=%d off=%d: wrote past the end", n, off)
			}
		}
	}
}

// TestPackDirect checks the direct convolution's tiles packed in one call per tile: the byte
// tiles' rows read in place, the int16 tiles' widened in one run, the sums of both (on arm64
// rowSums*NEON, an odd 8 values and then 16 a step; on amd64 eight a step in a word), and the
// refusals: a depth not a multiple of 8, a byte tile whose last row's kp values are not all in
// the input.
func TestPackDirect(t *testing.T) {
	requireSIMD(t)
	qs, _ := kernelVariants()
	if len(qs) == 0 {
		t.Fatal("no 8-bit SIMD kernel beside the float one")
	}
	for _, kern := range qs {
		packDirectCases(t, kern)
	}
}

func packDirectCases(t *testing.T, kern *qKernel) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, k := range []int{8, 16, 24, 40, 64, 264, 1032} {
		for rows := 1; rows <= 9; rows += 4 {
			kp := roundUp(k, kern.kAlign)
			u := make([]uint8, (rows-1)*k+kp)
			for i := range u {
				u[i] = uint8(r.Uint32())
			}
			u[0], u[len(u)-1] = 255, 0 // the extremes of both types
			if k == 1032 {
				fill(u, 255) // more than 64 words of the largest byte: the SWAR lanes' folding
			}
			s := unsafe.Slice((*int8)(unsafe.Pointer(&u[0])), len(u))
			tile := newQTile(kern, make([]byte, qTileBytes(kern, rows, kp)), rows, kp)
			for _, signed := range []bool{false, true} {
				var ok bool
				if signed {
					ok = packDirect(&tile, kern, s, k, rows)
				} else {
					ok = packDirect(&tile, kern, u, k, rows)
				}
				if !ok {
					t.Fatalf("k=%d rows=%d: not packed", k, rows)
				}
				for i := range rows {
					var want int32
					for j, v := range u[i*k : (i+1)*k] {
						x := int32(v)
						if signed {
							x = int32(int8(v))
						}
						want += x
						if !kern.aBytes && int32(tile.a16[i*kp+j]) != x {
							t.Fatalf("k=%d rows=%d signed=%v: row %d [%d] = %d, want %d", k, rows, signed, i, j, tile.a16[i*kp+j], x)
						}
					}
					if tile.sums[i] != want {
						t.Errorf("k=%d rows=%d signed=%v: row %d sums to %d, want %d", k, rows, signed, i, tile.sums[i], want)
					}
					if kern.aBytes && tile.rowPtr(i) != unsafe.Pointer(&u[i*k]) {
						t.Errorf("k=%d rows=%d: row %d is not the input's", k, rows, i)
					}
				}
			}
			if kern.aBytes && kp > k && packDirect(&tile, kern, u[:len(u)-1], k, rows) {
				t.Errorf("k=%d rows=%d: read in place with the last row's padding past the input", k, rows)
			}
			if packDirect(&tile, kern, u, k+1, 1) || tile.in != nil {
				t.Errorf("k=%d: packed a depth not a multiple of 8", k+1)
			}
		}
	}
}

// TestLerpV checks the 8-bit resize's vertical lerp kernel against bilinear8's loop: rows of the
// horizontal lerp's Q11 values of both types' extremes and between, every weight's extremes.
func TestLerpV(t *testing.T) {
	if !lerpKernel {
		t.Skip("no lerp kernel on this CPU: bilinear8 runs its loop")
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, signed := range []bool{false, true} {
		lo, hi := int32(0), int32(255)
		if signed {
			lo, hi = -128, 127
		}
		q11 := func() int32 { // a value of the type, between two of them as lerpRow makes it
			a, b := lo+r.Int32N(hi-lo+1), lo+r.Int32N(hi-lo+1)
			switch r.IntN(4) {
			case 0:
				a, b = lo, lo
			case 1:
				a, b = hi, hi
			}
			return a<<11 + (b-a)*r.Int32N(2049)
		}
		for n := 8; n <= 72; n += 8 {
			for _, av := range []int32{0, 1, 1024, 2047, 2048, r.Int32N(2049)} {
				top, bot := make([]int32, n), make([]int32, n)
				for i := range top {
					top[i], bot[i] = q11(), q11()
				}
				got := make([]byte, n+1)
				got[n] = 0x5a
				runLerpV(unsafe.Pointer(&got[0]), &top[0], &bot[0], n, av, signed)
				for i := range n {
					want := byte((top[i]<<11 + (bot[i]-top[i])*av + 1<<21) >> 22)
					if got[i] != want {
						t.Fatalf("signed=%v n=%d av=%d: [%d] = %d, want %d (top %d, bottom %d)", signed, n, av, i, got[i], want, top[i], bot[i])
					}
				}
				if got[n] != 0x5a {
					t.Fatalf("signed=%v n=%d: wrote past the end", signed, n)
				}
			}
		}
	}
}
