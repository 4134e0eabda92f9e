package tflite

import (
	"encoding/binary"
	"unsafe"
)

// The SIMD path of the GEMM behind CONV_2D and FULLY_CONNECTED. Where the CPU has the
// instructions (AVX2 and FMA on amd64, NEON on arm64, see simd_*.go), the filter is packed once
// at prepare into the layout of an assembly micro-kernel that keeps a tile of mr×nr accumulators
// in vector registers and fuses the output stage (bias, requantization, activation clamp) into
// its store, as XNNPACK and ruy do. The portable kernels of gemm.go remain the reference: tests
// check that both give the same bits on 8-bit operands, and agree within rounding on float32.
//
// The 8-bit kernels multiply raw 8-bit B by A widened to int16 (or raw bytes for dot-product
// instructions) and accumulate exactly in int32, so the filter's zero point is applied once per
// output through A's row sums: Σ a·(b - bZp) = Σ a·b - bZp·Σ a. Every product and every pair of
// products fits int32 (|a|, |b| <= 255), and the total does by maxQuantDepth, so the result is
// the reference's bit for bit.

// qKernel is an 8-bit GEMM micro-kernel and the layouts it reads.
type qKernel struct {
	name   string
	mr, nr int // tile: rows of A, columns of B (one panel)
	ku     int // depths of a column stored together in a panel (a pair for VPMADDWD, 4 for SDOT)
	kAlign int // the depth is padded with zeros to a multiple of this
	aBytes bool
	// pairs: the kernel sums two products in int16 (SMULL, SMLAL2), exact unless both are
	// -128·-128, and takes int8 values (uint8 ones with the top bit flipped). A filter that could
	// make such a pair (see pairSafe), or one not known at prepare, goes to fallback instead.
	pairs    bool
	fallback *qKernel
	id       int // which assembly routine runQ calls (a func value would make args escape)
}

// forFilter returns the kernel to use with filter b (n rows of k values), nil if not constant:
// kern, or its fallback where kern cannot take b exactly.
func forFilter[T uint8 | int8](kern *qKernel, b []T, n, k int) *qKernel {
	if kern != nil && kern.pairs && (b == nil || !pairSafe(b, n, k)) {
		return kern.fallback
	}
	return kern
}

// pairSafe reports whether filter b (n rows of k values) has, in no row, the most negative int8
// value (uint8 0, flipped) at two depths whose products a pairs kernel adds in one int16 lane:
// i and i+8 of each block of 16. Only then is every such sum exact, whatever A holds. TFLite's
// int8 filters never hold -128 (its quantization spec), nor do uint8 filters trained with a
// narrow range; the others usually hold the tensor's minimum once.
func pairSafe[T uint8 | int8](b []T, n, k int) bool {
	var low T // the value that becomes -128
	if ^T(0) < 0 {
		low = T(-128 & int(^T(0)))
	}
	for j := 0; j < n; j++ {
		row := b[j*k : (j+1)*k]
		for i := range row {
			if row[i] == low && i%16 < 8 && i+8 < len(row) && row[i+8] == low {
				return false
			}
		}
	}
	return true
}

// fKernel is a float32 GEMM micro-kernel; B panels hold nr columns per depth, A is read in place.
type fKernel struct {
	name   string
	mr, nr int
	id     int  // which assembly routine runF calls
	masked bool // stores only fgemmArgs.mask's columns (AVX-512): a partial panel goes straight to C
}

// Maximum tile sizes over all kernels, for stack buffers.
const (
	simdMaxMR = 8
	simdMaxNR = 16
)

// qgemmArgs is what an 8-bit micro-kernel reads (the assembly relies on this layout).
type qgemmArgs struct {
	a      [simdMaxMR]unsafe.Pointer // rows of A (rows past the tile repeat the last one)
	b      unsafe.Pointer            // first panel
	c      unsafe.Pointer            // output row 0 at the first panel's first column
	offset unsafe.Pointer            // int32 per column from the first panel's: bias - aZp·Σ(b - bZp)
	scale  unsafe.Pointer            // float32 per column
	kp     int                       // padded depth
	panels int                       // panels to compute (consecutive in b, nr columns apart in c)
	ldc    int                       // bytes between output rows
	rows   int                       // output rows to store, 1..mr
	corr   [simdMaxMR]int32          // per row: -bZp·Σ a
	flo    float32                   // clamp bounds relative to the output zero point
	fhi    float32
	outZp  int32
}

// fgemmArgs is what a float32 micro-kernel reads (the assembly relies on this layout). A row of
// A is segs runs of k values (one run: a GEMM's row or an im2col copy; several: a convolution's
// filter rows read in place from its input); for each run the kernel takes its mr row addresses
// from ind, mr apart: &a for one run.
type fgemmArgs struct {
	a      [simdMaxMR]unsafe.Pointer // rows of A (rows past the tile repeat the last one)
	b      unsafe.Pointer            // first panel
	c      unsafe.Pointer            // output row 0 at the first panel's first column
	bias   unsafe.Pointer            // float32 per column from the first panel's
	k      int                       // depth of one run
	panels int
	ldc    int // bytes between output rows
	rows   int
	lo, hi float32
	segs   int            // runs per row, at least 1
	ind    unsafe.Pointer // per run, mr row addresses (uintptr or pointers)
	// The kernel's own: runs left and the next run's addresses.
	segsLeft int
	cursor   uintptr
	mask     uint64 // columns to store, one bit each, for a masked kernel
}

// fgemmInd gives the rows of A to fgemmSIMD as runs read in place: per group of mr rows (the
// last one padded by repeating its last row), per run, the mr rows' addresses.
type fgemmInd struct {
	tab    []uintptr
	segs   int
	segLen int // values per run
}

// oneRow reports whether the kernel is to compute one row of A given in a (not through a
// table): runF then calls the one-row kernel, which has no store mask.
func (a *fgemmArgs) oneRow() bool { return a.rows == 1 && a.ind == unsafe.Pointer(&a.a) }

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

// packedQ8 is an 8-bit B matrix packed raw for a qKernel: panels of nr columns with the depth
// padded to kp, each group of ku consecutive depths of a column adjacent: value (column j,
// depth i) is at byte j/nr*nr*kp + (i/ku*nr + j%nr)*ku + i%ku. Columns past n are zero.
type packedQ8 struct {
	n, k, kp int
	kern     *qKernel
	data     []byte
	sum      []int32 // per column: Σ (b - zero point)
	zp       int32   // the zero point (one per tensor: per-channel int8 filters have zero points 0)
	// flip: uint8 values are stored with the top bit flipped (b - 128, for a pairs kernel), so
	// the kernel's products are (a - 128)·(b - 128); rowZp and colTerm account for it.
	flip bool
}

// rowZp is the zero point qgemmSIMD corrects the row sums of A by: -rowZp·Σa per output. With
// flip, Σ a·b = Σ (a-128)·(b-128) + 128·Σa + 128·Σ(b-128), so it is zp - 128.
func (p *packedQ8) rowZp() int32 {
	if p.flip {
		return p.zp - 128
	}
	return p.zp
}

// colTerm is what column j's accumulator offset must add for the kernel's layout: 128·Σ(b-128)
// with flip, else 0.
func (p *packedQ8) colTerm(j int) int32 {
	if !p.flip {
		return 0
	}
	return 128 * (p.sum[j] + (p.zp-128)*int32(p.k))
}

// setOffsets sets q's accumulator offsets for this filter: q.setOffsets, plus colTerm.
func (p *packedQ8) setOffsets(q *requant, bias []int32, inZp int32) {
	q.setOffsets(bias, inZp, p.sum)
	if p.flip {
		for c := range q.offset {
			q.offset[c] += p.colTerm(c)
		}
	}
}

func (p *packedQ8) panels() int { return (p.n + p.kern.nr - 1) / p.kern.nr }

// packQ8 packs b (n rows of k values) for kern, or for its fallback where kern cannot take b
// (forFilter): p.kern says which.
func packQ8[T uint8 | int8](p *packedQ8, kern *qKernel, b []T, n, k int, zp []int32) {
	kern = forFilter(kern, b, n, k)
	nr, ku := kern.nr, kern.ku
	var flip byte
	if kern.pairs && ^T(0) > 0 {
		flip = 0x80
	}
	p.flip = flip != 0
	kp := roundUp(k, kern.kAlign)
	size := (n + nr - 1) / nr * nr * kp
	if cap(p.data) < size {
		p.data = make([]byte, size)
	}
	if cap(p.sum) < n {
		p.sum = make([]int32, n)
	}
	p.n, p.k, p.kp, p.kern, p.data, p.sum = n, k, kp, kern, p.data[:size], p.sum[:n]
	p.zp = zp[0]
	clear(p.data)
	for j := 0; j < n; j++ {
		z := zp[0]
		if len(zp) > 1 {
			z = zp[j]
		}
		base := j/nr*nr*kp + j%nr*ku
		var s int32
		for i, v := range b[j*k : j*k+k] {
			p.data[base+i/ku*nr*ku+i%ku] = byte(v) ^ flip
			s += int32(v) - z
		}
		p.sum[j] = s
	}
}

// packedF32x is a float32 B matrix packed for an fKernel: panels of nr columns, each depth's nr
// values adjacent. Columns past n are zero.
type packedF32x struct {
	n, k int
	kern *fKernel
	data []float32
}

func (p *packedF32x) panels() int { return (p.n + p.kern.nr - 1) / p.kern.nr }

func (p *packedF32x) pack(kern *fKernel, b []float32, n, k int) {
	nr := kern.nr
	size := (n + nr - 1) / nr * nr * k
	if cap(p.data) < size {
		p.data = make([]float32, size)
	}
	p.n, p.k, p.kern, p.data = n, k, kern, p.data[:size]
	clear(p.data)
	for j := 0; j < n; j++ {
		base := j/nr*nr*k + j%nr
		for i, v := range b[j*k : j*k+k] {
			p.data[base+i*nr] = v
		}
	}
}

// qTile is a tile of A rows packed for a qKernel: rows of kp int16 (or bytes), and their sums.
type qTile struct {
	a16  []int16
	a8   []byte
	sums []int32
	kp   int
	// in, when set, is row 0 read in place, the rows stride bytes apart (packDirect).
	in     unsafe.Pointer
	stride int
}

// qTileBytes returns the scratch bytes of a tile of rows rows for kern at depth kp.
func qTileBytes(kern *qKernel, rows, kp int) int {
	elem := 2
	if kern.aBytes {
		elem = 1
	}
	return roundUp(rows*kp*elem, 64) + roundUp(rows*4, 64)
}

// newQTile lays a tile of rows rows out in scratch.
func newQTile(kern *qKernel, scratch []byte, rows, kp int) qTile {
	t := qTile{kp: kp}
	if kern.aBytes {
		n := roundUp(rows*kp, 64)
		t.a8, scratch = scratch[:rows*kp], scratch[n:]
	} else {
		n := roundUp(rows*kp*2, 64)
		t.a16, scratch = viewAs[int16](scratch[:rows*kp*2]), scratch[n:]
	}
	t.sums = viewAs[int32](scratch)[:rows]
	return t
}

// setRow copies src (at most kp values) into row r of the tile, zero-padded, and sums it.
func setRow[T uint8 | int8](t *qTile, r int, src []T) {
	if t.a8 != nil {
		row := t.a8[r*t.kp : (r+1)*t.kp]
		t.sums[r] = copySum8(row, src)
		clear(row[len(src):])
	} else {
		row := t.a16[r*t.kp : (r+1)*t.kp]
		t.sums[r] = widen8(row, src)
		clear(row[len(src):])
	}
}

// put8 sets dst[i] = src[i] for every i of src and returns their sum: the portable loop of
// widen8 and copySum8.
func put8[D int16 | byte, T uint8 | int8](dst []D, src []T) int32 {
	dst = dst[:len(src)]
	var s int32
	for i, v := range src {
		dst[i] = D(v)
		s += int32(v)
	}
	return s
}

// widen8 is put8 into int16 tiles: the SIMD kernel on whole blocks of 16 where there is one
// (as a Go loop it was 10% of the SSD's time), put8 for the rest.
func widen8[T uint8 | int8](dst []int16, src []T) int32 {
	i, s := 0, int32(0)
	if simdQ != nil && len(src) >= 16 {
		i = len(src) &^ 15
		s = runWiden(&dst[0], unsafe.Pointer(&src[0]), i, ^T(0) < 0)
	}
	return s + put8(dst[i:], src[i:])
}

// copySum8 is put8 into byte tiles (arm64's dot-product kernel), as widen8.
func copySum8[T uint8 | int8](dst []byte, src []T) int32 {
	i, s := 0, int32(0)
	if simdQ != nil && simdQ.aBytes && len(src) >= 16 {
		i = len(src) &^ 15
		s = runCopySum(&dst[0], unsafe.Pointer(&src[0]), i, ^T(0) < 0)
	}
	return s + put8(dst[i:], src[i:])
}

// packDirect puts rows [0, rows) of src, k values each, into the tile as the direct (1x1)
// convolution's A, with their sums, and reports whether it could; k must be a multiple of 8
// (else, or with the byte tiles when src lacks what the last row reads, the caller copies row
// by row). The byte tiles (arm64's dot-product kernel) read the rows in place, kp values from
// each: past k, the next row's or anything, as the packed filter is zero there. The int16 tiles
// need the values widened: with k a whole depth of the tile (kp), the rows are one run of
// values, widened in one call.
func packDirect[T uint8 | int8](t *qTile, kern *qKernel, src []T, k, rows int) bool {
	t.in = nil
	if k%8 != 0 || rows < 1 {
		return false
	}
	if kern.aBytes {
		if (rows-1)*k+t.kp > len(src) {
			return false
		}
		t.in, t.stride = unsafe.Pointer(unsafe.SliceData(src)), k
	} else {
		if k != t.kp || rows*k > len(src) {
			return false
		}
		widen8(t.a16[:rows*k], src[:rows*k])
	}
	runRowSums(&t.sums[0], unsafe.Pointer(unsafe.SliceData(src)), k, rows, ^T(0) < 0)
	return true
}

// im2colTile writes the patches of output positions [m0, m1) into tile rows 0.., as im2col does.
func im2colTile[T uint8 | int8](t *qTile, in []T, g *im2colGeom, m0, m1 int, pad T) {
	c := g.inC
	k := g.filterH * g.filtW * c
	rgb := c == 3 && g.filterH == 3 && g.filtW == 3 && g.wx.dilation == 1
	b, oy, ox := m0/(g.outH*g.outW), (m0/g.outW)%g.outH, m0%g.outW
	for m := m0; m < m1; m++ {
		r := m - m0
		iy0 := oy*g.wy.stride - g.wy.pad
		ix0 := ox*g.wx.stride - g.wx.pad
		var s int32
		o := r * t.kp
		span := g.filtW * c
		inside := g.wx.dilation == 1 && ix0 >= 0 && ix0+g.filtW <= g.inW
		if rgb && inside && iy0 >= 0 && iy0+2*g.wy.dilation < g.inH {
			// A run of 3x3 patches of 3 channels (RGB), the first layer of most image models,
			// wholly inside the image: the run's positions one input step apart, each one call
			// for its 27 values, where the rows' calls and loops, and the geometry per position,
			// cost several times the moves.
			n := min(m1-m, g.outW-ox)
			if last := (g.inW - 3 + g.wx.pad) / g.wx.stride; last-ox+1 < n {
				n = last - ox + 1 // the positions whose patches end inside the row
			}
			p, dy, step := ((b*g.inH+iy0)*g.inW+ix0)*c, g.wy.dilation*g.inW*c, g.wx.stride*c
			for i := range n {
				o := (r + i) * t.kp
				switch {
				case t.a8 != nil && t.kp == 32:
					t.sums[r+i] = patch3x3RGBBytes((*[32]byte)(t.a8[o:o+32]), in, p, dy)
				case t.a8 != nil:
					t.sums[r+i] = patch3x3RGB(t.a8[o:o+27], in, p, dy)
					clear(t.a8[o+27 : o+t.kp])
				case t.kp == 32: // 27 rounded up to the kernels' 8 or 16: five stores, no loop
					d := (*[32]int16)(t.a16[o : o+32])
					t.sums[r+i] = patch3x3RGB(d[:27], in, p, dy)
					d[27], d[28], d[29], d[30], d[31] = 0, 0, 0, 0, 0
				default:
					t.sums[r+i] = patch3x3RGB(t.a16[o:o+27], in, p, dy)
					clear(t.a16[o+27 : o+t.kp])
				}
				p += step
			}
			m += n - 1
			if ox += n; ox == g.outW {
				ox = 0
				if oy++; oy == g.outH {
					oy = 0
					b++
				}
			}
			continue
		}
		for fy := 0; fy < g.filterH; fy++ {
			iy := iy0 + fy*g.wy.dilation
			if iy < 0 || iy >= g.inH {
				s += tileFill(t, o, span, pad)
				o += span
				continue
			}
			base := (b*g.inH + iy) * g.inW
			if inside {
				s += tilePut(t, o, in[(base+ix0)*c:(base+ix0)*c+span])
				o += span
				continue
			}
			for fx := 0; fx < g.filtW; fx++ {
				ix := ix0 + fx*g.wx.dilation
				if ix < 0 || ix >= g.inW {
					s += tileFill(t, o, c, pad)
				} else {
					s += tilePut(t, o, in[(base+ix)*c:(base+ix+1)*c])
				}
				o += c
			}
		}
		tileFill(t, r*t.kp+k, t.kp-k, T(0))
		t.sums[r] = s
		if ox++; ox == g.outW {
			ox = 0
			if oy++; oy == g.outH {
				oy = 0
				b++
			}
		}
	}
}

// tilePut copies src to the tile's elements from o on and returns its sum. Short spans (a 3x3
// patch of 3 channels: 9 values) take put8 directly, without the kernels' calls.
func tilePut[T uint8 | int8](t *qTile, o int, src []T) int32 {
	switch {
	case t.a8 != nil && len(src) < 16:
		return put8(t.a8[o:o+len(src)], src)
	case t.a8 != nil:
		return copySum8(t.a8[o:o+len(src)], src)
	case len(src) < 16:
		return put8(t.a16[o:o+len(src)], src)
	}
	return widen8(t.a16[o:o+len(src)], src)
}

// patch3x3RGB is put8 for a 3x3 patch of 3 channels: the rows of 9 values at in[p], in[p+dy]
// and in[p+2*dy] into dst[0:27]. Fixed-length arrays leave no bounds to check in the loop.
func patch3x3RGB[D int16 | byte, T uint8 | int8](dst []D, in []T, p, dy int) int32 {
	d := (*[27]D)(dst)
	r0, r1, r2 := (*[9]T)(in[p:p+9]), (*[9]T)(in[p+dy:p+dy+9]), (*[9]T)(in[p+2*dy:p+2*dy+9])
	var s int32
	for i := range 9 {
		d[i], d[9+i], d[18+i] = D(r0[i]), D(r1[i]), D(r2[i])
		s += int32(r0[i]) + int32(r1[i]) + int32(r2[i])
	}
	return s
}

// patch3x3RGBBytes is patch3x3RGB for a byte tile whose rows are 32 bytes (27 values and 5 zeros),
// the dot-product kernels' layout: each row of 9 values is read as 8 bytes and 1, the 32 bytes are
// written as four words, and the sum is added in 16-bit lanes (at most 27*255 per lane), for
// about a third of the byte-by-byte loop's instructions.
func patch3x3RGBBytes[T uint8 | int8](d *[32]byte, in []T, p, dy int) int32 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(in))), len(in))
	r0, r1, r2 := b[p:p+9], b[p+dy:p+dy+9], b[p+2*dy:p+2*dy+9]
	le := binary.LittleEndian
	x0, x1, x2 := le.Uint64(r0), le.Uint64(r1), le.Uint64(r2)
	w0 := x0
	w1 := uint64(r0[8]) | x1<<8
	w2 := x1>>56 | uint64(r1[8])<<8 | x2<<16
	w3 := x2>>48 | uint64(r2[8])<<16
	le.PutUint64(d[0:], w0)
	le.PutUint64(d[8:], w1)
	le.PutUint64(d[16:], w2)
	le.PutUint64(d[24:], w3)
	var bias int32
	var zero T
	if ^zero < 0 { // int8: add the bytes as value+128 (flip the sign bits), take 27*128 off
		const signs = 0x8080808080808080
		w0, w1, w2, w3 = w0^signs, w1^signs, w2^signs, w3^0x808080
		bias = -27 * 128
	}
	const lanes = 0x00ff00ff00ff00ff
	acc := w0&lanes + w0>>8&lanes + w1&lanes + w1>>8&lanes + w2&lanes + w2>>8&lanes + w3&lanes + w3>>8&lanes
	return int32(acc*0x0001000100010001>>48) + bias
}

// tileFill sets n elements of the tile from o on to v and returns their sum.
func tileFill[T uint8 | int8](t *qTile, o, n int, v T) int32 {
	if t.a8 != nil {
		fill(t.a8[o:o+n], byte(v))
	} else {
		fill(t.a16[o:o+n], int16(v))
	}
	return int32(n) * int32(v)
}

// rowPtr returns the address of row r of the tile.
func (t *qTile) rowPtr(r int) unsafe.Pointer {
	if t.in != nil {
		return unsafe.Add(t.in, r*t.stride)
	}
	if t.a8 != nil {
		return unsafe.Pointer(&t.a8[r*t.kp])
	}
	return unsafe.Pointer(&t.a16[r*t.kp])
}

// qgemmSIMD computes rows [0, rows) of the tile times B panels [p0, p1), requantized by q into
// c (row r at c[r*ldc]), with kern.
func qgemmSIMD[T uint8 | int8](t *qTile, rows int, b *packedQ8, p0, p1 int, q *requant, c []T, ldc int, signed bool) {
	kern := b.kern
	mr, nr := kern.mr, kern.nr
	full := b.n / nr // panels with nr real columns
	var args qgemmArgs
	var tmp [simdMaxMR * simdMaxNR]T
	args.kp = b.kp
	args.flo, args.fhi, args.outZp = q.flo, q.fhi, q.outZp
	zp := b.rowZp()
	step := max(1, gemmBlockBytes/(nr*b.kp))
	for pb := p0; pb < p1; pb += step {
		pe := min(pb+step, p1)
		for r := 0; r < rows; r += mr {
			n := min(mr, rows-r)
			for i := 0; i < mr; i++ {
				row := r + min(i, n-1)
				args.a[i] = t.rowPtr(row)
				args.corr[i] = -zp * t.sums[row]
			}
			args.rows = n
			if fe := min(pe, full); pb < fe {
				args.b = unsafe.Pointer(&b.data[pb*nr*b.kp])
				args.c = unsafe.Pointer(&c[r*ldc+pb*nr])
				args.ldc = ldc
				args.offset = unsafe.Pointer(&q.offset[pb*nr])
				args.scale = unsafe.Pointer(&q.scale[pb*nr])
				args.panels = fe - pb
				runQ(kern, &args, signed)
			}
			if full < pe && full >= pb && b.n%nr != 0 {
				// The last panel has fewer than nr columns: store into tmp, then copy.
				args.b = unsafe.Pointer(&b.data[full*nr*b.kp])
				args.c = unsafe.Pointer(&tmp[0])
				args.ldc = nr
				args.offset = unsafe.Pointer(&q.offset[full*nr])
				args.scale = unsafe.Pointer(&q.scale[full*nr])
				args.panels = 1
				runQ(kern, &args, signed)
				cols := b.n - full*nr
				for i := 0; i < n; i++ {
					copy(c[(r+i)*ldc+full*nr:(r+i)*ldc+b.n], tmp[i*nr:i*nr+cols])
				}
			}
		}
	}
}

// fgemmSIMD computes rows [m0, m1) of A (row i at a[i*lda], or through ind when not nil) times
// B panels [p0, p1), plus bias, clamped to [lo, hi], into c (row m0 at c[0]), with b's kernel.
// bias has a padded length: a multiple of nr.
func fgemmSIMD(a []float32, lda, m0, m1 int, ind *fgemmInd, b *packedF32x, p0, p1 int, bias []float32, lo, hi float32, c []float32, ldc int) {
	kern := b.kern
	mr, nr := kern.mr, kern.nr
	full := b.n / nr
	var args fgemmArgs
	var tmp [simdMaxMR * simdMaxNR]float32
	args.k, args.segs, args.ind = b.k, 1, unsafe.Pointer(&args.a)
	if ind != nil {
		args.k, args.segs = ind.segLen, ind.segs
	}
	args.lo, args.hi = lo, hi
	args.mask = 1<<nr - 1
	step := max(1, gemmBlockBytes/(nr*b.k*4))
	for pb := p0; pb < p1; pb += step {
		pe := min(pb+step, p1)
		for r, grp := m0, 0; r < m1; r, grp = r+mr, grp+1 {
			n := min(mr, m1-r)
			if ind != nil {
				args.ind = unsafe.Pointer(&ind.tab[grp*ind.segs*mr])
			} else {
				for i := 0; i < mr; i++ {
					args.a[i] = unsafe.Pointer(&a[(r+min(i, n-1))*lda])
				}
			}
			args.rows = n
			if fe := min(pe, full); pb < fe {
				args.b = unsafe.Pointer(&b.data[pb*nr*b.k])
				args.c = unsafe.Pointer(&c[(r-m0)*ldc+pb*nr])
				args.ldc = ldc * 4
				args.bias = unsafe.Pointer(&bias[pb*nr])
				args.panels = fe - pb
				runF(kern, &args)
			}
			if full < pe && full >= pb && b.n%nr != 0 {
				// The last panel has fewer than nr columns: stored by mask, or into tmp and
				// copied (a memmove per row, which cost more than the product on 8-channel layers).
				args.b = unsafe.Pointer(&b.data[full*nr*b.k])
				args.bias = unsafe.Pointer(&bias[full*nr])
				args.panels = 1
				cols := b.n - full*nr
				if kern.masked && !args.oneRow() {
					args.c = unsafe.Pointer(&c[(r-m0)*ldc+full*nr])
					args.ldc = ldc * 4
					args.mask = 1<<cols - 1
					runF(kern, &args)
					args.mask = 1<<nr - 1
				} else {
					args.c = unsafe.Pointer(&tmp[0])
					args.ldc = nr * 4
					runF(kern, &args)
					for i := 0; i < n; i++ {
						copy(c[(r-m0+i)*ldc+full*nr:(r-m0+i)*ldc+b.n], tmp[i*nr:i*nr+cols])
					}
				}
			}
		}
	}
}
