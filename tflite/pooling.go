package tflite

import "math"

// AVERAGE_POOL_2D and MAX_POOL_2D over NHWC tensors. Windows count only the input elements
// inside the image (padding never enters an average). The 8-bit versions work on the raw
// values, since input and output share their quantization, and round the average half away from
// zero with integer division, as TFLite's reference kernels do.

// Pool2DOptions slots in the TFLite schema.
const (
	poolOptPadding = 0
	poolOptStrideW = 1
	poolOptStrideH = 2
	poolOptFilterW = 3
	poolOptFilterH = 4
	poolOptAct     = 5
)

// poolMinRowsPerSlot is the number of output rows below which a worker is not worth it.
const poolMinRowsPerSlot = 4

type pool2D struct {
	slotScratch
	average          bool
	padding          int8
	strideW, strideH int
	filterW, filterH int
	act              int8
	typ              DataType
	batch            int
	inH, inW, c      int
	wy, wx           window
	lo, hi           float32 // float activation clamp
	qlo, qhi         int32   // 8-bit activation clamp
	n                *node
}

func newAveragePool2D(n *node) (kernel, error) { return newPool2D(n, true) }

func newMaxPool2D(n *node) (kernel, error) { return newPool2D(n, false) }

func newPool2D(n *node, average bool) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	k := &pool2D{
		average: average,
		padding: n.opts.Int8(poolOptPadding, paddingSame),
		strideW: int(n.opts.Int32(poolOptStrideW, 1)),
		strideH: int(n.opts.Int32(poolOptStrideH, 1)),
		filterW: int(n.opts.Int32(poolOptFilterW, 1)),
		filterH: int(n.opts.Int32(poolOptFilterH, 1)),
		act:     n.opts.Int8(poolOptAct, actNone),
	}
	if err := checkFusedActivation(n, k.act); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *pool2D) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if in.Rank() != 4 {
		return n.errorf("input must have rank 4, got shape %v", in.shape)
	}
	k.batch, k.inH, k.inW, k.c = in.shape[0], in.shape[1], in.shape[2], in.shape[3]
	k.typ = in.typ
	if out.typ != in.typ {
		return n.errorf("output type %v differs from input type %v", out.typ, in.typ)
	}
	switch {
	case in.typ == Float32:
		k.lo, k.hi = activationRangeFloat(k.act)
	case is8bit(in.typ):
		si, zi, so, zo, err := quantOfInOut(n, in, out)
		if err != nil {
			return err
		}
		// The kernel pools raw values, which is only right if both sides share quantization.
		if math.Abs(float64(si)-float64(so)) > 1e-6 || zi != zo {
			return n.errorf("%w: input quantization (%v, %d) differs from output (%v, %d)", errUnsupported, si, zi, so, zo)
		}
		qmin, qmax := typeRange(in.typ)
		k.qlo, k.qhi = activationRangeQuantized(k.act, so, zo, qmin, qmax)
	default:
		return n.errorf("%w: %v input", errUnsupported, in.typ)
	}
	var err error
	if k.wy, err = newWindow(k.padding, k.inH, k.filterH, k.strideH, 1); err != nil {
		return n.errorf("height: %w", err)
	}
	if k.wx, err = newWindow(k.padding, k.inW, k.filterW, k.strideW, 1); err != nil {
		return n.errorf("width: %w", err)
	}
	setShape(out, []int{k.batch, k.wy.out, k.wx.out, k.c})
	k.setScratch(n, (k.c*4+63)&^63) // one pixel's float32 or int32 accumulators
	return nil
}

func (k *pool2D) eval(n *node) error {
	rows := k.batch * k.wy.out
	if rows == 0 || k.c == 0 {
		return nil // an empty output
	}
	k.n = n
	n.pool.do(rows, poolMinRowsPerSlot, 1, k)
	k.n = nil
	return nil
}

// run computes output rows [r0, r1) (batch*height) with slot's scratch.
func (k *pool2D) run(r0, r1, slot int) {
	n := k.n
	scratch := k.scratchFor(n, slot)
	in, out := n.inputs[0], n.outputs[0]
	switch k.typ {
	case Float32:
		if k.simdPoolF32() {
			k.rowsF32SIMD(in.Float32s(), out.Float32s(), r0, r1)
			return
		}
		k.rowsF32(in.Float32s(), out.Float32s(), viewAs[float32](scratch)[:k.c], r0, r1)
	case UInt8:
		poolRowsQ(k, in.UInt8s(), out.UInt8s(), viewAs[int32](scratch)[:k.c], r0, r1)
	case Int8:
		poolRowsQ(k, in.Int8s(), out.Int8s(), viewAs[int32](scratch)[:k.c], r0, r1)
	}
}

func (k *pool2D) rowsF32(in, out, acc []float32, r0, r1 int) {
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		fy0, fy1 := taps(&k.wy, oy)
		iy0 := oy*k.wy.stride - k.wy.pad
		for ox := 0; ox < k.wx.out; ox++ {
			fx0, fx1 := taps(&k.wx, ox)
			ix0 := ox*k.wx.stride - k.wx.pad
			if k.average {
				clear(acc)
			} else {
				fill(acc, -math.MaxFloat32)
			}
			for fy := fy0; fy < fy1; fy++ {
				for fx := fx0; fx < fx1; fx++ {
					src := in[((b*k.inH+iy0+fy)*k.inW+ix0+fx)*k.c:][:len(acc)]
					if k.average {
						for c, v := range src {
							acc[c] += v
						}
					} else {
						for c, v := range src {
							acc[c] = max(acc[c], v)
						}
					}
				}
			}
			dst := out[((b*k.wy.out+oy)*k.wx.out+ox)*k.c:][:len(acc)]
			count := float32(max(1, (fy1-fy0)*(fx1-fx0)))
			for c, v := range acc {
				if k.average {
					v /= count
				}
				dst[c] = min(max(v, k.lo), k.hi)
			}
		}
	}
}

func poolRowsQ[T uint8 | int8](k *pool2D, in, out []T, acc []int32, r0, r1 int) {
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		fy0, fy1 := taps(&k.wy, oy)
		iy0 := oy*k.wy.stride - k.wy.pad
		for ox := 0; ox < k.wx.out; ox++ {
			fx0, fx1 := taps(&k.wx, ox)
			ix0 := ox*k.wx.stride - k.wx.pad
			if k.average {
				clear(acc)
			} else {
				fill(acc, math.MinInt32)
			}
			for fy := fy0; fy < fy1; fy++ {
				for fx := fx0; fx < fx1; fx++ {
					src := in[((b*k.inH+iy0+fy)*k.inW+ix0+fx)*k.c:][:len(acc)]
					if k.average {
						for c, v := range src {
							acc[c] += int32(v)
						}
					} else {
						for c, v := range src {
							acc[c] = max(acc[c], int32(v))
						}
					}
				}
			}
			dst := out[((b*k.wy.out+oy)*k.wx.out+ox)*k.c:][:len(acc)]
			count := int32(max(1, (fy1-fy0)*(fx1-fx0)))
			for c, v := range acc {
				if k.average {
					// Round half away from zero; Go's division truncates like C's.
					if v > 0 {
						v = (v + count/2) / count
					} else {
						v = (v - count/2) / count
					}
				}
				dst[c] = T(min(max(v, k.qlo), k.qhi))
			}
		}
	}
}
