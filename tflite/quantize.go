package tflite

import (
	"math"
	"unsafe"
)

// Helpers shared by the quantized kernels, then QUANTIZE and DEQUANTIZE.

// is8bit reports whether t is one of the 8-bit quantized types.
func is8bit(t DataType) bool { return t == UInt8 || t == Int8 }

// typeRange returns the integer range of an 8-bit or 16-bit quantized type.
func typeRange(t DataType) (int32, int32) {
	switch t {
	case UInt8:
		return 0, math.MaxUint8
	case Int8:
		return math.MinInt8, math.MaxInt8
	case Int16:
		return math.MinInt16, math.MaxInt16
	}
	return math.MinInt32, math.MaxInt32
}

// quantOf returns the per-tensor scale and zero point of a quantized tensor. The scale must be
// positive and finite and the zero point inside the type's range, or requantization arithmetic
// would overflow.
func quantOf(n *node, t *Tensor) (float32, int32, error) {
	q := t.quant
	if q == nil || len(q.Scale) == 0 {
		return 0, 0, n.errorf("%w: %v tensor %q has no quantization parameters", errUnsupported, t.typ, t.name)
	}
	if len(q.Scale) > 1 {
		return 0, 0, n.errorf("%w: %v tensor %q is quantized per channel", errUnsupported, t.typ, t.name)
	}
	scale := q.Scale[0]
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		return 0, 0, n.errorf("tensor %q: invalid quantization scale %v", t.name, scale)
	}
	var zp int64
	if len(q.ZeroPoint) > 0 {
		zp = q.ZeroPoint[0]
	}
	lo, hi := typeRange(t.typ)
	if zp < int64(lo) || zp > int64(hi) {
		return 0, 0, n.errorf("tensor %q: zero point %d out of %v range", t.name, zp, t.typ)
	}
	return scale, int32(zp), nil
}

// quantOfInOut returns quantOf of an op's input and output, checked in that order.
func quantOfInOut(n *node, in, out *Tensor) (inScale float32, inZp int32, outScale float32, outZp int32, err error) {
	if inScale, inZp, err = quantOf(n, in); err != nil {
		return 0, 0, 0, 0, err
	}
	if outScale, outZp, err = quantOf(n, out); err != nil {
		return 0, 0, 0, 0, err
	}
	return inScale, inZp, outScale, outZp, nil
}

// byteValue returns the integer value of raw byte b in an 8-bit tensor of type t.
func byteValue(t DataType, b int) int32 {
	if t == Int8 {
		return int32(int8(uint8(b)))
	}
	return int32(b)
}

// quantizeFloat returns round(v/scale)+zp clamped to [lo, hi], with TFLite's float32 division
// and rounding half away from zero. NaN maps to lo.
func quantizeFloat(v, scale float32, zp, lo, hi int32) int32 {
	r := math.Round(float64(v / scale))
	r += float64(zp)
	if !(r >= float64(lo)) {
		return lo
	}
	if r > float64(hi) {
		return hi
	}
	return int32(r)
}

// lutKernel applies a 256-entry table to 8-bit data. Several 8-bit ops (LOGISTIC, TANH,
// HARD_SWISH, RELUs, requantizing QUANTIZE) are a fixed function of the input byte, so prepare
// computes the function once per possible byte and eval is a lookup.
type lutKernel struct {
	table [256]byte
}

func (k *lutKernel) apply(dst, src []byte) {
	t := &k.table
	dst = dst[:len(src)]
	// Eight lookups a step: the plain loop's speed, about a cycle a byte, swung by half with where
	// the loop landed in the code (SSD's requantizing CONCATENATION: 77 or 150 us).
	for len(src) >= 8 {
		d, s := dst[:8:8], src[:8:8]
		d[0], d[1], d[2], d[3] = t[s[0]], t[s[1]], t[s[2]], t[s[3]]
		d[4], d[5], d[6], d[7] = t[s[4]], t[s[5]], t[s[6]], t[s[7]]
		dst, src = dst[8:], src[8:]
	}
	for i, b := range src {
		dst[i] = t[b]
	}
}

// buildLUT fills the table from f, which maps an input value to an output value (already
// clamped to the output type's range).
func (k *lutKernel) build(in DataType, f func(q int32) int32) {
	for b := range 256 {
		k.table[b] = byte(f(byteValue(in, b)))
	}
}

// buildReal fills the table the way TFLite's LUTPopulate does: each input byte is dequantized,
// f is applied in float32, and the result is quantized with rounding half away from zero and
// clamped to the output type (an infinite result clamps, NaN gives the type's minimum).
func (k *lutKernel) buildReal(in DataType, si float32, zi int32, so float32, zo int32, out DataType, f func(float32) float32) {
	inv := 1 / so
	lo, hi := typeRange(out)
	k.build(in, func(q int32) int32 {
		y := f(si * float32(q-zi))
		r := math.Round(float64(y*inv)) + float64(zo)
		switch {
		case !(r >= float64(lo)):
			return lo
		case r > float64(hi):
			return hi
		}
		return int32(r)
	})
}

type quantizeKernel struct {
	lutKernel
	in, out DataType
	scale   float32
	zp      int32
	lo, hi  int32
}

func newQuantize(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &quantizeKernel{}, nil
}

func (k *quantizeKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.in, k.out = in.typ, out.typ
	if !is8bit(out.typ) || !(in.typ == Float32 || is8bit(in.typ)) {
		return n.errorf("%w: QUANTIZE from %v to %v", errUnsupported, in.typ, out.typ)
	}
	oScale, oZP, err := quantOf(n, out)
	if err != nil {
		return err
	}
	k.scale, k.zp = oScale, oZP
	k.lo, k.hi = typeRange(out.typ)
	if is8bit(in.typ) {
		iScale, iZP, err := quantOf(n, in)
		if err != nil {
			return err
		}
		mult, shift := quantizeMultiplier(float64(iScale) / float64(oScale))
		k.build(in.typ, func(q int32) int32 {
			v := multiplyByQuantizedMultiplier(q-iZP, mult, shift) + oZP
			return min(max(v, k.lo), k.hi)
		})
	}
	setShape(out, in.shape)
	return nil
}

func (k *quantizeKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if k.in != Float32 {
		k.apply(out.data, in.data)
		return nil
	}
	src := in.Float32s()
	dst := out.data[:len(src)]
	i := 0
	if quantFKernel && len(src) >= 8 {
		i = len(src) &^ 7
		runQuantF(&quantFArgs{dst: unsafe.Pointer(&dst[0]), src: unsafe.Pointer(&src[0]), n: i,
			scale: k.scale, zp: float32(k.zp), lo: float32(k.lo), hi: float32(k.hi)})
	}
	for ; i < len(src); i++ {
		dst[i] = byte(quantizeFloat(src[i], k.scale, k.zp, k.lo, k.hi))
	}
	return nil
}

// quantFArgs is what the float32 QUANTIZE kernel reads (the assembly relies on this layout):
// dst[i] = quantizeFloat(src[i], scale, zp, lo, hi) for i < n, a positive multiple of 8.
type quantFArgs struct {
	dst, src          unsafe.Pointer
	n                 int
	scale, zp, lo, hi float32
}

type dequantizeKernel struct {
	in    DataType
	table [256]float32 // for per-tensor 8-bit inputs: the real value of each raw byte
	// Per-channel 8-bit inputs (weights of dynamic-range models): one scale and zero point per
	// index of the quantized dimension, which has inner elements below it.
	scales []float64
	zps    []int32
	inner  int
}

func newDequantize(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &dequantizeKernel{}, nil
}

func (k *dequantizeKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.in = in.typ
	if out.typ != Float32 || !(is8bit(in.typ) || in.typ == Float16) {
		return n.errorf("%w: DEQUANTIZE from %v to %v", errUnsupported, in.typ, out.typ)
	}
	k.scales, k.zps = nil, nil
	if is8bit(in.typ) && in.quant.PerChannel() {
		return k.preparePerChannel(n)
	}
	if is8bit(in.typ) {
		scale, zp, err := quantOf(n, in)
		if err != nil {
			return err
		}
		for b := range 256 {
			// TFLite computes in double, then narrows.
			k.table[b] = float32(float64(scale) * float64(byteValue(in.typ, b)-zp))
		}
	}
	setShape(out, in.shape)
	return nil
}

func (k *dequantizeKernel) preparePerChannel(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	q := in.quant
	axis, count := q.Axis, len(q.Scale)
	if axis < 0 || axis >= in.Rank() || in.shape[axis] != count || len(q.ZeroPoint) != count {
		return n.errorf("tensor %q: %d scales and %d zero points for dimension %d of shape %v",
			in.name, count, len(q.ZeroPoint), axis, in.shape)
	}
	lo, hi := typeRange(in.typ)
	k.scales = make([]float64, count)
	k.zps = make([]int32, count)
	for c := range count {
		s, zp := q.Scale[c], q.ZeroPoint[c]
		if !(s > 0) || math.IsInf(float64(s), 0) || zp < int64(lo) || zp > int64(hi) {
			return n.errorf("tensor %q: invalid quantization (%v, %d) of channel %d", in.name, s, zp, c)
		}
		k.scales[c], k.zps[c] = float64(s), int32(zp)
	}
	k.inner = numElements(in.shape[axis+1:])
	setShape(out, in.shape)
	return nil
}

func (k *dequantizeKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	dst := out.Float32s()
	if k.scales != nil {
		src := in.data[:len(dst)]
		i := 0
		for i < len(src) {
			for c, s := range k.scales {
				zp := k.zps[c]
				for _, b := range src[i : i+k.inner] {
					dst[i] = float32(s * float64(byteValue(k.in, int(b))-zp))
					i++
				}
			}
		}
		return nil
	}
	if k.in == Float16 {
		src := viewAs[uint16](in.data)
		dst = dst[:len(src)]
		for i, h := range src {
			dst[i] = halfToFloat(h)
		}
		return nil
	}
	src := in.data
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = k.table[b]
	}
	return nil
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal half: value = frac * 2^-24, exact in float32.
	f := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}
