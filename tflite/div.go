package tflite

import "math"

// DIV and FLOOR_DIV, elementwise with NumPy broadcasting.
//
// DIV takes float32, int32 and 8-bit inputs and a fused activation. Float results are clamped to
// the activation's range, which for no activation is ±MaxFloat32, as in TFLite (x/0 gives
// MaxFloat32, not +Inf). int32 divides truncating toward zero. 8-bit DIV is TFLite's integer
// division: the divisor's reciprocal in fixed point (Newton-Raphson), the quotient rescaled by
// in1_scale/(in2_scale*out_scale). A zero integer or quantized divisor is an Invoke error.
//
// FLOOR_DIV takes float32, int32, int16 and int8 (raw integers, not quantized) and rounds the
// quotient down; as in TFLite, any zero in the divisor is an Invoke error, for floats too.

// Options slot (DivOptions).
const slotDivActivation = 0

type divKernel struct {
	floor bool
	act   int8
	typ   DataType
	plan  broadcastPlan
	// Activation range for float32 and int32.
	fmin, fmax float32
	imin, imax int32
	// 8-bit.
	zpA, zpB, zpOut int32
	mult            int32
	shift           int
	qmin, qmax      int32
}

func newDiv(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	act := n.opts.Int8(slotDivActivation, actNone)
	if act < actNone || act > actRelu6 {
		return nil, n.errorf("%w: fused activation %d", errUnsupported, act)
	}
	return &divKernel{act: act}, nil
}

func newFloorDiv(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &divKernel{floor: true}, nil
}

func (k *divKernel) prepare(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	k.typ = a.typ
	name := "DIV"
	if k.floor {
		name = "FLOOR_DIV"
	}
	if b.typ != a.typ || out.typ != a.typ {
		return n.errorf("%w: %s of %v and %v into %v", errUnsupported, name, a.typ, b.typ, out.typ)
	}
	switch {
	case a.typ == Float32:
		k.fmin, k.fmax = activationRangeFloat(k.act)
	case a.typ == Int32:
		k.imin, k.imax = activationRangeInt32(k.act)
	case k.floor && (a.typ == Int16 || a.typ == Int8):
	case !k.floor && is8bit(a.typ):
		if err := k.prepareQuantized(n); err != nil {
			return err
		}
	default:
		return n.errorf("%w: %s of %v", errUnsupported, name, a.typ)
	}
	var err error
	k.plan, err = prepareBroadcast(n, a, b, out)
	return err
}

// activationRangeInt32 returns the clamp bounds of a fused activation on int32 outputs.
func activationRangeInt32(act int8) (int32, int32) {
	switch act {
	case actRelu:
		return 0, math.MaxInt32
	case actRelu6:
		return 0, 6
	case actReluN1To1:
		return -1, 1
	}
	return math.MinInt32, math.MaxInt32
}

func (k *divKernel) prepareQuantized(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	sa, za, err := quantOf(n, a)
	if err != nil {
		return err
	}
	sb, zb, err := quantOf(n, b)
	if err != nil {
		return err
	}
	so, zo, err := quantOf(n, out)
	if err != nil {
		return err
	}
	k.zpA, k.zpB, k.zpOut = za, zb, zo
	k.mult, k.shift = quantizeMultiplier(float64(sa) / (float64(sb) * float64(so)))
	lo, hi := typeRange(k.typ)
	k.qmin, k.qmax = activationRangeQuantized(k.act, so, zo, lo, hi)
	return nil
}

func (k *divKernel) eval(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	if k.typ != Float32 || k.floor {
		if err := checkNoZero(n, b, k.zpB); err != nil {
			return err
		}
	}
	p := &k.plan
	switch {
	case k.typ == Float32 && k.floor:
		bcast2(p, a.Float32s(), b.Float32s(), out.Float32s(), func(x, y float32) float32 {
			return float32(math.Floor(float64(x) / float64(y)))
		})
	case k.typ == Float32:
		lo, hi := k.fmin, k.fmax
		bcast2(p, a.Float32s(), b.Float32s(), out.Float32s(), func(x, y float32) float32 {
			return min(max(x/y, lo), hi)
		})
	case k.typ == Int32 && k.floor:
		bcast2(p, a.Int32s(), b.Int32s(), out.Int32s(), floorDivInt[int32])
	case k.typ == Int32:
		lo, hi := k.imin, k.imax
		bcast2(p, a.Int32s(), b.Int32s(), out.Int32s(), func(x, y int32) int32 {
			return min(max(x/y, lo), hi)
		})
	case k.typ == Int16:
		bcast2(p, viewAs[int16](a.data), viewAs[int16](b.data), viewAs[int16](out.data), floorDivInt[int16])
	case k.floor:
		bcast2(p, viewAs[int8](a.data), viewAs[int8](b.data), viewAs[int8](out.data), floorDivInt[int8])
	case k.typ == UInt8:
		bcast2(p, a.data, b.data, out.data, func(x, y uint8) uint8 {
			return uint8(k.quotient(int32(x), int32(y)))
		})
	default:
		bcast2(p, viewAs[int8](a.data), viewAs[int8](b.data), viewAs[int8](out.data), func(x, y int8) int8 {
			return int8(k.quotient(int32(x), int32(y)))
		})
	}
	return nil
}

// checkNoZero returns an error if any element of the divisor b is zero (for 8-bit divisors: its
// zero point, the quantized zero).
func checkNoZero(n *node, b *Tensor, zp int32) error {
	zero := false
	switch b.typ {
	case Float32:
		for _, v := range b.Float32s() {
			zero = zero || v == 0
		}
	case Int32:
		for _, v := range b.Int32s() {
			zero = zero || v == 0
		}
	case Int16:
		for _, v := range viewAs[int16](b.data) {
			zero = zero || v == 0
		}
	case Int8:
		for _, v := range viewAs[int8](b.data) {
			zero = zero || int32(v) == zp
		}
	case UInt8:
		for _, v := range b.data {
			zero = zero || int32(v) == zp
		}
	}
	if zero {
		return n.errorf("division by zero")
	}
	return nil
}

// floorDivInt is floor(x / y) for y != 0 (MinInt / -1 wraps, as the hardware does).
func floorDivInt[T int8 | int16 | int32](x, y T) T {
	q := x / y
	if x%y != 0 && (x < 0) != (y < 0) {
		q--
	}
	return q
}

// quotient is TFLite's quantized DivElementwise on one pair of raw values (the divisor is not
// its zero point).
func (k *divKernel) quotient(x, y int32) int32 {
	a, b := x-k.zpA, y-k.zpB
	if b < 0 {
		a, b = -a, -b
	}
	inv, over := reciprocal(b, 31)
	headroom := countLeadingSignBits(a)
	q := saturatingRoundingDoublingHighMul(a<<headroom, inv)
	var r int32
	if shift := k.shift - over - headroom; shift > 0 {
		r = multiplyByQuantizedMultiplier(q, k.mult, shift)
	} else {
		r = roundingDivideByPOTMasked(saturatingRoundingDoublingHighMul(q, k.mult), -shift)
	}
	r += k.zpOut
	return min(max(r, k.qmin), k.qmax)
}

// roundingDivideByPOTMasked is gemmlowp's RoundingDivideByPOT as the official runtime computes it
// for any exponent: for a tiny quotient (|dividend| of 1 or 2) TFLite's DIV asks for a shift of
// 32 or more, which C leaves undefined; x86, ARM and WASM all take the shift count modulo 32,
// with the mask computed in 64 bits, and so does this.
func roundingDivideByPOTMasked(x int32, exponent int) int32 {
	if exponent < 32 {
		return roundingDivideByPOT(x, exponent)
	}
	mask := int32(int64(1)<<min(exponent, 63) - 1)
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> (exponent & 31)
	if x&mask > threshold {
		r++
	}
	return r
}
