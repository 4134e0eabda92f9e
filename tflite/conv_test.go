package tflite

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Shared helpers for the convolution-family tests: an op runner with a worker pool, random
// quantized tensors, and the independent reference pieces (geometry, requantization, clamps).

// prepared is a node whose kernel has been prepared and whose outputs and scratch are allocated.
type prepared struct {
	n *node
	k kernel
}

// prepareOp builds and prepares a node like runOp, with an optional worker pool.
func prepareOp(t testing.TB, name string, f kernelFactory, opts mapOptions, p *pool, inputs, outputs []*Tensor) (*prepared, error) {
	t.Helper()
	if opts == nil {
		opts = mapOptions{}
	}
	n := &node{op: name, inputs: inputs, outputs: outputs, opts: opts, pool: p}
	k, err := f(n)
	if err != nil {
		return nil, err
	}
	if err := k.prepare(n); err != nil {
		return nil, err
	}
	for _, o := range outputs {
		o.data = alignedBytes(o.ByteSize())
	}
	n.scratch = alignedBytes(n.scratchSize)
	return &prepared{n: n, k: k}, nil
}

// runOpPool prepares and evaluates an op once, with an optional worker pool.
func runOpPool(t testing.TB, name string, f kernelFactory, opts mapOptions, p *pool, inputs, outputs []*Tensor) error {
	t.Helper()
	pr, err := prepareOp(t, name, f, opts, p, inputs, outputs)
	if err != nil {
		return err
	}
	return pr.k.eval(pr.n)
}

// testPool returns a two-thread pool closed at the end of the test.
func testPool(t testing.TB) *pool {
	p := newPool(2)
	t.Cleanup(p.close)
	return p
}

// poolFor returns no pool for one thread, else a test pool.
func poolFor(t testing.TB, threads int) *pool {
	if threads > 1 {
		return testPool(t)
	}
	return nil
}

// qtensor returns a tensor of type typ with quantization (scales, zero points, axis).
func qtensor(typ DataType, shape []int, scales []float32, zps []int64, axis int) *Tensor {
	return newTensor("q", typ, shape, &Quantization{Scale: scales, ZeroPoint: zps, Axis: axis})
}

// setInts stores integer values into an 8-bit or int32 tensor.
func setInts(t *Tensor, vals []int32) {
	switch t.typ {
	case UInt8:
		for i, v := range vals {
			t.UInt8s()[i] = uint8(v)
		}
	case Int8:
		for i, v := range vals {
			t.Int8s()[i] = int8(v)
		}
	case Int32:
		copy(t.Int32s(), vals)
	default:
		panic("setInts: " + t.typ.String())
	}
}

// ints returns the values of an 8-bit or int32 tensor.
func ints(t *Tensor) []int32 {
	out := make([]int32, t.NumElements())
	switch t.typ {
	case UInt8:
		for i, v := range t.UInt8s() {
			out[i] = int32(v)
		}
	case Int8:
		for i, v := range t.Int8s() {
			out[i] = int32(v)
		}
	case Int32:
		copy(out, t.Int32s())
	default:
		panic("ints: " + t.typ.String())
	}
	return out
}

// randInts fills an 8-bit tensor with uniform random values in [lo, hi].
func randInts(r *rand.Rand, t *Tensor, lo, hi int32) []int32 {
	vals := make([]int32, t.NumElements())
	for i := range vals {
		vals[i] = lo + int32(r.IntN(int(hi-lo+1)))
	}
	setInts(t, vals)
	return vals
}

// randFloats fills a float32 tensor with uniform values in [-1, 1).
func randFloats(r *rand.Rand, t *Tensor) []float32 {
	v := t.Float32s()
	for i := range v {
		v[i] = float32(r.Float64()*2 - 1)
	}
	return v
}

// refOutSize and refPadTop compute TFLite's window geometry independently of padding.go.
func refOutSize(padding int8, in, filter, stride, dilation int) int {
	eff := (filter-1)*dilation + 1
	if padding == paddingSame {
		return int(math.Ceil(float64(in) / float64(stride)))
	}
	return int(math.Ceil(float64(in-eff+1) / float64(stride)))
}

func refPadTop(in, filter, stride, dilation, out int) int {
	eff := (filter-1)*dilation + 1
	return max(0, (out-1)*stride+eff-in) / 2
}

// refRequant is the official runtime's (XNNPACK's) output stage: acc times the float32 scale,
// in float32, rounded half to even, plus the zero point, clamped.
func refRequant(acc int64, scale float32, zo, lo, hi int32) int32 {
	f := float32(float32(acc) * scale)
	v := int32(math.RoundToEven(float64(f))) + zo
	return min(max(v, lo), hi)
}

// refActRange returns the quantized clamp of a fused activation, computed from its definition.
func refActRange(act int8, typ DataType, scale float32, zp int32) (int32, int32) {
	lo, hi := int32(0), int32(255)
	if typ == Int8 {
		lo, hi = -128, 127
	}
	q := func(x float64) int32 { return zp + int32(math.Round(x/float64(scale))) }
	switch act {
	case actRelu:
		lo = max(lo, q(0))
	case actRelu6:
		lo, hi = max(lo, q(0)), min(hi, q(6))
	case actReluN1To1:
		lo, hi = max(lo, q(-1)), min(hi, q(1))
	}
	return lo, hi
}

// refActFloat clamps v to a fused activation's range.
func refActFloat(act int8, v float64) float64 {
	switch act {
	case actRelu:
		return max(v, 0)
	case actRelu6:
		return min(max(v, 0), 6)
	case actReluN1To1:
		return min(max(v, -1), 1)
	}
	return v
}

// closeFloat reports whether got is within the float tolerance of want.
func closeFloat(got, want float64) bool {
	return math.Abs(got-want) <= 1e-5+1e-4*math.Abs(want)
}

// convCase is a CONV_2D or DEPTHWISE_CONV_2D configuration.
type convCase struct {
	name                 string
	batch, inH, inW, inC int
	outC, fH, fW         int // outC is the depth multiplier for depthwise cases
	strideH, strideW     int
	dilH, dilW           int
	padding              int8
	act                  int8
	noBias               bool
}

func (c convCase) String() string {
	return fmt.Sprintf("%s/b%d_%dx%dx%d_f%dx%dx%d_s%dx%d_d%dx%d_p%d_a%d", c.name, c.batch, c.inH, c.inW, c.inC,
		c.outC, c.fH, c.fW, c.strideH, c.strideW, c.dilH, c.dilW, c.padding, c.act)
}

// refGeometry returns the output size and the top and left padding of case c, computed
// independently of the kernels' windows.
func (c convCase) refGeometry() (outH, outW, padT, padL int) {
	outH = refOutSize(c.padding, c.inH, c.fH, c.strideH, c.dilH)
	outW = refOutSize(c.padding, c.inW, c.fW, c.strideW, c.dilW)
	return outH, outW, refPadTop(c.inH, c.fH, c.strideH, c.dilH, outH), refPadTop(c.inW, c.fW, c.strideW, c.dilW, outW)
}

var convCases = []convCase{
	{"3x3 same", 1, 7, 6, 3, 5, 3, 3, 1, 1, 1, 1, paddingSame, actNone, false},
	{"3x3 same stride 2 odd padding", 2, 8, 7, 4, 6, 3, 3, 2, 2, 1, 1, paddingSame, actRelu, false},
	{"valid strided", 1, 9, 10, 2, 3, 3, 2, 2, 3, 1, 1, paddingValid, actRelu6, false},
	{"dilated same", 1, 9, 9, 3, 4, 3, 3, 1, 1, 2, 3, paddingSame, actNone, false},
	{"dilated valid", 2, 10, 8, 2, 5, 2, 3, 1, 2, 3, 2, paddingValid, actReluN1To1, true},
	{"1x1 direct", 2, 5, 5, 8, 7, 1, 1, 1, 1, 1, 1, paddingSame, actNone, false},
	{"1x1 strided", 1, 6, 7, 5, 9, 1, 1, 2, 2, 1, 1, paddingValid, actRelu, true},
	{"even filter same", 1, 6, 5, 3, 4, 2, 4, 1, 1, 1, 1, paddingSame, actNone, false},
	{"filter larger than input", 1, 2, 3, 2, 3, 5, 5, 1, 1, 1, 1, paddingSame, actNone, false},
	{"many rows for the pool", 1, 24, 20, 6, 10, 3, 3, 1, 1, 1, 1, paddingSame, actRelu6, false},
}

// refConv computes the convolution accumulators (without bias) of input values in (NHWC) and
// filter values w (OHWI), both already offset by their zero points.
func refConv(c convCase, in, w []float64) (out []float64, outH, outW int) {
	outH, outW, padT, padL := c.refGeometry()
	out = make([]float64, c.batch*outH*outW*c.outC)
	for b := 0; b < c.batch; b++ {
		for oy := 0; oy < outH; oy++ {
			for ox := 0; ox < outW; ox++ {
				for oc := 0; oc < c.outC; oc++ {
					var s float64
					for fy := 0; fy < c.fH; fy++ {
						for fx := 0; fx < c.fW; fx++ {
							iy := oy*c.strideH - padT + fy*c.dilH
							ix := ox*c.strideW - padL + fx*c.dilW
							if iy < 0 || iy >= c.inH || ix < 0 || ix >= c.inW {
								continue
							}
							for ic := 0; ic < c.inC; ic++ {
								s += in[((b*c.inH+iy)*c.inW+ix)*c.inC+ic] * w[((oc*c.fH+fy)*c.fW+fx)*c.inC+ic]
							}
						}
					}
					out[((b*outH+oy)*outW+ox)*c.outC+oc] = s
				}
			}
		}
	}
	return out, outH, outW
}

func convOpts(c convCase) mapOptions {
	return mapOptions{convOptPadding: c.padding, convOptStrideW: int32(c.strideW), convOptStrideH: int32(c.strideH),
		convOptAct: c.act, convOptDilationW: int32(c.dilW), convOptDilationH: int32(c.dilH)}
}

func TestConv2DFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range convCases {
		for _, threads := range []int{1, 2} {
			in := newTensor("in", Float32, []int{c.batch, c.inH, c.inW, c.inC}, nil)
			filter := newTensor("filter", Float32, []int{c.outC, c.fH, c.fW, c.inC}, nil)
			filter.constant = threads == 1 // exercise packing at prepare and at eval
			bias := newTensor("bias", Float32, []int{c.outC}, nil)
			inV, fV, bV := randFloats(r, in), randFloats(r, filter), randFloats(r, bias)
			inputs := []*Tensor{in, filter, bias}
			if c.noBias {
				inputs = inputs[:2]
			}
			out := newTensor("out", Float32, nil, nil)
			if err := runOpPool(t, "CONV_2D", newConv2D, convOpts(c), poolFor(t, threads), inputs, []*Tensor{out}); err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			want, outH, outW := refConv(c, toFloat64s(inV), toFloat64s(fV))
			if got := out.shape; !sameShape(got, []int{c.batch, outH, outW, c.outC}) {
				t.Fatalf("%v: output shape %v, want %v", c, got, []int{c.batch, outH, outW, c.outC})
			}
			checkFloatOutputs(t, fmt.Sprintf("%v threads %d", c, threads), out, want, bV, c.outC, c.act, !c.noBias)
		}
	}
}

func toFloat64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// quantConvSetup is a random quantized convolution problem.
type quantConvSetup struct {
	typ               DataType
	in, filter, bias  *Tensor
	inV, fV, bV       []int32
	inScale, outScale float32
	fScales           []float32
	inZp, outZp       int32
	fZps              []int32 // one, or one per channel
	perChannel        bool
	legacyMultiplier  bool // multiplier from the float32 product (uint8, per-tensor FC)
}

// newQuantConvSetup makes random 8-bit operands. fShape is the filter's shape and axis its
// channel axis (0 for CONV_2D and FULLY_CONNECTED filters, 3 for depthwise).
func newQuantConvSetup(r *rand.Rand, typ DataType, perChannel bool, inShape, fShape []int, axis int) *quantConvSetup {
	s := &quantConvSetup{typ: typ, perChannel: perChannel}
	outC := fShape[axis]
	s.inScale = float32(0.01 + r.Float64()*0.05)
	s.outScale = float32(0.05 + r.Float64()*0.2)
	if typ == UInt8 {
		s.inZp, s.outZp = int32(r.IntN(256)), int32(64+r.IntN(128))
		s.fZps = []int32{int32(100 + r.IntN(56))} // nonzero filter zero point
		s.fScales = []float32{float32(0.005 + r.Float64()*0.02)}
	} else {
		s.inZp, s.outZp = int32(r.IntN(256)-128), int32(r.IntN(128)-64)
		n := 1
		if perChannel {
			n = outC
		}
		s.fZps = make([]int32, n)
		s.fScales = make([]float32, n)
		for i := range s.fScales {
			s.fScales[i] = float32(0.002 + r.Float64()*0.03)
		}
	}
	zps := make([]int64, len(s.fZps))
	for i, z := range s.fZps {
		zps[i] = int64(z)
	}
	s.in = qtensor(typ, inShape, []float32{s.inScale}, []int64{int64(s.inZp)}, 0)
	s.filter = qtensor(typ, fShape, s.fScales, zps, axis)
	s.filter.constant = true
	lo, hi := typeRange(typ)
	s.inV = randInts(r, s.in, lo, hi)
	if typ == Int8 {
		s.fV = randInts(r, s.filter, -127, 127)
	} else {
		s.fV = randInts(r, s.filter, lo, hi)
	}
	bScales := make([]float32, len(s.fScales))
	for i, fs := range s.fScales {
		bScales[i] = s.inScale * fs
	}
	s.bias = newTensor("bias", Int32, []int{outC}, &Quantization{Scale: bScales, ZeroPoint: make([]int64, len(bScales))})
	s.bV = make([]int32, outC)
	for i := range s.bV {
		s.bV[i] = int32(r.IntN(4001) - 2000)
	}
	setInts(s.bias, s.bV)
	return s
}

// fScale and fZp return the filter quantization of output channel c.
func (s *quantConvSetup) fScale(c int) float32 {
	if len(s.fScales) == 1 {
		return s.fScales[0]
	}
	return s.fScales[c]
}

func (s *quantConvSetup) fZp(c int) int32 {
	if len(s.fZps) == 1 {
		return s.fZps[0]
	}
	return s.fZps[c]
}

// scale returns the output scale factor of channel c, computed in float32 as XNNPACK does.
func (s *quantConvSetup) scale(c int) float32 {
	p := float32(s.inScale * s.fScale(c))
	return float32(p / s.outScale)
}

// offsetIn and offsetFilter return the operands minus their zero points, channel(i) giving the
// output channel of filter element i.
func (s *quantConvSetup) offsetIn() []float64 {
	out := make([]float64, len(s.inV))
	for i, v := range s.inV {
		out[i] = float64(v - s.inZp)
	}
	return out
}

func (s *quantConvSetup) offsetFilter(channel func(i int) int) []float64 {
	out := make([]float64, len(s.fV))
	for i, v := range s.fV {
		out[i] = float64(v - s.fZp(channel(i)))
	}
	return out
}

// check compares the kernel's output with the reference accumulators acc (channel count outC,
// without bias), exactly, and with the float computation within one quantization step.
func (s *quantConvSetup) check(t *testing.T, name string, out *Tensor, acc []float64, outC int, act int8, withBias bool) {
	t.Helper()
	got := ints(out)
	if len(got) != len(acc) {
		t.Fatalf("%s: %d outputs, want %d", name, len(got), len(acc))
	}
	lo, hi := refActRange(act, s.typ, s.outScale, s.outZp)
	for i, a := range acc {
		c := i % outC
		if withBias {
			a += float64(s.bV[c])
		}
		want := refRequant(int64(a), s.scale(c), s.outZp, lo, hi)
		if got[i] != want {
			t.Fatalf("%s: output[%d] = %d, want %d (acc %v)", name, i, got[i], want, a)
		}
		// The real-valued result, quantized, is within one step.
		real := a * float64(s.inScale) * float64(s.fScale(c))
		fq := math.Round(real/float64(s.outScale)) + float64(s.outZp)
		fq = min(max(fq, float64(lo)), float64(hi))
		if math.Abs(float64(got[i])-fq) > 1 {
			t.Fatalf("%s: output[%d] = %d, float computation gives %v", name, i, got[i], fq)
		}
	}
}

// quantVariant is one 8-bit configuration the quantized op tests run.
type quantVariant struct {
	typ        DataType
	perChannel bool
	threads    int
}

// runQuantConv runs op once on a random 8-bit problem of variant v (filter channels on axis),
// leaving out the bias if noBias, and returns the problem and the output. The filter is constant
// for one thread only, so that both packing at prepare and at eval are exercised.
func runQuantConv(t *testing.T, r *rand.Rand, name, op string, f kernelFactory, opts mapOptions, v quantVariant,
	inShape, fShape []int, axis int, noBias bool) (*quantConvSetup, *Tensor) {
	t.Helper()
	s := newQuantConvSetup(r, v.typ, v.perChannel, inShape, fShape, axis)
	s.filter.constant = v.threads == 1
	inputs := []*Tensor{s.in, s.filter, s.bias}
	if noBias {
		inputs = inputs[:2]
	}
	out := qtensor(v.typ, nil, []float32{s.outScale}, []int64{int64(s.outZp)}, 0)
	if err := runOpPool(t, op, f, opts, poolFor(t, v.threads), inputs, []*Tensor{out}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s, out
}

// checkFloatOutputs compares out with the reference products want (channel count outC), plus the
// bias bV if withBias, clamped to the activation act.
func checkFloatOutputs(t *testing.T, name string, out *Tensor, want []float64, bV []float32, outC int, act int8, withBias bool) {
	t.Helper()
	for i, w := range want {
		if withBias {
			w += float64(bV[i%outC])
		}
		w = refActFloat(act, w)
		if g := float64(out.Float32s()[i]); !closeFloat(g, w) {
			t.Fatalf("%s: output[%d] = %v, want %v", name, i, g, w)
		}
	}
}

// randConvOperands returns random operands of a convolution-like op (input, filter, and a bias
// for 8-bit types, the filter's channels on axis) and its output. The float filter is not
// constant, the 8-bit one is.
func randConvOperands(r *rand.Rand, typ DataType, inShape, fShape []int, axis int) (inputs []*Tensor, out *Tensor) {
	if typ == Float32 {
		in, filter := newTensor("in", Float32, inShape, nil), newTensor("f", Float32, fShape, nil)
		randFloats(r, in)
		randFloats(r, filter)
		return []*Tensor{in, filter}, newTensor("out", Float32, nil, nil)
	}
	s := newQuantConvSetup(r, typ, typ == Int8, inShape, fShape, axis)
	return []*Tensor{s.in, s.filter, s.bias}, qtensor(typ, nil, []float32{s.outScale}, []int64{int64(s.outZp)}, 0)
}

// checkEvalNoAllocs prepares op on random operands of every type, with and without a pool, and
// checks that eval allocates nothing.
func checkEvalNoAllocs(t *testing.T, r *rand.Rand, op string, f kernelFactory, opts mapOptions, inShape, fShape []int, axis int) {
	t.Helper()
	for _, typ := range []DataType{Float32, UInt8, Int8} {
		for _, p := range []*pool{nil, testPool(t)} {
			inputs, out := randConvOperands(r, typ, inShape, fShape, axis)
			pr, err := prepareOp(t, op, f, opts, p, inputs, []*Tensor{out})
			if err != nil {
				t.Fatal(err)
			}
			if a := testing.AllocsPerRun(20, func() { _ = pr.k.eval(pr.n) }); a != 0 {
				t.Errorf("%v input %v pool=%v: %v allocations per eval", typ, inShape, p != nil, a)
			}
		}
	}
}

// opErrorCase is a node that the op must refuse, with errUnsupported or not.
type opErrorCase struct {
	name        string
	opts        mapOptions
	inputs      []*Tensor
	unsupported bool
}

// checkOpErrors checks that op refuses every case, with errUnsupported exactly when expected.
func checkOpErrors(t *testing.T, op string, f kernelFactory, cases []opErrorCase) {
	t.Helper()
	for _, c := range cases {
		out := newTensor("out", c.inputs[0].typ, nil, c.inputs[0].quant)
		err := runOp(t, op, f, c.opts, c.inputs, []*Tensor{out})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if errors.Is(err, errUnsupported) != c.unsupported {
			t.Errorf("%s: errors.Is(err, errUnsupported) = %v: %v", c.name, !c.unsupported, err)
		}
	}
}

func TestConv2DQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range convCases {
		for _, v := range []quantVariant{{UInt8, false, 1}, {UInt8, false, 2}, {Int8, true, 1}, {Int8, true, 2}, {Int8, false, 1}} {
			name := fmt.Sprintf("%v/%v perChannel=%v threads=%d", c, v.typ, v.perChannel, v.threads)
			s, out := runQuantConv(t, r, name, "CONV_2D", newConv2D, convOpts(c), v,
				[]int{c.batch, c.inH, c.inW, c.inC}, []int{c.outC, c.fH, c.fW, c.inC}, 0, c.noBias)
			perFilter := c.fH * c.fW * c.inC
			acc, outH, outW := refConv(c, s.offsetIn(), s.offsetFilter(func(i int) int { return i / perFilter }))
			if !sameShape(out.shape, []int{c.batch, outH, outW, c.outC}) {
				t.Fatalf("%s: output shape %v", name, out.shape)
			}
			s.check(t, name, out, acc, c.outC, c.act, !c.noBias)
		}
	}
}

// TestConv2DHandComputed checks a tiny case worked out by hand: a 3x3 input, a 2x2 filter of
// ones with SAME padding (the odd padding goes after), stride 1, and a bias.
func TestConv2DHandComputed(t *testing.T) {
	in := tensorF32([]int{1, 3, 3, 1}, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	filter := tensorF32([]int{1, 2, 2, 1}, 1, 1, 1, 1)
	bias := tensorF32([]int{1}, 0.5)
	out := newTensor("out", Float32, nil, nil)
	if err := runOp(t, "CONV_2D", newConv2D, mapOptions{convOptPadding: int8(paddingSame), convOptStrideW: int32(1), convOptStrideH: int32(1)},
		[]*Tensor{in, filter, bias}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	// Windows start at the top-left pixel; the last row and column see the zero padding.
	want := []float32{12.5, 16.5, 9.5, 24.5, 28.5, 15.5, 15.5, 17.5, 9.5}
	if !sameShape(out.shape, []int{1, 3, 3, 1}) {
		t.Fatalf("shape %v", out.shape)
	}
	for i, w := range want {
		if g := out.Float32s()[i]; g != w {
			t.Errorf("output[%d] = %v, want %v", i, g, w)
		}
	}

	// The same with uint8: input scale 1 zero point 10, filter scale 0.5 zero point 2 (raw 4 is
	// 1.0), output scale 1 zero point 3, bias 1 (scale 0.5, so 0.5). Output = real + 3.
	qin := qtensor(UInt8, []int{1, 3, 3, 1}, []float32{1}, []int64{10}, 0)
	setInts(qin, []int32{11, 12, 13, 14, 15, 16, 17, 18, 19})
	qf := qtensor(UInt8, []int{1, 2, 2, 1}, []float32{0.5}, []int64{2}, 0)
	setInts(qf, []int32{4, 4, 4, 4})
	qb := newTensor("bias", Int32, []int{1}, &Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{0}})
	setInts(qb, []int32{1})
	qout := qtensor(UInt8, nil, []float32{1}, []int64{3}, 0)
	if err := runOp(t, "CONV_2D", newConv2D, mapOptions{convOptPadding: int8(paddingSame), convOptStrideW: int32(1), convOptStrideH: int32(1)},
		[]*Tensor{qin, qf, qb}, []*Tensor{qout}); err != nil {
		t.Fatal(err)
	}
	// Ties round to even, as in the official runtime: 12.5 -> 12, +3 = 15; 9.5 -> 10, +3 = 13.
	wantQ := []int32{15, 19, 13, 27, 31, 19, 19, 21, 13}
	for i, w := range wantQ {
		if g := ints(qout)[i]; g != w {
			t.Errorf("uint8 output[%d] = %d, want %d", i, g, w)
		}
	}
}

func TestConv2DErrors(t *testing.T) {
	f32 := func(shape ...int) *Tensor { return newTensor("t", Float32, shape, nil) }
	u8 := func(shape ...int) *Tensor { return qtensor(UInt8, shape, []float32{0.1}, []int64{3}, 0) }
	i8pc := qtensor(Int8, []int{3, 1, 1, 2}, []float32{0.1, 0.2}, []int64{0, 0}, 0)
	i8 := func(shape ...int) *Tensor { return qtensor(Int8, shape, []float32{0.1}, []int64{0}, 0) }
	i8zp := qtensor(Int8, []int{3, 1, 1, 2}, []float32{0.1}, []int64{5}, 0)
	noQuant := newTensor("t", UInt8, []int{1, 4, 4, 2}, nil)
	checkOpErrors(t, "CONV_2D", newConv2D, []opErrorCase{
		{"rank 3 input", nil, []*Tensor{f32(4, 4, 2), f32(3, 1, 1, 2)}, false},
		{"depth mismatch", nil, []*Tensor{f32(1, 4, 4, 3), f32(3, 1, 1, 2)}, false},
		{"grouped", nil, []*Tensor{f32(1, 4, 4, 4), f32(3, 1, 1, 2)}, true},
		{"zero stride", mapOptions{convOptStrideW: int32(0)}, []*Tensor{f32(1, 4, 4, 2), f32(3, 1, 1, 2)}, false},
		{"zero dilation", mapOptions{convOptDilationH: int32(0)}, []*Tensor{f32(1, 4, 4, 2), f32(3, 1, 1, 2)}, false},
		{"valid too small", mapOptions{convOptPadding: int8(paddingValid)}, []*Tensor{f32(1, 2, 2, 2), f32(3, 3, 3, 2)}, false},
		{"bias size", nil, []*Tensor{f32(1, 4, 4, 2), f32(3, 1, 1, 2), f32(2)}, false},
		{"bias type", nil, []*Tensor{u8(1, 4, 4, 2), u8(3, 1, 1, 2), u8(3)}, false},
		{"hybrid", nil, []*Tensor{f32(1, 4, 4, 2), i8(3, 1, 1, 2)}, true},
		{"int16", nil, []*Tensor{newTensor("t", Int16, []int{1, 4, 4, 2}, nil), newTensor("t", Int16, []int{3, 1, 1, 2}, nil)}, true},
		{"no quantization", nil, []*Tensor{noQuant, u8(3, 1, 1, 2)}, true},
		{"per-channel count", nil, []*Tensor{i8(1, 4, 4, 2), i8pc}, false},
		{"int8 filter zero point", nil, []*Tensor{i8(1, 4, 4, 2), i8zp}, true},
		{"tanh activation", mapOptions{convOptAct: int8(actTanh)}, []*Tensor{f32(1, 4, 4, 2), f32(3, 1, 1, 2)}, true},
		{"unknown padding", mapOptions{convOptPadding: int8(9)}, []*Tensor{f32(1, 4, 4, 2), f32(3, 1, 1, 2)}, true},
	})
	// Wrong input counts are rejected by the factory.
	if _, err := newConv2D(&node{op: "CONV_2D", inputs: []*Tensor{f32(1, 2, 2, 1)}, outputs: []*Tensor{f32()}, opts: mapOptions{}}); err == nil {
		t.Error("one input: no error")
	}
}

// TestConv2DEvalDoesNotAllocate runs eval repeatedly on every type, with and without a pool.
func TestConv2DEvalDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	c := convCase{"alloc", 1, 16, 16, 8, 8, 3, 3, 1, 1, 1, 1, paddingSame, actRelu, false}
	checkEvalNoAllocs(t, r, "CONV_2D", newConv2D, convOpts(c), []int{1, 16, 16, 8}, []int{8, 3, 3, 8}, 0)
}

// TestRequantRounding checks the output stage on hand-picked accumulators: ties go to even,
// like XNNPACK's kernels, the clamp applies, and the accumulator is rounded to float32 first.
func TestRequantRounding(t *testing.T) {
	q := requant{offset: []int32{0, 10}, scale: []float32{0.5, 0.25}, outZp: 3, lo: -20, hi: 50}
	q.flo, q.fhi = float32(q.lo-q.outZp), float32(q.hi-q.outZp)
	cases := []struct {
		acc  int32
		ch   int
		want int32
	}{
		{5, 0, 5},     // 2.5 -> 2
		{7, 0, 7},     // 3.5 -> 4
		{-5, 0, 1},    // -2.5 -> -2
		{-7, 0, -1},   // -3.5 -> -4
		{3, 0, 5},     // 1.5 -> 2
		{4, 0, 5},     // 2
		{-46, 0, -20}, // -23 + 3 = -20, at the clamp
		{-60, 0, -20},
		{200, 0, 50},
		{-8, 1, 3}, // (-8+10)*0.25 = 0.5 -> 0
		{-4, 1, 5}, // 1.5 -> 2
		{16777217, 0, 50},
	}
	for _, c := range cases {
		if g := q.apply(c.acc, c.ch); g != c.want {
			t.Errorf("apply(%d, channel %d) = %d, want %d", c.acc, c.ch, g, c.want)
		}
	}
	// Above 2^24 the accumulator is rounded to float32 before scaling: 2^24+1 becomes 2^24.
	big := requant{offset: []int32{0}, scale: []float32{1.0 / (1 << 20)}, lo: -128, hi: 127}
	big.flo, big.fhi = -128, 127
	if g := big.apply(1<<24+1, 0); g != 16 {
		t.Errorf("apply(2^24+1) = %d, want 16", g)
	}
}

// TestConvQuantScaleIsFloat32 finds scales whose float32 product-then-division differs from the
// float64 computation rounded once, and checks the kernel uses the float32 one, as XNNPACK does.
func TestConvQuantScaleIsFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	found := 0
	for i := 0; i < 10000 && found < 5; i++ {
		si := float32(0.001 + r.Float64()*0.1)
		sf := float32(0.001 + r.Float64()*0.1)
		so := float32(0.01 + r.Float64()*0.5)
		want := float32(float32(si*sf) / so)
		if float32(float64(si)*float64(sf)/float64(so)) == want {
			continue
		}
		found++
		in := qtensor(UInt8, []int{1, 2, 2, 1}, []float32{si}, []int64{0}, 0)
		f := qtensor(UInt8, []int{1, 1, 1, 1}, []float32{sf}, []int64{0}, 0)
		out := qtensor(UInt8, nil, []float32{so}, []int64{0}, 0)
		n := &node{op: "CONV_2D", inputs: []*Tensor{in, f}, outputs: []*Tensor{out}, opts: mapOptions{}}
		q, err := newConvQuant(n, in, f, nil, out, 1, 0, actNone)
		if err != nil {
			t.Fatal(err)
		}
		if q.rq.scale[0] != want {
			t.Errorf("scales %v*%v/%v: got %v, want the float32 computation %v", si, sf, so, q.rq.scale[0], want)
		}
	}
	if found == 0 {
		t.Fatal("no scales where float32 and float64 computations differ")
	}
}

// TestShortConstantFilter: a constant filter whose buffer is shorter than its shape is an
// error at prepare for every op that packs its filter, not a panic.
func TestShortConstantFilter(t *testing.T) {
	short := func(shape ...int) *Tensor {
		f := newTensor("f", Float32, shape, nil)
		f.data = f.data[:len(f.data)-4]
		f.constant = true
		return f
	}
	cases := []struct {
		name   string
		f      kernelFactory
		inputs []*Tensor
	}{
		{"CONV_2D", newConv2D, []*Tensor{newTensor("in", Float32, []int{1, 3, 3, 2}, nil), short(4, 1, 1, 2)}},
		{"DEPTHWISE_CONV_2D", newDepthwiseConv2D, []*Tensor{newTensor("in", Float32, []int{1, 3, 3, 2}, nil), short(1, 3, 3, 2)}},
		{"FULLY_CONNECTED", newFullyConnected, []*Tensor{newTensor("in", Float32, []int{1, 6}, nil), short(3, 6)}},
	}
	for _, c := range cases {
		out := newTensor("out", Float32, nil, nil)
		if err := runOp(t, c.name, c.f, nil, c.inputs, []*Tensor{out}); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

// TestConvFamilyRandomConfigs runs many random small configurations of CONV_2D and
// DEPTHWISE_CONV_2D (strides, dilations, padding, depth multipliers, filters larger than the
// input) through the kernels and the references: each either fails at prepare, only when no
// output exists, or matches.
func TestConvFamilyRandomConfigs(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for i := 0; i < 150; i++ {
		c := convCase{
			name: fmt.Sprintf("random%d", i), batch: 1 + r.IntN(2), inH: 1 + r.IntN(9), inW: 1 + r.IntN(9), inC: 1 + r.IntN(5),
			outC: 1 + r.IntN(4), fH: 1 + r.IntN(4), fW: 1 + r.IntN(4), strideH: 1 + r.IntN(3), strideW: 1 + r.IntN(3),
			dilH: 1 + r.IntN(3), dilW: 1 + r.IntN(3), padding: int8(r.IntN(2)), act: []int8{actNone, actRelu, actRelu6, actReluN1To1}[r.IntN(4)],
			noBias: r.IntN(3) == 0,
		}
		depthwise := i%2 == 1
		typ := []DataType{Float32, UInt8, Int8}[r.IntN(3)]
		outC, fShape, axis, f, opts := c.outC, []int{c.outC, c.fH, c.fW, c.inC}, 0, newConv2D, convOpts(c)
		if depthwise {
			outC, fShape, axis, f, opts = c.inC*c.outC, []int{1, c.fH, c.fW, c.inC * c.outC}, 3, newDepthwiseConv2D, depthwiseOpts(c)
		}
		inShape := []int{c.batch, c.inH, c.inW, c.inC}
		noOutput := c.padding == paddingValid && (c.inH < (c.fH-1)*c.dilH+1 || c.inW < (c.fW-1)*c.dilW+1)
		name := fmt.Sprintf("%v depthwise=%v %v", c, depthwise, typ)
		var ref func(convCase, []float64, []float64) ([]float64, int, int) = refConv
		channel := func(i int) int { return i / (c.fH * c.fW * c.inC) }
		if depthwise {
			ref, channel = refDepthwise, func(i int) int { return i % outC }
		}
		var inputs []*Tensor
		var out *Tensor
		var s *quantConvSetup
		var inV, fV, bV []float32
		if typ == Float32 {
			in, filter, bias := newTensor("in", Float32, inShape, nil), newTensor("f", Float32, fShape, nil), newTensor("b", Float32, []int{outC}, nil)
			inV, fV, bV = randFloats(r, in), randFloats(r, filter), randFloats(r, bias)
			inputs, out = []*Tensor{in, filter, bias}, newTensor("out", Float32, nil, nil)
		} else {
			s = newQuantConvSetup(r, typ, typ == Int8 && r.IntN(2) == 0, inShape, fShape, axis)
			inputs = []*Tensor{s.in, s.filter, s.bias}
			out = qtensor(typ, nil, []float32{s.outScale}, []int64{int64(s.outZp)}, 0)
		}
		if c.noBias {
			inputs = inputs[:2]
		}
		err := runOpPool(t, "CONV", f, opts, nil, inputs, []*Tensor{out})
		if noOutput {
			if err == nil {
				t.Fatalf("%s: no error for a VALID window larger than the input", name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if typ == Float32 {
			want, _, _ := ref(c, toFloat64s(inV), toFloat64s(fV))
			for j, w := range want {
				if !c.noBias {
					w += float64(bV[j%outC])
				}
				w = refActFloat(c.act, w)
				if g := float64(out.Float32s()[j]); !closeFloat(g, w) {
					t.Fatalf("%s: output[%d] = %v, want %v", name, j, g, w)
				}
			}
			continue
		}
		acc, _, _ := ref(c, s.offsetIn(), s.offsetFilter(channel))
		s.check(t, name, out, acc, outC, c.act, !c.noBias)
	}
}

// TestConvFamilyEmptyBatch: a zero batch gives an empty output, not a panic.
func TestConvFamilyEmptyBatch(t *testing.T) {
	cases := []struct {
		name   string
		f      kernelFactory
		inputs []*Tensor
	}{
		{"CONV_2D", newConv2D, []*Tensor{newTensor("in", Float32, []int{0, 3, 3, 2}, nil), newTensor("f", Float32, []int{4, 3, 3, 2}, nil)}},
		{"DEPTHWISE_CONV_2D", newDepthwiseConv2D, []*Tensor{newTensor("in", Float32, []int{0, 3, 3, 2}, nil), newTensor("f", Float32, []int{1, 3, 3, 2}, nil)}},
		{"FULLY_CONNECTED", newFullyConnected, []*Tensor{newTensor("in", Float32, []int{0, 6}, nil), newTensor("f", Float32, []int{3, 6}, nil)}},
	}
	for _, c := range cases {
		out := newTensor("out", Float32, nil, nil)
		if err := runOpPool(t, c.name, c.f, nil, testPool(t), c.inputs, []*Tensor{out}); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if out.NumElements() != 0 {
			t.Errorf("%s: output shape %v, want empty", c.name, out.shape)
		}
	}
}

// TestConv2DColumnSplit checks convolutions of few output positions and many channels, which
// split the filter's panels over the worker slots instead of the positions: with 2 threads they
// give the bits one thread does, on the SIMD and the portable kernels, with a last panel of fewer
// columns and with a const and a non-const filter.
func TestConv2DColumnSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	cases := []struct {
		in   []int
		outC int
		f    int
	}{
		{[]int{1, 10, 10, 96}, 200, 1}, // the direct 1x1 path
		{[]int{1, 6, 6, 64}, 72, 3},    // im2col tiles
		{[]int{1, 1, 1, 256}, 1001, 1}, // one position: MobileNet's classifier, split for its filter's reads
	}
	for _, c := range cases {
		for _, typ := range []DataType{Float32, UInt8, Int8} {
			for _, constant := range []bool{true, false} {
				kernelSets(t, func(t *testing.T) {
					axis := 0
					inputs, out1 := randConvOperands(r, typ, c.in, []int{c.outC, c.f, c.f, c.in[3]}, axis)
					inputs[1].constant = constant
					opts := mapOptions{convOptStrideW: int32(1), convOptStrideH: int32(1), convOptAct: int8(actRelu6)}
					if err := runOpPool(t, "CONV", newConv2D, opts, nil, inputs, []*Tensor{out1}); err != nil {
						t.Fatal(err)
					}
					out2 := newTensor("out", typ, nil, out1.quant)
					pr, err := prepareOp(t, "CONV", newConv2D, opts, testPool(t), inputs, []*Tensor{out2})
					if err != nil {
						t.Fatal(err)
					}
					if err := pr.k.eval(pr.n); err != nil {
						t.Fatal(err)
					}
					k := pr.k.(*conv2D)
					if total, minPart, _ := k.split(); !k.colSplit || total/minPart < 2 {
						t.Fatalf("%v %v: colSplit %v, %d panels in parts of %d, want 2 parts of panels", c.in, typ, k.colSplit, total, minPart)
					}
					if i := firstDiff(out1.data, out2.data); i >= 0 {
						t.Errorf("%v %v const=%v: byte %d differs between 1 and 2 threads", c.in, typ, constant, i)
					}
				})
			}
		}
	}
}

// kernelSets runs f with this CPU's SIMD kernels (when it has them) and with the portable ones.
func kernelSets(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if simdQ != nil || simdF != nil || simdDW != nil {
		t.Run("kernels=simd", f)
	}
	t.Run("kernels=go", func(t *testing.T) { withPortableKernels(func() { f(t) }) })
}
