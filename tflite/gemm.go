package tflite

import "math"

// The matrix product behind CONV_2D and FULLY_CONNECTED: C = A·Bᵀ, where A is m×k with rows in
// memory (im2col rows or the input itself), B is n×k (the filter, one row per output channel)
// and C is m×n (NHWC output rows). B is packed once, in panels of gemmNR rows interleaved by k,
// so the micro-kernels read it sequentially; A is read in place, gemmMR rows at a time. The 8-bit
// product subtracts B's zero point while packing (int16 panels) and A's through a per-column
// constant (aZp·Σb), so the inner loop is only multiply-adds. Go has no portable SIMD, so the
// speed comes from register blocking (16 accumulators) and cache blocking over B's panels.

const (
	gemmMR = 4 // rows of A per micro-kernel
	gemmNR = 4 // rows of B per packed panel

	// gemmBlockBytes bounds the bytes of B panels one pass over A's rows uses, so they stay in a
	// Raspberry Pi's L2 cache while A's rows stream through.
	gemmBlockBytes = 128 << 10
)

// panels returns the number of packed panels for n rows of B.
func panels(n int) int { return (n + gemmNR - 1) / gemmNR }

// packedF32 is a float32 B matrix packed for gemmF32.
type packedF32 struct {
	n, k int
	data []float32 // panels(n) panels of k*gemmNR values; rows past n are zero
}

// pack packs b (n rows of k values), reusing p's storage when it is large enough.
func (p *packedF32) pack(b []float32, n, k int) {
	size := panels(n) * gemmNR * k
	if cap(p.data) < size {
		p.data = make([]float32, size)
	}
	p.n, p.k, p.data = n, k, p.data[:size]
	for j := 0; j < panels(n)*gemmNR; j++ {
		panel := p.data[(j/gemmNR)*gemmNR*k:]
		if j >= n {
			for i := 0; i < k; i++ {
				panel[i*gemmNR+j%gemmNR] = 0
			}
			continue
		}
		row := b[j*k : j*k+k]
		for i, v := range row {
			panel[i*gemmNR+j%gemmNR] = v
		}
	}
}

// packedQ is an 8-bit B matrix packed for gemmQ, its zero points already subtracted. Each k
// step of a panel holds the panel's four values as two int64 pairs, lo + hi<<32, so that one
// 64-bit multiply-add by an input value computes two products at once: the low lane's sum
// stays within int32 (|a| <= 255, |b - zp| <= 255, k < 2^15), so the lanes never mix.
type packedQ struct {
	n, k int
	data []int64 // panels(n) panels of k*2 pairs; rows past n are zero
	sum  []int32 // per row of B: Σ (b - zero point)
}

// packQ packs b (n rows of k values) minus its zero point: zp has one entry, or one per row.
func packQ[T uint8 | int8](p *packedQ, b []T, n, k int, zp []int32) {
	size := panels(n) * 2 * k
	if cap(p.data) < size {
		p.data = make([]int64, size)
	}
	if cap(p.sum) < n {
		p.sum = make([]int32, n)
	}
	p.n, p.k, p.data, p.sum = n, k, p.data[:size], p.sum[:n]
	clear(p.data)
	for j := 0; j < n; j++ {
		z := zp[0]
		if len(zp) > 1 {
			z = zp[j]
		}
		panel := p.data[(j/gemmNR)*2*k:]
		lane := j % gemmNR
		var s int32
		for i, v := range b[j*k : j*k+k] {
			d := int32(v) - z
			s += d
			// Pairs are summed as integers: a negative low lane borrows from the high lane,
			// and the borrow cancels when the lanes are split.
			panel[i*2+lane/2] += int64(d) << (32 * (lane % 2))
		}
		p.sum[j] = s
	}
}

// maxQuantDepth is the longest 8-bit dot product whose sum provably fits the int32 lanes of
// packedQ: every product is at most 255*255 in magnitude.
const maxQuantDepth = math.MaxInt32 / (255 * 255)

// splitPair returns the two int32 lanes of a pair sum lo + hi<<32.
func splitPair(s int64) (lo, hi int32) {
	lo = int32(s)
	return lo, int32((s - int64(lo)) >> 32)
}

// blockPanels returns how many B panels of k values of elemSize bytes make one cache block.
func blockPanels(k, elemSize int) int {
	return max(1, gemmBlockBytes/(gemmNR*k*elemSize))
}

// gemmF32 computes rows [m0, m1) and B panels [p0, p1) of C = A·Bᵀ + bias, clamped to [lo, hi].
// Row r of A starts at a[r*lda] and row r of C at c[(r-m0)*ldc]; bias may be nil.
func gemmF32(a []float32, lda, m0, m1 int, b *packedF32, p0, p1 int, bias []float32, lo, hi float32, c []float32, ldc int) {
	k := b.k
	var acc [gemmMR * gemmNR]float32
	step := blockPanels(k, 4)
	for pb := p0; pb < p1; pb += step {
		pe := min(pb+step, p1)
		r := m0
		for ; r+gemmMR <= m1; r += gemmMR {
			a0 := a[r*lda : r*lda+k]
			a1 := a[(r+1)*lda : (r+1)*lda+k]
			a2 := a[(r+2)*lda : (r+2)*lda+k]
			a3 := a[(r+3)*lda : (r+3)*lda+k]
			for p := pb; p < pe; p++ {
				kernelF32x4(a0, a1, a2, a3, b.data[p*gemmNR*k:(p+1)*gemmNR*k], &acc)
				storeF32(&acc, gemmMR, c[(r-m0)*ldc:], ldc, p*gemmNR, b.n, bias, lo, hi)
			}
		}
		for ; r < m1; r++ {
			a0 := a[r*lda : r*lda+k]
			for p := pb; p < pe; p++ {
				kernelF32x1(a0, b.data[p*gemmNR*k:(p+1)*gemmNR*k], &acc)
				storeF32(&acc, 1, c[(r-m0)*ldc:], ldc, p*gemmNR, b.n, bias, lo, hi)
			}
		}
	}
}

// kernelF32x4 sets acc[i*4+j] to the dot product of row i of A and column j of panel bp.
func kernelF32x4(a0, a1, a2, a3, bp []float32, acc *[gemmMR * gemmNR]float32) {
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	a1 = a1[:len(a0)]
	a2 = a2[:len(a0)]
	a3 = a3[:len(a0)]
	bp = bp[:len(a0)*gemmNR]
	for i, x0 := range a0 {
		if len(bp) < gemmNR {
			break
		}
		b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
		bp = bp[gemmNR:]
		c00 += x0 * b0
		c01 += x0 * b1
		c02 += x0 * b2
		c03 += x0 * b3
		x1 := a1[i]
		c10 += x1 * b0
		c11 += x1 * b1
		c12 += x1 * b2
		c13 += x1 * b3
		x2 := a2[i]
		c20 += x2 * b0
		c21 += x2 * b1
		c22 += x2 * b2
		c23 += x2 * b3
		x3 := a3[i]
		c30 += x3 * b0
		c31 += x3 * b1
		c32 += x3 * b2
		c33 += x3 * b3
	}
	*acc = [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
}

// kernelF32x1 is kernelF32x4 for a single row of A, setting acc[0:4].
func kernelF32x1(a0, bp []float32, acc *[gemmMR * gemmNR]float32) {
	var c0, c1, c2, c3 float32
	bp = bp[:len(a0)*gemmNR]
	for _, x := range a0 {
		if len(bp) < gemmNR {
			break
		}
		c0 += x * bp[0]
		c1 += x * bp[1]
		c2 += x * bp[2]
		c3 += x * bp[3]
		bp = bp[gemmNR:]
	}
	acc[0], acc[1], acc[2], acc[3] = c0, c1, c2, c3
}

// storeF32 writes rows×4 accumulators to C at column col, skipping columns past n.
func storeF32(acc *[gemmMR * gemmNR]float32, rows int, c []float32, ldc, col, n int, bias []float32, lo, hi float32) {
	cols := min(gemmNR, n-col)
	for i := 0; i < rows; i++ {
		out := c[i*ldc+col : i*ldc+col+cols]
		for j := range out {
			v := acc[i*gemmNR+j]
			if bias != nil {
				v += bias[col+j]
			}
			out[j] = min(max(v, lo), hi)
		}
	}
}

// requant is the output stage of an 8-bit product, computed as the official runtime's XNNPACK
// kernels do (their "fp32" requantization): per output channel, the int32 accumulator plus
// offset is converted to float32, multiplied by the float32 scale input_scale*filter_scale/
// output_scale, clamped to the activation range, rounded half to even, and shifted to the
// output zero point. TFLite's reference kernels use a fixed-point multiplier instead; the two
// differ by one step on some values, and those differences compound over a network, so the
// runtime that users compare against decides. Measured against it (LiteRT.js): whole uint8 and
// int8 models are bit-exact this way. One exception shows only in one-op test models: a lone
// uint8 DEPTHWISE_CONV_2D runs on TFLite's own kernel there, with the fixed-point rounding.
type requant struct {
	offset []int32   // per channel: bias - aZp·Σ(b - bZp)
	scale  []float32 // per channel
	outZp  int32
	lo, hi int32 // activation clamp, in output units
	// flo and fhi are lo and hi relative to the zero point, for clamping before rounding.
	flo, fhi float32
}

// roundMagic is 1.5·2^23: adding it to a float32 of magnitude below 2^22 rounds to an integer,
// half to even, which is what XNNPACK's kernels do.
const roundMagic = 12582912

// apply returns the output value for accumulator acc of channel j.
func (q *requant) apply(acc int32, j int) int32 {
	// The explicit conversions keep every step in float32 and prevent fused multiply-adds.
	f := float32(float32(acc+q.offset[j]) * q.scale[j])
	f = min(max(f, q.flo), q.fhi)
	r := float32(f+roundMagic) - roundMagic
	return int32(r) + q.outZp
}

// gemmQ is gemmF32 for 8-bit A and C, with int32 accumulation and the output stage q.
func gemmQ[T uint8 | int8](a []T, lda, m0, m1 int, b *packedQ, p0, p1 int, q *requant, c []T, ldc int) {
	k := b.k
	var acc [gemmMR * gemmNR]int32
	step := blockPanels(k, 4)
	for pb := p0; pb < p1; pb += step {
		pe := min(pb+step, p1)
		r := m0
		for ; r+gemmMR <= m1; r += gemmMR {
			a0 := a[r*lda : r*lda+k]
			a1 := a[(r+1)*lda : (r+1)*lda+k]
			a2 := a[(r+2)*lda : (r+2)*lda+k]
			a3 := a[(r+3)*lda : (r+3)*lda+k]
			for p := pb; p < pe; p++ {
				kernelQx4(a0, a1, a2, a3, b.data[p*2*k:(p+1)*2*k], &acc)
				storeQ(&acc, gemmMR, c[(r-m0)*ldc:], ldc, p*gemmNR, b.n, q)
			}
		}
		for ; r < m1; r++ {
			a0 := a[r*lda : r*lda+k]
			for p := pb; p < pe; p++ {
				kernelQx1(a0, b.data[p*2*k:(p+1)*2*k], &acc)
				storeQ(&acc, 1, c[(r-m0)*ldc:], ldc, p*gemmNR, b.n, q)
			}
		}
	}
}

func kernelQx4[T uint8 | int8](a0, a1, a2, a3 []T, bp []int64, acc *[gemmMR * gemmNR]int32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 int64
	a1 = a1[:len(a0)]
	a2 = a2[:len(a0)]
	a3 = a3[:len(a0)]
	bp = bp[:len(a0)*2]
	for i, v := range a0 {
		if len(bp) < 2 {
			break
		}
		b0, b1 := bp[0], bp[1]
		bp = bp[2:]
		x0 := int64(v)
		c00 += x0 * b0
		c01 += x0 * b1
		x1 := int64(a1[i])
		c10 += x1 * b0
		c11 += x1 * b1
		x2 := int64(a2[i])
		c20 += x2 * b0
		c21 += x2 * b1
		x3 := int64(a3[i])
		c30 += x3 * b0
		c31 += x3 * b1
	}
	acc[0], acc[1] = splitPair(c00)
	acc[2], acc[3] = splitPair(c01)
	acc[4], acc[5] = splitPair(c10)
	acc[6], acc[7] = splitPair(c11)
	acc[8], acc[9] = splitPair(c20)
	acc[10], acc[11] = splitPair(c21)
	acc[12], acc[13] = splitPair(c30)
	acc[14], acc[15] = splitPair(c31)
}

func kernelQx1[T uint8 | int8](a0 []T, bp []int64, acc *[gemmMR * gemmNR]int32) {
	var c0, c1 int64
	bp = bp[:len(a0)*2]
	for _, v := range a0 {
		if len(bp) < 2 {
			break
		}
		x := int64(v)
		c0 += x * bp[0]
		c1 += x * bp[1]
		bp = bp[2:]
	}
	acc[0], acc[1] = splitPair(c0)
	acc[2], acc[3] = splitPair(c1)
}

func storeQ[T uint8 | int8](acc *[gemmMR * gemmNR]int32, rows int, c []T, ldc, col, n int, q *requant) {
	cols := min(gemmNR, n-col)
	for i := 0; i < rows; i++ {
		out := c[i*ldc+col : i*ldc+col+cols]
		for j := range out {
			out[j] = T(q.apply(acc[i*gemmNR+j], col+j))
		}
	}
}

// im2colGeom describes the patches of a convolution for im2col.
type im2colGeom struct {
	inH, inW, inC  int
	outH, outW     int
	wy, wx         window
	filterH, filtW int
}

// im2col writes the patches of output positions [m0, m1) (counted over batch, row and column)
// as rows of k = filterH*filtW*inC values into dst, with pad for positions outside the input.
func im2col[T float32 | uint8 | int8](dst, in []T, g *im2colGeom, m0, m1 int, pad T) {
	k := g.filterH * g.filtW * g.inC
	c := g.inC
	span := g.filtW * c // one filter row's values, contiguous in the input when dilation is 1
	// The position's batch, row and column advance with m, without a division per row.
	b, oy, ox := m0/(g.outH*g.outW), (m0/g.outW)%g.outH, m0%g.outW
	for m := m0; m < m1; m++ {
		row := dst[(m-m0)*k : (m-m0+1)*k]
		iy0 := oy*g.wy.stride - g.wy.pad
		ix0 := ox*g.wx.stride - g.wx.pad
		inside := g.wx.dilation == 1 && ix0 >= 0 && ix0+g.filtW <= g.inW
		o := 0
		for fy := 0; fy < g.filterH; fy++ {
			iy := iy0 + fy*g.wy.dilation
			if iy < 0 || iy >= g.inH {
				fill(row[o:o+span], pad)
				o += span
				continue
			}
			base := (b*g.inH + iy) * g.inW
			if inside {
				src := in[(base+ix0)*c : (base+ix0)*c+span]
				if span == 9 {
					// A 3x3 filter on 3 channels (RGB), the first layer of most image models,
					// whose im2col was a fifth of the float MobileNet's time: copy's call cost
					// more than the copy. An array assignment of a type parameter's type still
					// calls memmove; these nine moves do not.
					d, s := (*[9]T)(row[o:o+9]), (*[9]T)(src)
					d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8] = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]
				} else {
					copy(row[o:o+span], src)
				}
				o += span
				continue
			}
			for fx := 0; fx < g.filtW; fx++ {
				ix := ix0 + fx*g.wx.dilation
				if ix < 0 || ix >= g.inW {
					fill(row[o:o+c], pad)
				} else {
					copySmall(row[o:o+c], in[(base+ix)*c:(base+ix+1)*c])
				}
				o += c
			}
		}
		if ox++; ox == g.outW {
			ox = 0
			if oy++; oy == g.outH {
				oy = 0
				b++
			}
		}
	}
}

// copySmall is copy without the call for the few values of a filter row of a thin input.
func copySmall[T any](dst, src []T) {
	if len(src) > 16 {
		copy(dst, src)
		return
	}
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = v
	}
}

func fill[T any](s []T, v T) {
	for i := range s {
		s[i] = v
	}
}
