package tflite

import "math"

// Elementwise math: SQRT, RSQRT, EXP, LOG, FLOOR, ABS, NEG, SQUARE.
//
// Types are TFLite's: all take float32; ABS also int8 (quantized), int16 and int32, NEG int32 and
// int64; SQRT, RSQRT, EXP and LOG also quantized int8. An int8 result is a fixed function of the
// input byte, so prepare tabulates it with TFLite's own arithmetic: SQRT dequantizes, takes the
// float square root and truncates at the output scale; RSQRT uses TFLite's fixed-point inverse
// square root; EXP and LOG quantize the float function (LOG maps x <= 0 to the output's minimum);
// ABS rescales |q - zp|. As in TFLite, an int8 SQRT or RSQRT input below zero is an Invoke error.

type unaryOp int

const (
	unarySqrt unaryOp = iota
	unaryRsqrt
	unaryExp
	unaryLog
	unaryFloor
	unaryAbs
	unaryNeg
	unarySquare
)

var unaryNames = [...]string{"SQRT", "RSQRT", "EXP", "LOG", "FLOOR", "ABS", "NEG", "SQUARE"}

type unaryKernel struct {
	lutKernel
	op  unaryOp
	typ DataType
	// bad marks the int8 input bytes the op is not defined for (SQRT and RSQRT of negatives).
	bad    [256]bool
	anyBad bool
}

func newUnary(n *node, op unaryOp) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &unaryKernel{op: op}, nil
}

func newSqrt(n *node) (kernel, error)   { return newUnary(n, unarySqrt) }
func newRsqrt(n *node) (kernel, error)  { return newUnary(n, unaryRsqrt) }
func newExp(n *node) (kernel, error)    { return newUnary(n, unaryExp) }
func newLog(n *node) (kernel, error)    { return newUnary(n, unaryLog) }
func newFloor(n *node) (kernel, error)  { return newUnary(n, unaryFloor) }
func newAbs(n *node) (kernel, error)    { return newUnary(n, unaryAbs) }
func newNeg(n *node) (kernel, error)    { return newUnary(n, unaryNeg) }
func newSquare(n *node) (kernel, error) { return newUnary(n, unarySquare) }

// unaryTypes lists the types each op takes besides float32.
var unaryTypes = [...][]DataType{
	unarySqrt:  {Int8},
	unaryRsqrt: {Int8},
	unaryExp:   {Int8},
	unaryLog:   {Int8},
	unaryAbs:   {Int8, Int16, Int32},
	unaryNeg:   {Int32, Int64},
	unaryFloor: nil, unarySquare: nil,
}

func (k *unaryKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	ok := in.typ == Float32
	for _, t := range unaryTypes[k.op] {
		ok = ok || in.typ == t
	}
	if !ok || out.typ != in.typ {
		return n.errorf("%w: %s from %v to %v", errUnsupported, unaryNames[k.op], in.typ, out.typ)
	}
	if in.typ == Int8 {
		if err := k.prepareInt8(n); err != nil {
			return err
		}
	}
	setShape(out, in.shape)
	return nil
}

func (k *unaryKernel) prepareInt8(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	si, zi, so, zo, err := quantOfInOut(n, in, out)
	if err != nil {
		return err
	}
	lo, hi := typeRange(Int8)
	clamp := func(v int32) int32 { return min(max(v, lo), hi) }
	k.anyBad = false
	k.bad = [256]bool{}
	switch k.op {
	case unaryAbs:
		mult, shift := quantizeMultiplier(float64(si) / float64(so))
		rescale := si != so
		k.build(Int8, func(q int32) int32 {
			v := q - zi
			if v < 0 {
				v = -v
			}
			if rescale {
				v = multiplyByQuantizedMultiplier(v, mult, shift)
			}
			return clamp(v + zo)
		})
	case unarySqrt:
		k.build(Int8, func(q int32) int32 {
			x := si * float32(q-zi)
			if !(x >= 0) {
				k.bad[uint8(q)] = true
				return 0
			}
			y := float32(math.Sqrt(float64(x)))
			return clamp(truncToInt32(y/so) + zo)
		})
	case unaryRsqrt:
		mult, shift := quantizeMultiplier(1 / (math.Sqrt(float64(si)) * float64(so)))
		const extra = 20 // TFLite's shift keeping the intermediate an integer
		k.build(Int8, func(q int32) int32 {
			v := q - zi
			switch {
			case v < 0:
				k.bad[uint8(q)] = true
				return 0
			case v == 0:
				return hi
			}
			im, is := invSqrtQuantizedMultiplierExp(v, -1)
			d := multiplyByQuantizedMultiplier(1, im, is+extra)
			return clamp(multiplyByQuantizedMultiplier(d, mult, shift-extra) + zo)
		})
	case unaryExp:
		k.buildReal(Int8, si, zi, so, zo, Int8, func(x float32) float32 { return float32(math.Exp(float64(x))) })
	case unaryLog:
		outMin := float32(lo-zo) * so
		k.buildReal(Int8, si, zi, so, zo, Int8, func(x float32) float32 {
			if x <= 0 {
				return outMin
			}
			return float32(math.Log(float64(x)))
		})
	}
	for _, b := range k.bad {
		k.anyBad = k.anyBad || b
	}
	return nil
}

// truncToInt32 is C++'s static_cast<int>(float) for in-range values, saturating outside.
func truncToInt32(x float32) int32 {
	switch {
	case x != x:
		return 0
	case x <= math.MinInt32:
		return math.MinInt32
	case x >= math.MaxInt32:
		return math.MaxInt32
	}
	return int32(x)
}

func (k *unaryKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	switch k.typ {
	case Int8:
		if k.anyBad {
			for _, b := range in.data {
				if k.bad[b] {
					return n.errorf("%s of a negative value (%d)", unaryNames[k.op], int8(b))
				}
			}
		}
		k.apply(out.data, in.data)
	case Int16:
		unaryInt(k.op, viewAs[int16](in.data), viewAs[int16](out.data))
	case Int32:
		unaryInt(k.op, in.Int32s(), out.Int32s())
	case Int64:
		unaryInt(k.op, in.Int64s(), out.Int64s())
	default:
		unaryFloat(k.op, in.Float32s(), out.Float32s())
	}
	return nil
}

func unaryInt[T int16 | int32 | int64](op unaryOp, src, dst []T) {
	dst = dst[:len(src)]
	if op == unaryNeg {
		for i, v := range src {
			dst[i] = -v
		}
		return
	}
	for i, v := range src {
		if v < 0 {
			v = -v
		}
		dst[i] = v
	}
}

func unaryFloat(op unaryOp, src, dst []float32) {
	dst = dst[:len(src)]
	switch op {
	case unarySqrt:
		for i, v := range src {
			dst[i] = float32(math.Sqrt(float64(v)))
		}
	case unaryRsqrt:
		for i, v := range src {
			dst[i] = 1 / float32(math.Sqrt(float64(v)))
		}
	case unaryExp:
		for i, v := range src {
			dst[i] = float32(math.Exp(float64(v)))
		}
	case unaryLog:
		for i, v := range src {
			dst[i] = float32(math.Log(float64(v)))
		}
	case unaryFloor:
		for i, v := range src {
			dst[i] = float32(math.Floor(float64(v)))
		}
	case unaryAbs:
		for i, v := range src {
			dst[i] = float32(math.Abs(float64(v)))
		}
	case unaryNeg:
		for i, v := range src {
			dst[i] = -v
		}
	case unarySquare:
		for i, v := range src {
			dst[i] = v * v
		}
	}
}
