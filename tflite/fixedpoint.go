package tflite

import "math"

// TFLite's integer requantization, as in its reference kernels (gemmlowp rounding, the default
// build): a real multiplier is held as a Q31 int32 and a power-of-two shift.

// quantizeMultiplier splits a real multiplier m >= 0 into a Q31 fixed-point multiplier and a
// shift such that m ≈ multiplier * 2^(shift-31).
func quantizeMultiplier(m float64) (multiplier int32, shift int) {
	if m == 0 {
		return 0, 0
	}
	q, s := math.Frexp(m) // m = q * 2^s, q in [0.5, 1)
	qFixed := int64(math.Round(q * (1 << 31)))
	if qFixed == 1<<31 {
		qFixed /= 2
		s++
	}
	if s < -31 {
		return 0, 0
	}
	if s > 30 {
		return math.MaxInt32, 30
	}
	return int32(qFixed), s
}

// saturatingRoundingDoublingHighMul returns the high 32 bits of 2*a*b, rounded to nearest.
func saturatingRoundingDoublingHighMul(a, b int32) int32 {
	if a == b && a == math.MinInt32 {
		return math.MaxInt32
	}
	ab := int64(a) * int64(b)
	nudge := int64(1 << 30)
	if ab < 0 {
		nudge = 1 - (1 << 30)
	}
	return int32((ab + nudge) / (1 << 31)) // truncating division, as in C++
}

// roundingDivideByPOT divides x by 2^exponent, rounding half away from zero.
func roundingDivideByPOT(x int32, exponent int) int32 {
	mask := int32((int64(1) << exponent) - 1)
	remainder := x & mask
	threshold := mask >> 1
	if x < 0 {
		threshold++
	}
	r := x >> exponent
	if remainder > threshold {
		r++
	}
	return r
}

// multiplyByQuantizedMultiplier returns x * multiplier * 2^(shift-31) with TFLite's rounding.
func multiplyByQuantizedMultiplier(x, multiplier int32, shift int) int32 {
	left, right := 0, 0
	if shift > 0 {
		left = shift
	} else {
		right = -shift
	}
	return roundingDivideByPOT(saturatingRoundingDoublingHighMul(x*(1<<left), multiplier), right)
}

// activationRangeQuantized returns the clamp bounds of a fused activation for an output with the
// given quantization and integer range [qmin, qmax].
func activationRangeQuantized(act int8, scale float32, zeroPoint int32, qmin, qmax int32) (int32, int32) {
	quantize := func(f float32) int32 {
		return zeroPoint + int32(math.Round(float64(f/scale)))
	}
	lo, hi := qmin, qmax
	switch act {
	case actRelu:
		lo = max(qmin, quantize(0))
	case actRelu6:
		lo = max(qmin, quantize(0))
		hi = min(qmax, quantize(6))
	case actReluN1To1:
		lo = max(qmin, quantize(-1))
		hi = min(qmax, quantize(1))
	}
	return lo, hi
}

// activationRangeFloat returns the clamp bounds of a fused activation for float outputs.
func activationRangeFloat(act int8) (float32, float32) {
	switch act {
	case actRelu:
		return 0, math.MaxFloat32
	case actRelu6:
		return 0, 6
	case actReluN1To1:
		return -1, 1
	}
	return -math.MaxFloat32, math.MaxFloat32
}
