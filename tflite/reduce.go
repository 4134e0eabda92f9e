package tflite

import "math"

// SUM, REDUCE_MAX, REDUCE_MIN and REDUCE_PROD over a set of axes, with or without keep_dims
// (MEAN is in mean.go). Axes may repeat and may be negative; an axis tensor computed at run time
// makes the output shape a run-time shape.
//
// Numbers reduce as they are (int32 and int64 sums and products wrap). An empty reduction gives
// the reducer's initial value: 0, 1, or the type's lowest or highest value (±MaxFloat32 for
// float32), as in TFLite. 8-bit inputs follow TFLite:
//   - REDUCE_MAX and REDUCE_MIN compare raw values; input and output share one quantization.
//   - SUM adds the raw values in int32 and converts round(sum*s + b) + zp_out with s the scale
//     ratio and b the input zero point's share, in float32, as TFLite's optimized kernel does:
//     like it, the result is not clamped, so a sum beyond the output's range wraps.
//   - REDUCE_PROD (int8) multiplies the zero-point-shifted values in int32, rescaling each step by
//     in_scale / out_scale^(1/n) with TFLite's 64-bit fixed-point multiply.

type reduceOp int

const (
	reduceSum reduceOp = iota
	reduceMax
	reduceMin
	reduceProd
)

var reduceNames = [...]string{"SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"}

type reduceKernel struct {
	op       reduceOp
	keepDims bool
	typ      DataType
	// w walks the input contiguously; its destination strides address the output (0 on reduced
	// dimensions).
	w       walk
	outSize int
	count   int // input elements per output
	// 8-bit.
	quantized bool
	zpIn      int32
	zpOut     int32
	scale     float32 // SUM: in_scale / out_scale
	mult      int32   // REDUCE_PROD: per-step rescale
	shift     int
	qlo, qhi  int32
}

func newReduce(n *node, op reduceOp) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &reduceKernel{op: op, keepDims: n.opts.Bool(slotReducerKeepDims, false)}, nil
}

func newSum(n *node) (kernel, error)        { return newReduce(n, reduceSum) }
func newReduceMax(n *node) (kernel, error)  { return newReduce(n, reduceMax) }
func newReduceMin(n *node) (kernel, error)  { return newReduce(n, reduceMin) }
func newReduceProd(n *node) (kernel, error) { return newReduce(n, reduceProd) }

func (k *reduceKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	switch in.typ {
	case Float32, Int32, Int64, UInt8, Int8, Int16:
	default:
		return n.errorf("%w: %s of %v", errUnsupported, reduceNames[k.op], in.typ)
	}
	if out.typ != in.typ {
		return n.errorf("%w: %s from %v to %v", errUnsupported, reduceNames[k.op], in.typ, out.typ)
	}
	shape, w, count, err := reduction(n, in, n.inputs[1], k.keepDims)
	if err != nil {
		return err
	}
	k.w, k.count, k.outSize = w, count, numElements(shape)
	k.quantized = false
	switch {
	case is8bit(in.typ) && in.quant != nil && (k.op == reduceSum || k.op == reduceProd):
		if err := k.prepareQuantized(n); err != nil {
			return err
		}
	case is8bit(in.typ) && (k.op == reduceMax || k.op == reduceMin):
		if err := sameQuantization(n, in, out); err != nil {
			return err
		}
	}
	setShape(out, shape)
	return nil
}

func (k *reduceKernel) prepareQuantized(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if k.op == reduceProd && in.typ != Int8 {
		return n.errorf("%w: quantized REDUCE_PROD of %v (want int8)", errUnsupported, in.typ)
	}
	si, zi, so, zo, err := quantOfInOut(n, in, out)
	if err != nil {
		return err
	}
	k.quantized = true
	k.zpIn, k.zpOut = zi, zo
	k.qlo, k.qhi = typeRange(in.typ)
	if k.op == reduceSum {
		k.scale = si / so
		n.scratchSize = 4 * k.outSize
		return nil
	}
	if k.count > 0 && k.outSize > 0 {
		k.mult, k.shift = quantizeMultiplier(float64(si) / math.Pow(float64(so), 1/float64(k.count)))
	}
	n.scratchSize = 5 * k.outSize // int32 products and a first-element flag each
	return nil
}

// reduceWalk calls f(o, v) for every input element v in memory order, o being its output index.
func reduceWalk[T any](w *walk, src []T, f func(o int, v T)) {
	if w.empty() {
		return
	}
	r := w.rank
	if r == 0 {
		f(0, src[0])
		return
	}
	inner := w.count[r-1]
	ds := w.dstStride[r-1]
	var idx [maxDims]int
	d, s := 0, 0
	for {
		o := d
		for _, v := range src[s : s+inner] {
			f(o, v)
			o += ds
		}
		s += inner
		k := r - 2
		for ; k >= 0; k-- {
			idx[k]++
			d += w.dstStride[k]
			if idx[k] < w.count[k] {
				break
			}
			d -= w.dstStride[k] * w.count[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

func (k *reduceKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if k.outSize == 0 {
		return nil
	}
	switch {
	case k.quantized && k.op == reduceSum:
		acc := viewAs[int32](n.scratch)[:k.outSize]
		clear(acc)
		if k.typ == UInt8 {
			reduceWalk(&k.w, in.data, func(o int, v uint8) { acc[o] += int32(v) })
		} else {
			reduceWalk(&k.w, in.Int8s(), func(o int, v int8) { acc[o] += int32(v) })
		}
		bias := -float32(k.zpIn) * k.scale * float32(k.count)
		for i, s := range acc {
			v := int32(math.Round(float64(float32(s)*k.scale+bias))) + k.zpOut
			out.data[i] = byte(v) // wraps, as TFLite's unclamped static_cast does
		}
	case k.quantized:
		acc := viewAs[int32](n.scratch)[:k.outSize]
		seen := n.scratch[4*k.outSize : 5*k.outSize]
		clear(seen)
		zp, mult, shift := k.zpIn, k.mult, k.shift
		reduceWalk(&k.w, in.Int8s(), func(o int, v int8) {
			if seen[o] == 0 {
				acc[o], seen[o] = int32(v)-zp, 1
				return
			}
			acc[o] = multiplyByQuantizedMultiplier64(int64(acc[o])*int64(int32(v)-zp), mult, shift)
		})
		dst := out.Int8s()
		for i, p := range acc {
			v := multiplyByQuantizedMultiplier64(int64(p), mult, shift) + k.zpOut
			dst[i] = int8(min(max(v, k.qlo), k.qhi))
		}
	default:
		switch k.typ {
		case Float32:
			reduceRaw(k, in.Float32s(), out.Float32s(), -math.MaxFloat32, math.MaxFloat32)
		case Int32:
			reduceRaw(k, in.Int32s(), out.Int32s(), math.MinInt32, math.MaxInt32)
		case Int64:
			reduceRaw(k, in.Int64s(), out.Int64s(), math.MinInt64, math.MaxInt64)
		case UInt8:
			reduceRaw(k, in.data, out.data, 0, math.MaxUint8)
		case Int8:
			reduceRaw(k, in.Int8s(), out.Int8s(), math.MinInt8, math.MaxInt8)
		case Int16:
			reduceRaw(k, viewAs[int16](in.data), viewAs[int16](out.data), math.MinInt16, math.MaxInt16)
		}
	}
	return nil
}

// reduceRaw reduces numbers as they are into dst; lowest and highest are T's range.
func reduceRaw[T ordered](k *reduceKernel, src, dst []T, lowest, highest T) {
	dst = dst[:k.outSize]
	switch k.op {
	case reduceSum:
		clear(dst)
		reduceWalk(&k.w, src, func(o int, v T) { dst[o] += v })
	case reduceProd:
		for i := range dst {
			dst[i] = 1
		}
		reduceWalk(&k.w, src, func(o int, v T) { dst[o] *= v })
	case reduceMax:
		for i := range dst {
			dst[i] = lowest
		}
		reduceWalk(&k.w, src, func(o int, v T) {
			if v > dst[o] {
				dst[o] = v
			}
		})
	default:
		for i := range dst {
			dst[i] = highest
		}
		reduceWalk(&k.w, src, func(o int, v T) {
			if v < dst[o] {
				dst[o] = v
			}
		})
	}
}
