package tflite

import "math"

// L2_NORMALIZATION divides each vector along the last dimension by its L2 norm. Float follows
// TFLite: x / max(sqrt(Σx²), 1e-6). 8-bit is TFLite's integer kernel: the sum of squared
// zero-point-shifted values gives a fixed-point inverse square root (Newton-Raphson), and the
// output has TFLite's fixed quantization, scale 1/128 with zero point 128 (uint8) or 0 (int8).

type l2NormKernel struct {
	typ          DataType
	outer, depth int
	zp           int32
}

func newL2Normalization(n *node) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &l2NormKernel{}, nil
}

func (k *l2NormKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	if !(in.typ == Float32 || is8bit(in.typ)) || out.typ != in.typ {
		return n.errorf("%w: L2_NORMALIZATION from %v to %v", errUnsupported, in.typ, out.typ)
	}
	if in.Rank() < 1 {
		return n.errorf("input is a scalar")
	}
	k.depth = in.shape[in.Rank()-1]
	k.outer = numElements(in.shape[:in.Rank()-1])
	if is8bit(in.typ) {
		_, zi, so, zo, err := quantOfInOut(n, in, out)
		if err != nil {
			return err
		}
		want := int32(128)
		if in.typ == Int8 {
			want = 0
		}
		if so != 1.0/128 || zo != want {
			return n.errorf("%w: output quantization (%v, %d), want (1/128, %d)", errUnsupported, so, zo, want)
		}
		if k.depth > 1<<15 {
			return n.errorf("%w: vectors of %d elements (max %d)", errUnsupported, k.depth, 1<<15)
		}
		k.zp = zi
	}
	setShape(out, in.shape)
	return nil
}

func (k *l2NormKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	switch k.typ {
	case Float32:
		src, dst := in.Float32s(), out.Float32s()
		for o := range k.outer {
			row := src[o*k.depth : (o+1)*k.depth]
			var sq float32
			for _, v := range row {
				sq += v * v
			}
			norm := max(float32(math.Sqrt(float64(sq))), 1e-6)
			for i, v := range row {
				dst[o*k.depth+i] = v / norm
			}
		}
	case UInt8:
		l2Quantized(k, in.data, out.data, 128, 0, 255)
	default:
		l2Quantized(k, in.Int8s(), out.Int8s(), 0, -128, 127)
	}
	return nil
}

func l2Quantized[T uint8 | int8](k *l2NormKernel, src, dst []T, zpOut, lo, hi int32) {
	for o := range k.outer {
		row := src[o*k.depth : (o+1)*k.depth]
		var acc int32
		for _, v := range row {
			d := int32(v) - k.zp
			acc += d * d
		}
		mult, shift := invSqrtQuantizedMultiplierExp(acc, -1)
		for i, v := range row {
			d := int32(v) - k.zp
			var r int32
			if zpOut != 0 {
				// uint8: 128*diff rescaled, around 128.
				r = multiplyByQuantizedMultiplier(128*d, mult, shift) + zpOut
			} else {
				// int8: diff rescaled with 7 more bits (output scale 1/128).
				r = multiplyByQuantizedMultiplier(d, mult, shift+7)
			}
			dst[o*k.depth+i] = T(min(max(r, lo), hi))
		}
	}
}
