package tflite

import (
	"math"
	"math/bits"
)

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

// countLeadingSignBits returns the number of bits after the sign bit that equal it (C's
// __builtin_clrsb).
func countLeadingSignBits(x int32) int {
	if x < 0 {
		x = ^x
	}
	return bits.LeadingZeros32(uint32(x)) - 1
}

// saturatingLeftShift is gemmlowp's SaturatingRoundingMultiplyByPOT for a positive exponent.
func saturatingLeftShift(x int32, exp int) int32 {
	threshold := int32(1)<<(31-exp) - 1
	switch {
	case x > threshold:
		return math.MaxInt32
	case x < -threshold:
		return math.MinInt32
	}
	return x << exp
}

// roundingHalfSum is gemmlowp's (a + b) / 2 rounded away from zero.
func roundingHalfSum(a, b int32) int32 {
	sum := int64(a) + int64(b)
	sign := int64(1)
	if sum < 0 {
		sign = -1
	}
	return int32((sum + sign) / 2)
}

// oneOverOnePlusX is gemmlowp's one_over_one_plus_x_for_x_in_0_1: 1/(1+x) for a Q0.31 x in
// [0, 1), as a Q0.31, by three Newton-Raphson steps in Q2.29.
func oneOverOnePlusX(x int32) int32 {
	const (
		oneQ2        = 1 << 29
		c48Over17    = 1515870810  // 48/17 in Q2.29
		cNeg32Over17 = -1010580540 // -32/17 in Q2.29
	)
	half := roundingHalfSum(x, math.MaxInt32) // (1 + x) / 2, Q0.31
	r := c48Over17 + saturatingRoundingDoublingHighMul(half, cNeg32Over17)
	for range 3 {
		hx := saturatingRoundingDoublingHighMul(half, r)                     // Q2.29
		e := oneQ2 - hx                                                      // Q2.29
		r += saturatingLeftShift(saturatingRoundingDoublingHighMul(r, e), 2) // Q4.27 -> Q2.29
	}
	// x/2 in Q1.30 is r's raw value; to Q0.31.
	return saturatingLeftShift(r, 1)
}

// reciprocal is TFLite's GetReciprocal for x > 0 with xIntegerDigits integer bits: a Q0.31 m in
// (0.5, 1] and the number of bits x has over one, so that 1/x = m * 2^-over.
func reciprocal(x int32, xIntegerDigits int) (int32, int) {
	headroomPlusOne := bits.LeadingZeros32(uint32(x))
	over := xIntegerDigits - headroomPlusOne
	shiftedMinusOne := int32(uint32(x)<<headroomPlusOne - 1<<31)
	return oneOverOnePlusX(shiftedMinusOne), over
}

// invSqrtQuantizedMultiplierExp is TFLite's GetInvSqrtQuantizedMultiplierExp: a multiplier and
// shift for 1/sqrt(x) by Newton-Raphson in Q3.28, the shift negated by reverseShift (-1 turns
// TFLite's right shift into the left shift multiplyByQuantizedMultiplier takes). x <= 1 gives
// the largest multiplier.
func invSqrtQuantizedMultiplierExp(x int32, reverseShift int) (int32, int) {
	if x <= 1 {
		return math.MaxInt32, 0
	}
	shift := 11
	for x >= 1<<29 {
		x /= 4
		shift++
	}
	pairs := (bits.LeadingZeros32(uint32(x))-1)/2 - 1
	shift -= pairs
	x <<= 2 * pairs
	const (
		oneQ3       = 1 << 28
		halfThree   = 1<<28 + 1<<27 // 1.5 in Q3.28
		halfSqrtTwo = 1518500250    // sqrt(2)/2 in Q0.31
	)
	in := x >> 1
	halfIn := roundingDivideByPOT(in, 1)
	r := int32(oneQ3)
	for range 5 {
		r3 := saturatingLeftShift(saturatingRoundingDoublingHighMul(saturatingRoundingDoublingHighMul(r, r), r), 6)
		r = saturatingLeftShift(saturatingRoundingDoublingHighMul(halfThree, r)-saturatingRoundingDoublingHighMul(halfIn, r3), 3)
	}
	r = saturatingRoundingDoublingHighMul(r, halfSqrtTwo)
	if shift < 0 {
		r <<= -shift
		shift = 0
	}
	return r, shift * reverseShift
}

// multiplyByQuantizedMultiplier64 is TFLite's MultiplyByQuantizedMultiplier for a 64-bit x: the
// multiplier is reduced to 16 bits and applied with one rounding shift. The result is clamped to
// int32 (TFLite assumes it fits).
func multiplyByQuantizedMultiplier64(x int64, multiplier int32, shift int) int32 {
	reduced := int64(0x7fff)
	if multiplier < 0x7fff0000 {
		reduced = (int64(multiplier) + 1<<15) >> 16
	}
	total := 15 - shift
	if total < 1 {
		total = 1
	}
	r := x*reduced + int64(1)<<(total-1)
	r >>= total
	return int32(min(max(r, math.MinInt32), math.MaxInt32))
}

// The gemmlowp fixed-point functions TFLite's int8 LOG_SOFTMAX uses. A FixedPoint<int32, N> is
// an int32 with N integer bits; products are saturatingRoundingDoublingHighMul (the integer bits
// add), sums are plain int32 additions, as in gemmlowp.

// saturatingRoundingMultiplyByPOT multiplies x by 2^exp: a saturating shift left, or a rounding
// one right.
func saturatingRoundingMultiplyByPOT(x int32, exp int) int32 {
	switch {
	case exp > 0:
		return saturatingLeftShift(x, exp)
	case exp < 0:
		return roundingDivideByPOT(x, -exp)
	}
	return x
}

func saturatingAdd(a, b int32) int32 {
	return int32(min(max(int64(a)+int64(b), math.MinInt32), math.MaxInt32))
}

func saturatingSub(a, b int32) int32 {
	return int32(min(max(int64(a)-int64(b), math.MinInt32), math.MaxInt32))
}

// expOnIntervalBetweenNegativeOneQuarterAnd0Excl is gemmlowp's Taylor expansion of e^a around
// -1/8 for a Q0.31 a in [-1/4, 0).
func expOnIntervalBetweenNegativeOneQuarterAnd0Excl(a int32) int32 {
	const (
		constantTerm = 1895147668 // e^(-1/8)
		oneOverThree = 715827883
	)
	mul := saturatingRoundingDoublingHighMul
	x := a + 1<<28
	x2 := mul(x, x)
	x3 := mul(x2, x)
	x4 := mul(x2, x2)
	x4Over4 := roundingDivideByPOT(x4, 2)
	poly := roundingDivideByPOT(mul(x4Over4+x3, oneOverThree)+x2, 1)
	return constantTerm + mul(constantTerm, x+poly)
}

// expOnNegativeValues is gemmlowp's exp_on_negative_values for a Q(intBits) a <= 0: e^a in Q0.31,
// by the expansion above on a modulo 1/4 and a barrel shifter of e^(-2^k) factors.
func expOnNegativeValues(a int32, intBits int) int32 {
	frac := 31 - intBits
	quarter := int32(1) << (frac - 2)
	mask := quarter - 1
	aModQuarterMinusQuarter := (a & mask) - quarter
	result := expOnIntervalBetweenNegativeOneQuarterAnd0Excl(saturatingRoundingMultiplyByPOT(aModQuarterMinusQuarter, intBits))
	remainder := aModQuarterMinusQuarter - a
	for _, s := range [...]struct {
		exp  int
		mult int32
	}{{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308}, {2, 39332535}, {3, 720401}, {4, 242}} {
		if intBits > s.exp && remainder&(1<<(frac+s.exp)) != 0 {
			result = saturatingRoundingDoublingHighMul(result, s.mult)
		}
	}
	if intBits > 5 && a < -(1<<(36-intBits)) {
		result = 0
	}
	if a == 0 {
		result = math.MaxInt32
	}
	return result
}

// logXForXGreaterThanOrEqualTo1 is TFLite's log_x_for_x_greater_than_or_equal_to_1 for an x with
// inBits integer bits, giving log(x) with outBits integer bits.
func logXForXGreaterThanOrEqualTo1(x int32, outBits, inBits int) int32 {
	const (
		log2         = 1488522236
		sqrtSqrtHalf = 1805811301
		sqrtHalf     = 1518500250
		oneQuarter   = 536870912
		alphaN       = 117049297
		alphaD       = 127690142
		alphaI       = 1057819769
		alphaF       = 638450708
	)
	mul := saturatingRoundingDoublingHighMul
	accumBits := outBits + 1
	shiftedQuarter := saturatingRoundingMultiplyByPOT(oneQuarter, -accumBits)
	za := x
	zaHeadroomPlus1 := bits.LeadingZeros32(uint32(za))
	raTmp := saturatingRoundingMultiplyByPOT(za, zaHeadroomPlus1-1)
	ra := saturatingRoundingMultiplyByPOT(mul(raTmp, sqrtHalf), 1)
	zaPow2Adj := saturatingAdd(saturatingRoundingMultiplyByPOT(int32(inBits-zaHeadroomPlus1), 31-accumBits), shiftedQuarter)
	zb := mul(za, sqrtHalf)
	zbHeadroom := bits.LeadingZeros32(uint32(zb)) - 1
	rb := saturatingRoundingMultiplyByPOT(za, zbHeadroom)
	zbPow2Adj := saturatingSub(saturatingRoundingMultiplyByPOT(int32(inBits-zbHeadroom), 31-accumBits), shiftedQuarter)
	r := min(ra, rb)
	zPow2Adj := max(zaPow2Adj, zbPow2Adj)
	p := roundingHalfSum(r, sqrtSqrtHalf)
	q := r - sqrtSqrtHalf
	q += q
	commonSq := mul(q, q)
	num := mul(q, r) + mul(mul(q, commonSq), alphaN)
	denomMinusOne := mul(p, alphaI+q+mul(alphaD, commonSq)) + mul(alphaF, q)
	recip := oneOverOnePlusX(denomMinusOne)
	numScaled := saturatingRoundingMultiplyByPOT(num, -accumBits)
	return saturatingRoundingMultiplyByPOT(mul(zPow2Adj, log2)+mul(numScaled, recip), accumBits-outBits)
}
