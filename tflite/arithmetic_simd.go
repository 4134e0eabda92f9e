package tflite

import "unsafe"

// arithQArgs is what the 8-bit ADD/SUB/MUL kernel reads (the assembly relies on this layout):
// dst[i] = clamp(out(f(x[i]) op g(y[i]))) for i < n, n a positive multiple of 8, where f and g
// are arithKernel's tables computed (for ADD and SUB: (v - z) << l, the doubling high multiply by
// m, the rounding divide by 2^-r; for MUL: v - z), op is + or ·, and out the output rescale (lo,
// mo, ro), plus zo, clamped to [qmin, qmax]. With yConst, g(y[i]) is c for every i.
type arithQArgs struct {
	dst, x, y      unsafe.Pointer
	n              int
	yConst         int
	mul            int
	zx, mx, lx, rx int32
	zy, my, ly, ry int32
	mo, lo, ro, zo int32
	qmin, qmax     int32
	c              int32
}

// operandScale is one input's rescale for ADD and SUB: its table entry for value v is
// multiplyByQuantizedMultiplier((v - zp) << 20, mult, shift).
type operandScale struct {
	zp, mult int32
	shift    int
}

// setSIMD readies the kernel's constant arguments (k.simd) from the inputs' rescales, and says
// whether the kernel runs this op's rows (8-bit, rows of at least 16 values with an input read
// in order): such an op needs no table of results (lut).
func (k *arithKernel) setSIMD(a, b operandScale) {
	p := &k.plan
	k.simd = arithQKernel && p.inner >= 16 && (p.innerA == 1 || p.innerB == 1)
	if !k.simd {
		return
	}
	const leftShift = 20
	side := func(s operandScale) (z, m, l, r int32) {
		if k.op == opMul {
			return s.zp, 0, 0, 0
		}
		l, r = leftShift, 0
		if s.shift > 0 {
			l += int32(s.shift)
		} else {
			r = int32(s.shift)
		}
		return s.zp, s.mult, l, r
	}
	q := &k.simdArgs
	*q = arithQArgs{zo: k.outZP, qmin: k.qmin, qmax: k.qmax}
	if k.op == opMul {
		q.mul = 1
	}
	q.zx, q.mx, q.lx, q.rx = side(a)
	q.zy, q.my, q.ly, q.ry = side(b)
	q.mo, q.lo, q.ro = k.outRescale.mult, int32(k.outRescale.left), -int32(k.outRescale.right)
}

// rowsSIMD computes the first values of dst, a multiple of 8, from a at ia and b at ib (read in
// order, or one value broadcast, per the plan's strides), and returns how many.
func (k *arithKernel) rowsSIMD(dst []byte, ia, ib int) int {
	n := len(dst) &^ 7
	if n == 0 {
		return 0
	}
	p := &k.plan
	args := k.simdArgs
	args.dst, args.n = unsafe.Pointer(&dst[0]), n
	switch {
	case p.innerA == 1 && p.innerB == 1:
		args.x, args.y = unsafe.Pointer(&k.a[ia : ia+n][0]), unsafe.Pointer(&k.b[ib : ib+n][0])
	case p.innerA == 1:
		args.x, args.yConst, args.c = unsafe.Pointer(&k.a[ia : ia+n][0]), 1, k.tabB[k.b[ib]]
	default:
		// x takes b's values and rescale (both ops commute once b's table holds SUB's sign).
		args.x, args.yConst, args.c = unsafe.Pointer(&k.b[ib : ib+n][0]), 1, k.tabA[k.a[ia]]
		args.zx, args.mx, args.lx, args.rx = args.zy, args.my, args.ly, args.ry
	}
	runArithQ(&args, k.typ == Int8)
	return n
}
