package tflite

import "math"

// Elementwise activations: LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, RELU_N1_TO_1.
//
// The 8-bit versions are a fixed function of the input byte, so prepare tabulates them (see
// lutKernel): LOGISTIC, TANH and HARD_SWISH evaluate the real function on the dequantized input
// and quantize the result, as TFLite's lookup-table kernels do; the RELUs requantize the input
// to the output's quantization with TFLite's fixed-point multiplier and clamp, as its reference
// kernel does.

type activation int

const (
	activationLogistic activation = iota
	activationTanh
	activationHardSwish
	activationRelu
	activationRelu6
	activationReluN1To1
)

var activationNames = [...]string{"LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1"}

// activationMinChunk is the element count below which splitting over the pool does not pay.
const activationMinChunk = 32 << 10

type activationKernel struct {
	lutKernel
	fn  activation
	typ DataType
	// Operands of the current eval, for the pool's run callback.
	in, out []byte
}

func newActivation(n *node, fn activation) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &activationKernel{fn: fn}, nil
}

func newLogistic(n *node) (kernel, error)  { return newActivation(n, activationLogistic) }
func newTanh(n *node) (kernel, error)      { return newActivation(n, activationTanh) }
func newHardSwish(n *node) (kernel, error) { return newActivation(n, activationHardSwish) }
func newRelu(n *node) (kernel, error)      { return newActivation(n, activationRelu) }
func newRelu6(n *node) (kernel, error)     { return newActivation(n, activationRelu6) }
func newReluN1To1(n *node) (kernel, error) { return newActivation(n, activationReluN1To1) }

// activationReal is the real-valued function, in float64.
func activationReal(fn activation, x float64) float64 {
	switch fn {
	case activationLogistic:
		return 1 / (1 + math.Exp(-x))
	case activationTanh:
		return math.Tanh(x)
	case activationHardSwish:
		return x * min(max(x+3, 0), 6) / 6
	case activationRelu:
		return max(x, 0)
	case activationRelu6:
		return min(max(x, 0), 6)
	default:
		return min(max(x, -1), 1)
	}
}

func (k *activationKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	if out.typ != in.typ || !(in.typ == Float32 || is8bit(in.typ)) {
		return n.errorf("%w: %s from %v to %v", errUnsupported, activationNames[k.fn], in.typ, out.typ)
	}
	setShape(out, in.shape)
	if in.typ == Float32 {
		return nil
	}
	si, zi, so, zo, err := quantOfInOut(n, in, out)
	if err != nil {
		return err
	}
	lo, hi := typeRange(in.typ)
	// TFLite fixes the output quantization of the bounded functions.
	var wantScale float64
	var wantZP int32
	switch k.fn {
	case activationLogistic:
		wantScale, wantZP = 1.0/256, lo
	case activationTanh:
		wantScale, wantZP = 1.0/128, (lo+hi+1)/2
	}
	if wantScale != 0 && (math.Abs(float64(so)-wantScale) > 1e-8*wantScale+1e-10 || zo != wantZP) {
		return n.errorf("%w: %s %v output quantization (%v, %d), want (%v, %d)",
			errUnsupported, activationNames[k.fn], out.typ, so, zo, wantScale, wantZP)
	}
	switch k.fn {
	case activationRelu, activationRelu6, activationReluN1To1:
		act := int8(actRelu)
		switch k.fn {
		case activationRelu6:
			act = actRelu6
		case activationReluN1To1:
			act = actReluN1To1
		}
		qmin, qmax := activationRangeQuantized(act, so, zo, lo, hi)
		mult, shift := quantizeMultiplier(float64(si) / float64(so))
		k.build(in.typ, func(q int32) int32 {
			v := zo + multiplyByQuantizedMultiplier(q-zi, mult, shift)
			return min(max(v, qmin), qmax)
		})
	default:
		inv := 1 / so
		k.build(in.typ, func(q int32) int32 {
			x := si * float32(q-zi)
			y := float32(activationReal(k.fn, float64(x)))
			r := math.Round(float64(y*inv)) + float64(zo)
			return int32(min(max(r, float64(lo)), float64(hi)))
		})
	}
	return nil
}

func (k *activationKernel) eval(n *node) error {
	k.in, k.out = n.inputs[0].data, n.outputs[0].data
	count := n.inputs[0].NumElements()
	n.pool.do(count, activationMinChunk, activationMinChunk/4, k)
	k.in, k.out = nil, nil
	return nil
}

// run computes elements [lo, hi).
func (k *activationKernel) run(lo, hi, _ int) {
	if k.typ != Float32 {
		k.apply(k.out[lo:hi], k.in[lo:hi])
		return
	}
	src := viewAs[float32](k.in)[lo:hi]
	dst := viewAs[float32](k.out)[lo:hi]
	if clo, chi, ok := clampBounds(k.fn); ok {
		done := ewF32(ewClamp, dst, src, nil, clo, chi)
		src, dst = src[done:], dst[done:]
	}
	switch k.fn {
	case activationLogistic:
		done := ewF32(ewLogistic, dst, src, nil, 0, 0)
		logisticF32(dst[done:], src[done:])
	case activationTanh:
		for i, x := range src {
			dst[i] = float32(math.Tanh(float64(x)))
		}
	case activationHardSwish:
		for i, x := range src {
			dst[i] = x * min(max(x+3, 0), 6) / 6
		}
	case activationRelu:
		for i, x := range src {
			dst[i] = max(x, 0)
		}
	case activationRelu6:
		for i, x := range src {
			dst[i] = min(max(x, 0), 6)
		}
	default:
		for i, x := range src {
			dst[i] = min(max(x, -1), 1)
		}
	}
}

// clampBounds returns the bounds of a clamping activation: RELU is a clamp to [0, +Inf].
func clampBounds(fn activation) (lo, hi float32, ok bool) {
	switch fn {
	case activationRelu:
		return 0, float32(math.Inf(1)), true
	case activationRelu6:
		return 0, 6, true
	case activationReluN1To1:
		return -1, 1, true
	}
	return 0, 0, false
}

// LEAKY_RELU (x or alpha*x), ELU (x, or e^x - 1 below zero) and GELU (x*Φ(x), or its tanh
// approximation).
//
// 8-bit LEAKY_RELU rescales the zero-point-shifted input with one of two fixed-point
// multipliers, in_scale/out_scale or alpha*in_scale/out_scale, as TFLite does. ELU (int8) and GELU
// (uint8 and int8) quantize the float function into a table, as TFLite's LUT kernels do.

// Options slots (LeakyReluOptions, GeluOptions).
const (
	slotLeakyReluAlpha   = 0
	slotGeluApproximate  = 0
	sqrtTwoOverPi        = 0.7978845608028654 // TFLite: M_2_SQRTPI * M_SQRT1_2
	geluApproxCubicCoeff = 0.044715
)

type pointwiseOp int

const (
	pointwiseLeakyRelu pointwiseOp = iota
	pointwiseElu
	pointwiseGelu
)

var pointwiseNames = [...]string{"LEAKY_RELU", "ELU", "GELU"}

type pointwiseKernel struct {
	lutKernel
	op          pointwiseOp
	alpha       float32
	approximate bool
	typ         DataType
}

func newLeakyRelu(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &pointwiseKernel{op: pointwiseLeakyRelu, alpha: n.opts.Float32(slotLeakyReluAlpha, 0)}, nil
}

func newElu(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &pointwiseKernel{op: pointwiseElu}, nil
}

func newGelu(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &pointwiseKernel{op: pointwiseGelu, approximate: n.opts.Bool(slotGeluApproximate, false)}, nil
}

// gelu is TFLite's GeluTransform (or GeluTransformApproximate), in float32.
func gelu(x float32, approximate bool) float32 {
	if approximate {
		t := float32(math.Tanh(float64(float32(sqrtTwoOverPi) * (x + float32(geluApproxCubicCoeff)*x*x*x))))
		return 0.5 * x * (1 + t)
	}
	return 0.5 * x * (1 + float32(math.Erf(float64(x*float32(1/math.Sqrt2)))))
}

func elu(x float32) float32 {
	if x < 0 {
		return float32(math.Expm1(float64(x)))
	}
	return x
}

func (k *pointwiseKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	ok := in.typ == Float32
	switch k.op {
	case pointwiseElu:
		ok = ok || in.typ == Int8
	default:
		ok = ok || is8bit(in.typ)
	}
	if !ok || out.typ != in.typ {
		return n.errorf("%w: %s from %v to %v", errUnsupported, pointwiseNames[k.op], in.typ, out.typ)
	}
	setShape(out, in.shape)
	if in.typ == Float32 {
		return nil
	}
	si, zi, so, zo, err := quantOfInOut(n, in, out)
	if err != nil {
		return err
	}
	switch k.op {
	case pointwiseLeakyRelu:
		lo, hi := typeRange(in.typ)
		ma, sa := quantizeMultiplier(float64(si) * float64(k.alpha) / float64(so))
		mi, shi := quantizeMultiplier(float64(si) / float64(so))
		k.build(in.typ, func(q int32) int32 {
			v := q - zi
			if v >= 0 {
				v = multiplyByQuantizedMultiplier(v, mi, shi)
			} else {
				v = multiplyByQuantizedMultiplier(v, ma, sa)
			}
			return min(max(v+zo, lo), hi)
		})
	case pointwiseElu:
		k.buildReal(in.typ, si, zi, so, zo, out.typ, elu)
	default:
		approx := k.approximate
		k.buildReal(in.typ, si, zi, so, zo, out.typ, func(x float32) float32 { return gelu(x, approx) })
	}
	return nil
}

func (k *pointwiseKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if k.typ != Float32 {
		k.apply(out.data, in.data)
		return nil
	}
	src, dst := in.Float32s(), out.Float32s()
	switch k.op {
	case pointwiseLeakyRelu:
		for i, x := range src {
			if x > 0 {
				dst[i] = x
			} else {
				dst[i] = x * k.alpha
			}
		}
	case pointwiseElu:
		for i, x := range src {
			dst[i] = elu(x)
		}
	default:
		for i, x := range src {
			dst[i] = gelu(x, k.approximate)
		}
	}
	return nil
}

// PRELU is x for x >= 0 and alpha*x below, with alpha broadcast against x (the output has x's
// shape). 8-bit PRELU is TFLite's: the zero-point-shifted input is rescaled by in_scale/out_scale,
// or multiplied by the shifted alpha and rescaled by in_scale*alpha_scale/out_scale.
type preluKernel struct {
	typ        DataType
	plan       broadcastPlan
	zpIn, zpA  int32
	zpOut      int32
	m1, m2     int32
	s1, s2     int
	qmin, qmax int32
}

func newPrelu(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &preluKernel{}, nil
}

func (k *preluKernel) prepare(n *node) error {
	in, alpha, out := n.inputs[0], n.inputs[1], n.outputs[0]
	k.typ = in.typ
	if !(in.typ == Float32 || is8bit(in.typ)) || alpha.typ != in.typ || out.typ != in.typ {
		return n.errorf("%w: PRELU of %v with %v alpha into %v", errUnsupported, in.typ, alpha.typ, out.typ)
	}
	shape, err := broadcastShape(in.shape, alpha.shape)
	if err != nil {
		return n.errorf("%w", err)
	}
	if !sameShape(shape, in.shape) {
		return n.errorf("alpha %v broadcasts input %v to %v", alpha.shape, in.shape, shape)
	}
	k.plan = newBroadcastPlan(in.shape, alpha.shape, shape)
	if is8bit(in.typ) {
		si, zi, err := quantOf(n, in)
		if err != nil {
			return err
		}
		sa, za, err := quantOf(n, alpha)
		if err != nil {
			return err
		}
		so, zo, err := quantOf(n, out)
		if err != nil {
			return err
		}
		k.zpIn, k.zpA, k.zpOut = zi, za, zo
		k.m1, k.s1 = quantizeMultiplier(float64(si) / float64(so))
		k.m2, k.s2 = quantizeMultiplier(float64(si) * float64(sa) / float64(so))
		k.qmin, k.qmax = typeRange(in.typ)
	}
	setShape(out, shape)
	return nil
}

func (k *preluKernel) eval(n *node) error {
	in, alpha, out := n.inputs[0], n.inputs[1], n.outputs[0]
	switch k.typ {
	case Float32:
		bcast2(&k.plan, in.Float32s(), alpha.Float32s(), out.Float32s(), func(x, a float32) float32 {
			if x >= 0 {
				return x
			}
			return x * a
		})
	case UInt8:
		bcast2(&k.plan, in.data, alpha.data, out.data, func(x, a uint8) uint8 { return uint8(k.apply(int32(x), int32(a))) })
	default:
		bcast2(&k.plan, in.Int8s(), alpha.Int8s(), out.Int8s(), func(x, a int8) int8 { return int8(k.apply(int32(x), int32(a))) })
	}
	return nil
}

func (k *preluKernel) apply(x, a int32) int32 {
	v := x - k.zpIn
	if v >= 0 {
		v = multiplyByQuantizedMultiplier(v, k.m1, k.s1)
	} else {
		v = multiplyByQuantizedMultiplier(v*(a-k.zpA), k.m2, k.s2)
	}
	return min(max(v+k.zpOut, k.qmin), k.qmax)
}

// logisticF32 sets dst[i] = 1 / (1 + e^-src[i]), computed in float64 and rounded to float32, as
// float32(1 / (1 + math.Exp(-float64(x)))) is. The exponential is inlined: math.Exp's call,
// its special cases and its extra precision cost most of a small float model's time (the
// sine model's 70 logistics took a third of its Invoke). e^-|x| = 2^n * e^t with n the
// nearest integer to -|x|/ln 2 and |t| <= ln(2)/2, e^t by its Taylor series to degree 10,
// whose remainder is below 3e-13 relative there: 1e5 times finer than float32's rounding, so
// the result is the same float32 but for the rare input within that of a rounding boundary
// (TestLogisticF32). The polynomial is evaluated by Estrin's scheme, not Horner's: the
// elements are independent, but the processor holds only a few in flight, so the chain of
// dependent operations per element sets the pace. Inputs beyond |x| = 700 (where 2^n leaves
// float64's normal range), and NaN, take math.Exp.
func logisticF32(dst, src []float32) {
	const (
		log2e = 1.44269504088896340735992468100189214
		ln2hi = 6.93147180369123816490e-01 // ln 2 in two parts (Cody and Waite), as math.Exp does
		ln2lo = 1.90821492927058770002e-10
		// Adding round rounds a float64 below 2^51 in magnitude to an integer, which is
		// then the low bits of the sum.
		round = 1 << 52 * 1.5
	)
	dst = dst[:len(src)]
	for i, x := range src {
		// |x| widened to float64 by its bits rather than float64(x): amd64's CVTSS2SD writes
		// half a register and so waits for that register's last value, the end of the
		// previous element's computation, which chained the elements one after the other.
		// Zeros and subnormals, whose logistic is 0.5 in float32, become 0.
		b := math.Float32bits(x) &^ (1 << 31)
		normal := -uint64(min(b>>23, 1)) // all ones unless the exponent field is 0
		z := math.Float64frombits((uint64(b>>23+896)<<52 | uint64(b&(1<<23-1))<<29) & normal)
		if !(z < 700) {
			dst[i] = float32(1 / (1 + math.Exp(-float64(x))))
			continue
		}
		r := -z*log2e + round
		n := r - round
		t := -z - n*ln2hi - n*ln2lo
		t2 := t * t
		t4 := t2 * t2
		p := (1 + t) + (1.0/2+t*(1.0/6))*t2 +
			((1.0/24+t*(1.0/120))+(1.0/720+t*(1.0/5040))*t2)*t4 +
			((1.0/40320+t*(1.0/362880))+(1.0/3628800)*t2)*(t4*t4)
		k := int64(math.Float64bits(r)&(1<<52-1)) - 1<<51 // n as an integer
		e := p * math.Float64frombits(uint64(k+1023)<<52) // e^-|x|
		// 1 / (1 + e) for x >= 0, else e / (1 + e) (which is 1 / (1 + e^-x) without the
		// overflow of e^-x). The numerator is picked by the sign bit, not a branch: signs
		// of activations are as good as random, and a mispredicted branch costs as much as
		// the exponential.
		neg := -uint64(math.Float32bits(x) >> 31)
		num := math.Float64frombits(math.Float64bits(1)&^neg | math.Float64bits(e)&neg)
		dst[i] = float32(num / (1 + e))
	}
}
