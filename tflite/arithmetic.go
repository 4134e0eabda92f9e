package tflite

import "math"

// ADD, SUB and MUL: elementwise with NumPy broadcasting and a fused activation.
//
// 8-bit ADD and SUB follow TFLite: both inputs are shifted left by 20 bits and rescaled to a
// common scale (twice the larger input scale), summed, and rescaled to the output. Because each
// rescaled input depends only on its input byte, prepare tabulates them (256 entries per input)
// and eval only sums, rescales once and clamps. SUB negates the second input's multiplier, as
// TFLite does when it runs SUB on its ADD kernel. 8-bit MUL multiplies the zero-point-shifted
// inputs and rescales the product once.

// Options slots (AddOptions, SubOptions, MulOptions).
const (
	slotArithActivation = 0
)

// arithMinChunk is the number of output elements below which splitting rows over the worker
// pool costs more than it saves.
const arithMinChunk = 16 << 10

// arithLUTMin is the output size from which an 8-bit op tabulates its results (see lut).
const arithLUTMin = 16 << 10

type arithKernel struct {
	op   int
	act  int8
	typ  DataType
	plan broadcastPlan

	// Clamp bounds of the fused activation for float32 and int32.
	fmin, fmax float32
	imin, imax int32

	// 8-bit: per-input tables indexed by raw byte, and the output rescale.
	tabA, tabB [256]int32
	outRescale rescaler
	outZP      int32
	qmin, qmax int32
	// lut is the 8-bit result for every pair of input bytes (a<<8 | b), for ops large enough
	// that tabulating 64 Ki results at prepare beats computing each one (the rescale is about 9
	// ns an element in Go): nil for small ones.
	lut *[1 << 16]byte
	// simd: rows run on the SIMD kernel (rowsSIMD) with simdArgs' constants (see setSIMD).
	simd     bool
	simdArgs arithQArgs
	scaleA   operandScale
	scaleB   operandScale

	// segs splits each row of the plan into this many pieces of work, for plans of few long
	// rows (two same-shape tensors are one row).
	segs int

	// Operands of the current eval, for the pool's run callback.
	a, b, out []byte
}

func newArith(n *node, op int) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	act := n.opts.Int8(slotArithActivation, actNone)
	if act < actNone || act > actRelu6 {
		return nil, n.errorf("%w: fused activation %d", errUnsupported, act)
	}
	return &arithKernel{op: op, act: act}, nil
}

func newAdd(n *node) (kernel, error) { return newArith(n, opAdd) }

func newSub(n *node) (kernel, error) { return newArith(n, opSub) }

func newMul(n *node) (kernel, error) { return newArith(n, opMul) }

func (k *arithKernel) prepare(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	k.typ = a.typ
	if b.typ != a.typ || out.typ != a.typ {
		return n.errorf("%w: input types %v and %v with output %v", errUnsupported, a.typ, b.typ, out.typ)
	}
	switch a.typ {
	case Float32:
		k.fmin, k.fmax = activationRangeFloat(k.act)
	case Int32:
		k.imin, k.imax = math.MinInt32, math.MaxInt32
		switch k.act {
		case actRelu:
			k.imin = 0
		case actRelu6:
			k.imin, k.imax = 0, 6
		case actReluN1To1:
			k.imin, k.imax = -1, 1
		}
	case Int64:
		if k.act != actNone {
			return n.errorf("%w: fused activation on int64", errUnsupported)
		}
	case UInt8, Int8:
		if err := k.prepareQuantized(n); err != nil {
			return err
		}
	default:
		return n.errorf("%w: type %v", errUnsupported, a.typ)
	}
	var err error
	if k.plan, err = prepareBroadcast(n, a, b, out); err != nil {
		return err
	}
	if a.typ == UInt8 || a.typ == Int8 {
		k.setSIMD(k.scaleA, k.scaleB)
	}
	if (a.typ == UInt8 || a.typ == Int8) && !k.simd && k.lut == nil && k.plan.elements >= arithLUTMin {
		k.lut = new([1 << 16]byte)
		for x := range 256 {
			for y := range 256 {
				k.lut[x<<8|y] = k.quantized(byte(x), byte(y))
			}
		}
	}
	return nil
}

// quantized returns the 8-bit result for input bytes x and y.
func (k *arithKernel) quantized(x, y byte) byte {
	var v int32
	if k.op == opMul {
		v = k.outRescale.apply(k.tabA[x]*k.tabB[y]) + k.outZP
	} else {
		v = k.outRescale.apply(k.tabA[x]+k.tabB[y]) + k.outZP
	}
	return byte(min(max(v, k.qmin), k.qmax))
}

func (k *arithKernel) prepareQuantized(n *node) error {
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
	k.outZP = zo
	lo, hi := typeRange(k.typ)
	k.qmin, k.qmax = activationRangeQuantized(k.act, so, zo, lo, hi)
	k.scaleA, k.scaleB = operandScale{zp: za}, operandScale{zp: zb}
	if k.op == opMul {
		k.outRescale = newRescaler(quantizeMultiplier(float64(sa) * float64(sb) / float64(so)))
		for i := range 256 {
			k.tabA[i] = byteValue(k.typ, i) - za
			k.tabB[i] = byteValue(k.typ, i) - zb
		}
		return nil
	}
	const leftShift = 20
	twiceMax := 2 * float64(max(sa, sb))
	ma, sha := quantizeMultiplier(float64(sa) / twiceMax)
	mb, shb := quantizeMultiplier(float64(sb) / twiceMax)
	k.outRescale = newRescaler(quantizeMultiplier(twiceMax / (float64(int64(1)<<leftShift) * float64(so))))
	if k.op == opSub {
		mb = -mb
	}
	k.scaleA, k.scaleB = operandScale{za, ma, sha}, operandScale{zb, mb, shb}
	for i := range 256 {
		k.tabA[i] = multiplyByQuantizedMultiplier((byteValue(k.typ, i)-za)*(1<<leftShift), ma, sha)
		k.tabB[i] = multiplyByQuantizedMultiplier((byteValue(k.typ, i)-zb)*(1<<leftShift), mb, shb)
	}
	return nil
}

func (k *arithKernel) eval(n *node) error {
	k.a, k.b, k.out = n.inputs[0].data, n.inputs[1].data, n.outputs[0].data
	if k.plan.rows > 0 {
		k.segs = 1
		if n.pool != nil && k.plan.rows < 2*n.pool.threads {
			k.segs = max(1, min(n.pool.threads, k.plan.inner/arithMinChunk))
		}
		part := max(1, arithMinChunk/max(k.plan.inner/k.segs, 1))
		n.pool.do(k.plan.rows*k.segs, part, max(1, part/4), k)
	}
	k.a, k.b, k.out = nil, nil, nil
	return nil
}

// run computes pieces [lo, hi) of the output (see segment).
func (k *arithKernel) run(lo, hi, _ int) {
	switch k.typ {
	case Float32:
		binaryRows(k, lo, hi, viewAs[float32](k.a), viewAs[float32](k.b), viewAs[float32](k.out), k.fmin, k.fmax)
	case Int32:
		binaryRows(k, lo, hi, viewAs[int32](k.a), viewAs[int32](k.b), viewAs[int32](k.out), k.imin, k.imax)
	case Int64:
		binaryRows(k, lo, hi, viewAs[int64](k.a), viewAs[int64](k.b), viewAs[int64](k.out), math.MinInt64, math.MaxInt64)
	default:
		k.quantizedRows(lo, hi)
	}
}

// segment returns where piece u of the output starts (its offsets in out, a and b) and its
// length: piece u is part u%segs of row u/segs.
func (k *arithKernel) segment(u int) (o, ia, ib, n int) {
	p := &k.plan
	r, s := u/k.segs, u%k.segs
	o, ia, ib = p.row(r)
	c0, c1 := s*p.inner/k.segs, (s+1)*p.inner/k.segs
	return o + c0, ia + c0*p.innerA, ib + c0*p.innerB, c1 - c0
}

// binaryRows computes pieces [lo, hi) of a float or integer ADD, SUB or MUL, clamped to
// [cmin, cmax].
func binaryRows[T float32 | int32 | int64](k *arithKernel, lo, hi int, a, b, out []T, cmin, cmax T) {
	op, sa, sb := k.op, k.plan.innerA, k.plan.innerB
	for r := lo; r < hi; r++ {
		o, ia, ib, size := k.segment(r)
		dst := out[o : o+size]
		if sa == 1 && sb == 1 {
			x, y := a[ia:ia+len(dst)], b[ib:ib+len(dst)]
			if f, ok := any(dst).([]float32); ok {
				// The SIMD kernel takes whole vectors; the loops below finish the row.
				ew := ewMul
				switch op {
				case opAdd:
					ew = ewAdd
				case opSub:
					ew = ewSub
				}
				done := ewF32(ew, f, any(x).([]float32), any(y).([]float32), float32(cmin), float32(cmax))
				dst, x, y = dst[done:], x[done:], y[done:]
			}
			switch op {
			case opAdd:
				for i := range dst {
					dst[i] = min(max(x[i]+y[i], cmin), cmax)
				}
			case opSub:
				for i := range dst {
					dst[i] = min(max(x[i]-y[i], cmin), cmax)
				}
			default:
				for i := range dst {
					dst[i] = min(max(x[i]*y[i], cmin), cmax)
				}
			}
			continue
		}
		j, l := ia, ib
		switch op {
		case opAdd:
			for i := range dst {
				dst[i] = min(max(a[j]+b[l], cmin), cmax)
				j += sa
				l += sb
			}
		case opSub:
			for i := range dst {
				dst[i] = min(max(a[j]-b[l], cmin), cmax)
				j += sa
				l += sb
			}
		default:
			for i := range dst {
				dst[i] = min(max(a[j]*b[l], cmin), cmax)
				j += sa
				l += sb
			}
		}
	}
}

// quantizedRows computes pieces [lo, hi) of an 8-bit ADD, SUB or MUL.
func (k *arithKernel) quantizedRows(lo, hi int) {
	p := &k.plan
	sa, sb := p.innerA, p.innerB
	ta, tb := &k.tabA, &k.tabB
	rq, zp, qmin, qmax := k.outRescale, k.outZP, k.qmin, k.qmax
	mul := k.op == opMul
	for r := lo; r < hi; r++ {
		o, ia, ib, size := k.segment(r)
		dst := k.out[o : o+size]
		if k.simd {
			n := k.rowsSIMD(dst, ia, ib)
			dst, ia, ib = dst[n:], ia+n*sa, ib+n*sb
		}
		if lut := k.lut; lut != nil {
			j, l := ia, ib
			for i := range dst {
				dst[i] = lut[int(k.a[j])<<8|int(k.b[l])]
				j += sa
				l += sb
			}
			continue
		}
		if sa == 1 && sb == 1 {
			x, y := k.a[ia:ia+len(dst)], k.b[ib:ib+len(dst)]
			if mul {
				for i := range dst {
					v := rq.apply(ta[x[i]]*tb[y[i]]) + zp
					dst[i] = byte(min(max(v, qmin), qmax))
				}
			} else {
				for i := range dst {
					v := rq.apply(ta[x[i]]+tb[y[i]]) + zp
					dst[i] = byte(min(max(v, qmin), qmax))
				}
			}
			continue
		}
		j, l := ia, ib
		if mul {
			for i := range dst {
				v := rq.apply(ta[k.a[j]]*tb[k.b[l]]) + zp
				dst[i] = byte(min(max(v, qmin), qmax))
				j += sa
				l += sb
			}
			continue
		}
		for i := range dst {
			v := rq.apply(ta[k.a[j]]+tb[k.b[l]]) + zp
			dst[i] = byte(min(max(v, qmin), qmax))
			j += sa
			l += sb
		}
	}
}

// rescaler is multiplyByQuantizedMultiplier with the shift split at prepare time, small enough
// for the compiler to inline into the per-element loops. The multiplier never is MinInt32
// (quantizeMultiplier returns a non-negative Q31 value), so the doubling high multiply cannot
// saturate.
type rescaler struct {
	mult   int32
	left   uint
	right  uint
	mask   int32
	thresh int32
}

func newRescaler(mult int32, shift int) rescaler {
	r := rescaler{mult: mult}
	if shift > 0 {
		r.left = uint(shift)
	} else {
		r.right = uint(-shift)
	}
	r.mask = int32((int64(1) << r.right) - 1)
	r.thresh = r.mask >> 1
	return r
}

func (r rescaler) apply(x int32) int32 {
	// Branch-free: with random data the signs are unpredictable. Rounding nudge of the
	// doubling high multiply: 2^30, or 1-2^30 for a negative product.
	ab := int64(x<<r.left) * int64(r.mult)
	v := ab + (1 << 30) + (ab>>63)&(1-1<<31)
	// Truncating division by 2^31 (C++ semantics): add 2^31-1 first when negative.
	hi := int32((v + (v>>63)&(1<<31-1)) >> 31)
	// Rounding right shift, half away from zero: a negative value's threshold is one higher.
	th := r.thresh + int32(uint32(hi)>>31)
	rem := hi & r.mask
	return hi>>r.right - (th-rem)>>31
}
