package tflite

import (
	"math"
)

// SOFTMAX over the last axis.
//
// Float: exp(beta*(x-max)) normalised, with the row maximum subtracted for stability.
// 8-bit: as TFLite's optimized kernel, a 256-entry table holds exp(-beta*scale*d) for every
// possible distance d = max-x between a byte and the row maximum; a row sums its table entries
// and each output is its entry over the sum, quantized to the fixed output scale 1/256.

// Options slot (SoftmaxOptions).
const slotSoftmaxBeta = 0

type softmaxKernel struct {
	beta  float32
	typ   DataType
	rows  int
	depth int
	// 8-bit only.
	table    [256]float32 // table[255-d] = exp(-beta*scale*d)
	outScale float32
	outZP    int32
	qmin     int32
	qmax     int32
}

func newSoftmax(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	beta := n.opts.Float32(slotSoftmaxBeta, 0)
	if math.IsNaN(float64(beta)) || math.IsInf(float64(beta), 0) {
		return nil, n.errorf("invalid beta %v", beta)
	}
	return &softmaxKernel{beta: beta}, nil
}

func (k *softmaxKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	if out.typ != in.typ || !(in.typ == Float32 || is8bit(in.typ)) {
		return n.errorf("%w: SOFTMAX from %v to %v", errUnsupported, in.typ, out.typ)
	}
	if in.Rank() < 1 {
		return n.errorf("SOFTMAX input %q is a scalar", in.name)
	}
	k.depth = in.shape[in.Rank()-1]
	k.rows = 0
	if k.depth > 0 {
		k.rows = in.NumElements() / k.depth
	}
	setShape(out, in.shape)
	if in.typ == Float32 {
		return nil
	}
	si, _, err := quantOf(n, in)
	if err != nil {
		return err
	}
	so, zo, err := quantOf(n, out)
	if err != nil {
		return err
	}
	lo, hi := typeRange(out.typ)
	if math.Abs(float64(so)-1.0/256) > 1e-8 || zo != lo {
		return n.errorf("%w: SOFTMAX %v output quantization (%v, %d), want (%v, %d)",
			errUnsupported, out.typ, so, zo, 1.0/256, lo)
	}
	k.outScale, k.outZP, k.qmin, k.qmax = so, zo, lo, hi
	scale := -si * k.beta
	for d := range 256 {
		k.table[255-d] = float32(math.Exp(float64(scale * float32(d))))
	}
	return nil
}

func (k *softmaxKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	switch k.typ {
	case Float32:
		k.evalFloat(in.Float32s(), out.Float32s())
	case UInt8:
		softmax8(k, in.data, out.data)
	default:
		softmax8(k, in.Int8s(), out.data)
	}
	return nil
}

func (k *softmaxKernel) evalFloat(src, dst []float32) {
	d := k.depth
	beta := float64(k.beta)
	for r := range k.rows {
		x := src[r*d : r*d+d]
		y := dst[r*d : r*d+d]
		m := x[0]
		for _, v := range x[1:] {
			m = max(m, v)
		}
		var sum float64
		done := 0
		if beta > 0 {
			// The exponents are at most 0: the SIMD kernel's e^z (a few units in the last
			// place; math.Exp was 17 of MobileNet's 1100 µs).
			done = ewF32(ewExp, y, x, nil, m, k.beta)
			for _, e := range y[:done] {
				sum += float64(e)
			}
		}
		for i, v := range x[done:] {
			e := math.Exp(float64(v-m) * beta)
			y[done+i] = float32(e)
			sum += e
		}
		inv := 1 / sum
		for i := range y {
			y[i] = float32(float64(y[i]) * inv)
		}
	}
}

func softmax8[T uint8 | int8](k *softmaxKernel, src []T, dst []byte) {
	d := k.depth
	for r := range k.rows {
		x := src[r*d : r*d+d]
		y := dst[r*d : r*d+d]
		m := x[0]
		for _, v := range x[1:] {
			m = max(m, v)
		}
		// The row's entries are table[255-(m-x)]; m-x is in [0, 255].
		base := 255 - int(m)
		var sum float32
		for _, v := range x {
			sum += k.table[base+int(v)]
		}
		inv := 1 / (sum * k.outScale)
		for i, v := range x {
			q := int32(math.Round(float64(k.table[base+int(v)]*inv))) + k.outZP
			y[i] = byte(min(max(q, k.qmin), k.qmax))
		}
	}
}

// LOG_SOFTMAX over the last axis: x - max - log(Σ exp(x - max)). The 8-bit outputs have TFLite's
// fixed quantization, scale 16/256 with zero point 255 (uint8) or 127 (int8). uint8 is TFLite's
// kernel: the softmax table gives the row's sum of exponentials in float, and the output is
// rounded half to even. int8 is its fixed-point kernel: differences from the row maximum in
// Q5.26, their exponentials summed in Q12.19, the log in Q5.26 (gemmlowp's functions).
type logSoftmaxKernel struct {
	typ         DataType
	rows, depth int
	table       [256]float32 // as softmaxKernel's, beta 1
	inScale     float32
	outScale    float32
	// int8.
	inMult, revMult   int32
	inShift, revShift int
	diffMin           int32
}

func newLogSoftmax(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &logSoftmaxKernel{}, nil
}

func (k *logSoftmaxKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	if out.typ != in.typ || !(in.typ == Float32 || is8bit(in.typ)) {
		return n.errorf("%w: LOG_SOFTMAX from %v to %v", errUnsupported, in.typ, out.typ)
	}
	if in.Rank() < 1 {
		return n.errorf("LOG_SOFTMAX input %q is a scalar", in.name)
	}
	k.depth = in.shape[in.Rank()-1]
	k.rows = 0
	if k.depth > 0 {
		k.rows = in.NumElements() / k.depth
	}
	setShape(out, in.shape)
	if in.typ == Float32 {
		return nil
	}
	si, _, so, zo, err := quantOfInOut(n, in, out)
	if err != nil {
		return err
	}
	wantZp := int32(255)
	if in.typ == Int8 {
		wantZp = 127
	}
	if so != 16.0/256 || zo != wantZp {
		return n.errorf("%w: LOG_SOFTMAX %v output quantization (%v, %d), want (16/256, %d)", errUnsupported, in.typ, so, zo, wantZp)
	}
	if in.typ == Int8 {
		// TFLite's PreprocessLogSoftmaxScalingExp and CalculateInputRadius, for 5 integer bits.
		const intBits = 5
		real := min(float64(si)*float64(int64(1)<<(31-intBits)), float64(int64(1)<<31-1))
		k.inMult, k.inShift = quantizeMultiplier(real)
		if k.inShift < 0 {
			return n.errorf("%w: LOG_SOFTMAX input scale %v is too small", errUnsupported, si)
		}
		rev := float64(int64(1)<<(31-k.inShift)) / float64(k.inMult)
		var revLeft int
		k.revMult, revLeft = quantizeMultiplier(rev)
		k.revShift = -revLeft
		radius := math.Floor(float64(int64(1)<<intBits-1) * float64(int64(1)<<(31-intBits)) / float64(int64(1)<<k.inShift))
		k.diffMin = -int32(radius)
		return nil
	}
	k.inScale, k.outScale = si, so
	for d := range 256 {
		k.table[255-d] = float32(math.Exp(float64(-si * float32(d))))
	}
	return nil
}

func (k *logSoftmaxKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	d := k.depth
	if k.typ == Float32 {
		src, dst := in.Float32s(), out.Float32s()
		for r := range k.rows {
			x, y := src[r*d:r*d+d], dst[r*d:r*d+d]
			m := float32(-math.MaxFloat32)
			for _, v := range x {
				m = max(m, v)
			}
			var sum float32
			for _, v := range x {
				sum += float32(math.Exp(float64(v - m)))
			}
			ls := float32(math.Log(float64(sum)))
			for i, v := range x {
				y[i] = v - m - ls
			}
		}
		return nil
	}
	if k.typ == Int8 {
		k.logSoftmaxInt8(in.Int8s(), out.Int8s())
		return nil
	}
	src, dst := in.data, out.data
	scale := k.inScale / k.outScale
	for r := range k.rows {
		x, y := src[r*d:r*d+d], dst[r*d:r*d+d]
		m := x[0]
		for _, v := range x[1:] {
			m = max(m, v)
		}
		base := 255 - int(m)
		var sum float32
		for _, v := range x {
			sum += k.table[base+int(v)]
		}
		logSum := float32(math.Log(float64(sum)))
		pre := (k.inScale*float32(m) + logSum) / k.outScale
		for i, v := range x {
			q := int32(math.RoundToEven(float64(scale*float32(v)-pre))) + 255
			y[i] = byte(min(max(q, 0), 255))
		}
	}
	return nil
}

// logSoftmaxInt8 is TFLite's reference_integer_ops::LogSoftmax.
func (k *logSoftmaxKernel) logSoftmaxInt8(src, dst []int8) {
	const (
		inBits, accumBits, outBits = 5, 12, 4
		outZp                      = 127
	)
	d := k.depth
	for r := range k.rows {
		x, y := src[r*d:r*d+d], dst[r*d:r*d+d]
		m := int8(math.MinInt8)
		for _, v := range x {
			m = max(m, v)
		}
		var sum int32 // Q12.19
		for _, v := range x {
			diff := int32(v) - int32(m)
			if diff >= k.diffMin {
				q5 := multiplyByQuantizedMultiplier(diff, k.inMult, k.inShift)
				sum += saturatingRoundingMultiplyByPOT(expOnNegativeValues(q5, inBits), -accumBits)
			}
		}
		logSum := logXForXGreaterThanOrEqualTo1(sum, inBits, accumBits)
		shifted := logSum + math.MinInt32
		adjMin := max(k.diffMin-1, multiplyByQuantizedMultiplier(shifted, k.revMult, -k.revShift))
		for i, v := range x {
			diff := int32(v) - int32(m)
			if diff <= adjMin {
				y[i] = math.MinInt8
				continue
			}
			q5 := multiplyByQuantizedMultiplier(diff, k.inMult, k.inShift)
			o := roundingDivideByPOT(q5-logSum, 31-inBits-outBits) + outZp
			y[i] = int8(min(max(o, math.MinInt8), math.MaxInt8))
		}
	}
}
