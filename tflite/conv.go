package tflite

import (
	"math"
	"unsafe"
)

// CONV_2D: NHWC input, OHWI filter, optional bias, computed as im2col tiles times the packed
// filter (gemm.go). A 1x1 convolution with stride 1 and no padding reads the input rows
// directly. Quantized convolutions accumulate (input - input zero point) * (filter - filter zero
// point) plus bias exactly in int32, then scale by input_scale * filter_scale / output_scale, add
// the output zero point and clamp to the activation, rounding as the official runtime's XNNPACK
// kernels do (see requant).

// Conv2DOptions slots in the TFLite schema.
const (
	convOptPadding   = 0
	convOptStrideW   = 1
	convOptStrideH   = 2
	convOptAct       = 3
	convOptDilationW = 4
	convOptDilationH = 5
)

// convTileBytes is the target size of one im2col tile: small enough to stay in L1/L2 while the
// packed filter panels stream past it.
const convTileBytes = 32 << 10

// convMinRowsPerSlot is the number of output positions below which a worker is not worth it.
const convMinRowsPerSlot = 64

// convMinMACsPerSlot is the work below which a worker is not worth it when the slots split the
// output channels: about 5 µs of the SIMD kernels, several times the pool's hand-off.
const convMinMACsPerSlot = 1 << 18

// convFilterReadMACs is what reading one filter value costs in multiply-adds when few positions
// share it: a product of one position (MobileNet's 1x1 classifier, 256 by 1001) streams its
// 1 MB filter from memory at a quarter of the kernel's speed, so it is worth two threads
// although its multiply-adds alone are not.
const convFilterReadMACs = 4

type conv2D struct {
	gemmOp
	slotScratch
	convParams     // from Conv2DOptions
	geom           im2colGeom
	batch, outC, k int
	direct         bool // 1x1, stride 1, no padding: the input rows are the GEMM's A
	inPlace        bool // float SIMD: A's rows are read from the input, a run per filter row
	indOff         int  // with inPlace, the byte offset of a slot's address table in its scratch
	cx0, cx1       int  // with inPlace, the output columns whose windows are inside the input's width
	rgb            bool // with inPlace, the direct kernel of conv_rgb.go computes the inside positions
	tileRows       int  // output positions per im2col tile
	colSplit       bool // this eval's units are panels of the filter, not output positions
	rows, align    int  // this eval's output positions, and positions per unit of work
}

// gemmOp is what CONV_2D and FULLY_CONNECTED share: both multiply by a filter packed for
// gemm.go (rows output channels of depth values each) and requantize its products alike.
type gemmOp struct {
	convQuant             // 8-bit types only
	typ         DataType  // of input, filter and output
	filterConst bool      // the filter was packed by prepare
	bf          packedF32 // the packed float32 filter, for the portable kernels
	bq          packedQ   // the packed 8-bit filter, for the portable kernels
	qk          *qKernel  // the 8-bit SIMD kernel, nil for the portable ones
	fk          *fKernel  // the float32 SIMD kernel, nil for the portable ones
	b8          packedQ8  // the 8-bit filter packed for qk
	bfx         packedF32x
	biasPad     []float32 // float bias padded to whole panels, for fk
	lo, hi      float32   // float activation clamp
	n           *node     // the node being evaluated, for run
}

// panelWidth returns the columns of B in one packed panel.
func (g *gemmOp) panelWidth() int {
	switch {
	case g.qk != nil:
		return g.qk.nr
	case g.fk != nil:
		return g.fk.nr
	}
	return gemmNR
}

// numPanels returns the number of packed panels for rows rows of B.
func (g *gemmOp) numPanels(rows int) int { return (rows + g.panelWidth() - 1) / g.panelWidth() }

// simdMinMACs is the size of 8-bit product (multiply-adds per eval) below which packing for the
// SIMD kernels costs more than it saves, and their scratch more than the op's tensors. Tests
// lower it to check the SIMD kernels on the smallest shapes too. Float products take the SIMD
// kernel whatever their size: it needs no scratch, and even the 30 multiply-adds of a 1-to-30
// FULLY_CONNECTED (the sine model's) run faster on it than on the portable loop.
var simdMinMACs = 1 << 12

// chooseKernels picks the SIMD kernels when this CPU has them and, for 8-bit types, the product
// of m rows by rows×depth is worth it, and the one that can take the filter (forFilter: the
// packing needs the kernel the tiles are laid out for).
func (g *gemmOp) chooseKernels(m, rows, depth int, filter *Tensor) {
	g.qk, g.fk = nil, nil
	switch {
	case g.typ != Float32 && m*rows*depth < simdMinMACs:
	case g.typ == Float32 && simdF != nil:
		g.fk = simdF
		g.biasPad = make([]float32, roundUp(rows, g.fk.nr))
	case g.typ != Float32 && simdQ != nil:
		g.qk = simdQ
		if simdQ.pairs {
			known := filter.constant && len(filter.data) >= filter.ByteSize()
			if g.typ == UInt8 {
				g.qk = forFilter(simdQ, filterValues[uint8](filter, known), rows, depth)
			} else {
				g.qk = forFilter(simdQ, filterValues[int8](filter, known), rows, depth)
			}
		}
		g.rq.pad(g.qk.nr)
	}
}

// filterValues returns the filter's values if known (constant, whole), else nil.
func filterValues[T uint8 | int8](filter *Tensor, known bool) []T {
	if !known {
		return nil
	}
	return viewAs[T](filter.data[:filter.ByteSize()])
}

// setFilter records whether the filter is constant and, if it is, packs it once for every eval.
func (g *gemmOp) setFilter(n *node, filter *Tensor, rows, depth int) error {
	var err error
	if g.filterConst, err = constFilter(n, filter); err != nil {
		return err
	}
	if g.filterConst {
		g.packFilter(filter, rows, depth)
	}
	return nil
}

func (g *gemmOp) packFilter(filter *Tensor, rows, depth int) {
	switch {
	case g.fk != nil:
		g.bfx.pack(g.fk, filter.Float32s(), rows, depth)
	case g.typ == Float32:
		g.bf.pack(filter.Float32s(), rows, depth)
	case g.qk != nil && g.typ == UInt8:
		packQ8(&g.b8, g.qk, filter.UInt8s(), rows, depth, g.filterZp)
	case g.qk != nil:
		packQ8(&g.b8, g.qk, filter.Int8s(), rows, depth, g.filterZp)
	case g.typ == UInt8:
		packQ(&g.bq, filter.UInt8s(), rows, depth, g.filterZp)
	case g.typ == Int8:
		packQ(&g.bq, filter.Int8s(), rows, depth, g.filterZp)
	}
}

// beginEval readies the filter and the output stage for one eval: it packs a filter that is not
// constant (it may change between runs), and folds the bias and the input zero point into the
// 8-bit accumulator offsets.
func (g *gemmOp) beginEval(n *node, rows, depth int) {
	if !g.filterConst {
		g.packFilter(n.inputs[1], rows, depth)
	}
	switch {
	case g.fk != nil:
		clear(g.biasPad)
		copy(g.biasPad, biasFloat32s(n))
	case g.qk != nil:
		g.b8.setOffsets(&g.rq, biasInt32s(n), g.inZp)
	case g.typ != Float32:
		g.rq.setOffsets(biasInt32s(n), g.inZp, g.bq.sum)
	}
}

// constFilter reports whether the filter is constant, which lets prepare preprocess it once,
// after checking that a constant filter holds all of its bytes.
func constFilter(n *node, filter *Tensor) (bool, error) {
	if filter.constant && len(filter.data) < filter.ByteSize() {
		return false, n.errorf("filter %q holds %d bytes, want %d", filter.name, len(filter.data), filter.ByteSize())
	}
	return filter.constant, nil
}

// biasTensor returns the optional bias input of a convolution-like op, or nil.
func biasTensor(n *node) *Tensor {
	if len(n.inputs) == 3 {
		return n.inputs[2]
	}
	return nil
}

// biasInt32s returns the 8-bit ops' bias values, or nil for none.
func biasInt32s(n *node) []int32 {
	if b := biasTensor(n); b != nil {
		return b.Int32s()
	}
	return nil
}

// biasFloat32s returns the float ops' bias values, or nil for none.
func biasFloat32s(n *node) []float32 {
	if b := biasTensor(n); b != nil {
		return b.Float32s()
	}
	return nil
}

func newConv2D(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 3, 1); err != nil {
		return nil, err
	}
	p, err := newConvParams(n, convSlots{
		convOptPadding, convOptStrideW, convOptStrideH, convOptAct, convOptDilationW, convOptDilationH})
	if err != nil {
		return nil, err
	}
	return &conv2D{convParams: p}, nil
}

// convParams are the options CONV_2D and DEPTHWISE_CONV_2D share.
type convParams struct {
	padding          int8
	strideW, strideH int
	dilW, dilH       int
	act              int8
}

// convSlots numbers convParams' options in one op's options table.
type convSlots struct{ padding, strideW, strideH, act, dilW, dilH int }

func newConvParams(n *node, s convSlots) (convParams, error) {
	p := convParams{
		padding: n.opts.Int8(s.padding, paddingSame),
		strideW: int(n.opts.Int32(s.strideW, 1)),
		strideH: int(n.opts.Int32(s.strideH, 1)),
		act:     n.opts.Int8(s.act, actNone),
		dilW:    int(n.opts.Int32(s.dilW, 1)),
		dilH:    int(n.opts.Int32(s.dilH, 1)),
	}
	return p, checkFusedActivation(n, p.act)
}

// windows returns the vertical and horizontal windows of an fH x fW filter over an inH x inW
// input.
func (p *convParams) windows(n *node, inH, inW, fH, fW int) (wy, wx window, err error) {
	if wy, err = newWindow(p.padding, inH, fH, p.strideH, p.dilH); err != nil {
		return wy, wx, n.errorf("height: %w", err)
	}
	if wx, err = newWindow(p.padding, inW, fW, p.strideW, p.dilW); err != nil {
		return wy, wx, n.errorf("width: %w", err)
	}
	return wy, wx, nil
}

func (k *conv2D) prepare(n *node) error {
	in, filter, out, bias := n.inputs[0], n.inputs[1], n.outputs[0], biasTensor(n)
	if in.Rank() != 4 || filter.Rank() != 4 {
		return n.errorf("input and filter must have rank 4, got shapes %v and %v", in.shape, filter.shape)
	}
	k.batch = in.shape[0]
	inH, inW, inC := in.shape[1], in.shape[2], in.shape[3]
	outC, fH, fW := filter.shape[0], filter.shape[1], filter.shape[2]
	if filter.shape[3] != inC {
		if filter.shape[3] > 0 && inC%filter.shape[3] == 0 {
			return n.errorf("%w: grouped convolution (input depth %d, filter depth %d)", errUnsupported, inC, filter.shape[3])
		}
		return n.errorf("filter depth %d does not match input depth %d", filter.shape[3], inC)
	}
	if inC < 1 || outC < 1 {
		return n.errorf("empty input or filter depth (shapes %v and %v)", in.shape, filter.shape)
	}
	if err := k.checkTypes(n, in, filter, bias, out, outC); err != nil {
		return err
	}
	wy, wx, err := k.windows(n, inH, inW, fH, fW)
	if err != nil {
		return err
	}
	k.geom = im2colGeom{inH: inH, inW: inW, inC: inC, outH: wy.out, outW: wx.out, wy: wy, wx: wx, filterH: fH, filtW: fW}
	k.outC = outC
	k.k = fH * fW * inC
	if k.typ != Float32 && k.k > maxQuantDepth {
		return n.errorf("%w: 8-bit convolution over %d values per output (at most %d)", errUnsupported, k.k, maxQuantDepth)
	}
	setShape(out, []int{k.batch, wy.out, wx.out, outC})

	k.direct = fH == 1 && fW == 1 && k.strideH == 1 && k.strideW == 1 && wy.pad == 0 && wx.pad == 0
	k.chooseKernels(k.batch*wy.out*wx.out, outC, k.k, filter)
	elem := in.typ.Size()
	k.tileRows = max(gemmMR, convTileBytes/(k.k*elem)/gemmMR*gemmMR)
	slotBytes := 0
	switch {
	case k.qk != nil:
		// Every tile is packed, the direct case too: A is widened for the kernel.
		kp := roundUp(k.k, k.qk.kAlign)
		k.tileRows = max(k.qk.mr, convTileBytes/(kp*2)/k.qk.mr*k.qk.mr)
		slotBytes = qTileBytes(k.qk, k.tileRows, kp)
	case k.fk != nil:
		k.tileRows = max(k.fk.mr, convTileBytes/(k.k*4)/k.fk.mr*k.fk.mr)
		if !k.direct {
			slotBytes = (k.tileRows*k.k*4 + 63) &^ 63
		}
		// Filter rows are contiguous in the input without a horizontal dilation: the kernel
		// reads them there, and only positions whose window leaves the input are copied.
		k.inPlace = !k.direct && wx.dilation == 1
		if k.inPlace {
			k.cx0 = min((wx.pad+wx.stride-1)/wx.stride, wx.out)
			k.cx1 = k.cx0
			if last := inW - fW + wx.pad; last >= 0 { // the last column's window start
				k.cx1 = max(k.cx0, min(wx.out, last/wx.stride+1))
			}
			k.indOff = slotBytes
			slotBytes += roundUp(k.tileRows, k.fk.mr) * fH * 8
		}
	case !k.direct:
		slotBytes = (k.tileRows*k.k*elem + 63) &^ 63
	}
	k.setScratch(n, slotBytes)
	if err := k.setFilter(n, filter, k.outC, k.k); err != nil {
		return err
	}
	k.rgb = k.useRGB()
	return nil
}

// checkTypes validates the operand types and quantization and precomputes the output stage.
func (k *conv2D) checkTypes(n *node, in, filter, bias, out *Tensor, outC int) error {
	k.typ = in.typ
	switch {
	case in.typ == Float32 && filter.typ == Float32 && out.typ == Float32:
		if bias != nil && (bias.typ != Float32 || bias.NumElements() != outC || bias.Rank() != 1) {
			return n.errorf("bias must be float32 of shape [%d], got %v %v", outC, bias.typ, bias.shape)
		}
		k.lo, k.hi = activationRangeFloat(k.act)
		return nil
	case in.typ == Float32 && is8bit(filter.typ):
		return n.errorf("%w: hybrid convolution (float32 input, %v filter)", errUnsupported, filter.typ)
	case !is8bit(in.typ) || filter.typ != in.typ || out.typ != in.typ:
		return n.errorf("%w: input %v, filter %v, output %v", errUnsupported, in.typ, filter.typ, out.typ)
	}
	q, err := newConvQuant(n, in, filter, bias, out, outC, 0, k.act)
	if err != nil {
		return err
	}
	k.convQuant = *q
	return nil
}

func (k *conv2D) eval(n *node) error {
	k.beginEval(n, k.outC, k.k)
	k.n = n
	total, minPart, grain := k.split()
	n.pool.do(total, minPart, grain, k)
	k.n = nil
	return nil
}

// split divides the eval into units of work for pool.do and returns its arguments. Units are
// runs of k.align output positions while there are enough positions: a whole number of the
// kernel's row tiles (output rows for the first-layer kernel), so that no unit ends in a part
// tile. A late layer has few positions and many channels (the SSD's 10x10 by 768 by 768, a third
// of its multiply-adds), and there the units are the filter's panels for all positions, one unit
// a thread, as each packs the same input tiles (a small cost next to its product).
func (k *conv2D) split() (total, minPart, grain int) {
	k.rows = k.batch * k.geom.outH * k.geom.outW
	k.colSplit = false
	k.align = gemmMR
	switch {
	case k.rgb:
		k.align = k.geom.outW
	case k.fk != nil:
		k.align = k.fk.mr
	case k.qk != nil:
		k.align = k.qk.mr
	}
	if byRows := min(k.slots, k.rows/convMinRowsPerSlot); byRows < k.slots {
		panels := k.numPanels(k.outC)
		byWork := max(k.rows, convFilterReadMACs) * k.outC * k.k / convMinMACsPerSlot
		if cols := min(k.slots, panels, byWork); cols > max(byRows, 1) {
			k.colSplit = true
			return panels, panels / cols, panels / cols
		}
	}
	return ceilDiv(k.rows, k.align), ceilDiv(convMinRowsPerSlot, k.align), 1
}

// floatTiles walks output rows r0..r1 of a float convolution in tiles of k.tileRows: gemm gets
// the tile's rows row0..row1 of a (the input itself for a direct 1x1 convolution, else the
// tile's im2col copy in scratch) and the output rows to write.
func (k *conv2D) floatTiles(src, dst []float32, scratch []byte, r0, r1 int, gemm func(a []float32, row0, row1 int, c []float32)) {
	for t := r0; t < r1; t += k.tileRows {
		te := min(t+k.tileRows, r1)
		a, row0 := src, t
		if !k.direct {
			a, row0 = viewAs[float32](scratch), 0
			im2col(a, src, &k.geom, t, te, 0)
		}
		gemm(a, row0, row0+te-t, dst[t*k.outC:])
	}
}

// floatTilesInPlace is floatTiles for the SIMD kernel reading A in place: per tile, the table
// of each position's filter-row addresses (inPlaceTile), then the product.
func (k *conv2D) floatTilesInPlace(src, dst []float32, scratch []byte, r0, r1, p0, p1 int) {
	buf := viewAs[float32](scratch[:k.indOff])
	ind := fgemmInd{tab: viewAs[uintptr](scratch[k.indOff:]), segs: k.geom.filterH, segLen: k.geom.filtW * k.geom.inC}
	for t := r0; t < r1; t += k.tileRows {
		te := min(t+k.tileRows, r1)
		k.inPlaceTile(&ind, buf, src, t, te)
		fgemmSIMD(nil, 0, 0, te-t, &ind, &k.bfx, p0, p1, k.biasPad, k.lo, k.hi, dst[t*k.outC:], k.outC)
	}
}

// inPlaceTile writes ind's table for output positions [t, te): per group of mr positions, per
// filter row, the address of its filtW*inC input values. A position whose window leaves the
// input is copied by im2col into its row of buf, and its runs point there. The last group is
// padded with its last position, as the kernel expects. Positions inside advance by a constant
// step: the table costs a few stores per position (it was 40% of a first layer's time with a
// division and the bounds checks per position).
func (k *conv2D) inPlaceTile(ind *fgemmInd, buf, src []float32, t, te int) {
	g := &k.geom
	mr, segs := k.fk.mr, ind.segs
	tab := ind.tab
	rowStep := uintptr(g.wy.dilation * g.inW * g.inC * 4)
	colStep := uintptr(g.wx.stride * g.inC * 4)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(src)))
	b, oy, ox := t/(g.outH*g.outW), (t/g.outW)%g.outH, t%g.outW
	grp, lane := 0, 0 // position i's group and lane, without a division per position
	for m := t; m < te; {
		// One output row's positions at a time: those with all filter rows inside the input
		// and ox in [k.cx0, k.cx1) read in place.
		end := min(te, m+g.outW-ox)
		iy0 := oy*g.wy.stride - g.wy.pad
		rowIn := iy0 >= 0 && iy0+(g.filterH-1)*g.wy.dilation < g.inH
		p := base + uintptr(((b*g.inH+iy0)*g.inW+ox*g.wx.stride-g.wx.pad)*g.inC*4)
		for m < end {
			// Positions [m, n) inside, read in place, or m alone, copied into its row of buf.
			n, a, step := m+1, p, rowStep
			if rowIn && ox >= k.cx0 && ox < k.cx1 {
				n = min(end, m+k.cx1-ox)
			} else {
				row := buf[(m-t)*k.k : (m-t+1)*k.k]
				im2col(row, src, g, m, m+1, 0)
				a, step = uintptr(unsafe.Pointer(&row[0])), uintptr(ind.segLen*4)
			}
			for ; m < n; m, ox, p, a = m+1, ox+1, p+colStep, a+colStep {
				setRuns(unsafe.Pointer(&tab[grp+lane]), segs, mr, a, step)
				if lane++; lane == mr {
					grp, lane = grp+segs*mr, 0
				}
			}
		}
		if ox == g.outW {
			ox = 0
			if oy++; oy == g.outH {
				oy = 0
				b++
			}
		}
	}
	if lane != 0 {
		for s := 0; s < segs; s++ {
			for i := lane; i < mr; i++ {
				tab[grp+s*mr+i] = tab[grp+s*mr+lane-1]
			}
		}
	}
}

// setRuns writes one position's entries of an fgemmInd table at e: segs addresses from a, step
// apart, mr entries apart. There is no bounds check: the table has segs*mr entries for each group
// of mr positions of a tile, and e is a position's first.
func setRuns(e unsafe.Pointer, segs, mr int, a, step uintptr) {
	if segs == 3 { // a 3x3 filter
		*(*uintptr)(e) = a
		*(*uintptr)(unsafe.Add(e, mr*8)) = a + step
		*(*uintptr)(unsafe.Add(e, 2*mr*8)) = a + 2*step
		return
	}
	for s := 0; s < segs; s++ {
		*(*uintptr)(unsafe.Add(e, s*mr*8)) = a
		a += step
	}
}

// run computes units [lo, hi) (see split) with slot's scratch: their output positions, or with
// colSplit their panels of the filter for every position.
func (k *conv2D) run(lo, hi, slot int) {
	n := k.n
	scratch := k.scratchFor(n, slot)
	r0, r1 := min(lo*k.align, k.rows), min(hi*k.align, k.rows)
	p0, p1 := 0, k.numPanels(k.outC)
	if k.colSplit {
		r0, r1, p0, p1 = 0, k.rows, lo, hi
	}
	in, out := n.inputs[0], n.outputs[0]
	switch {
	case k.rgb:
		k.rgbTiles(in.Float32s(), out.Float32s(), scratch, r0, r1, p0, p1)
	case k.inPlace:
		k.floatTilesInPlace(in.Float32s(), out.Float32s(), scratch, r0, r1, p0, p1)
	case k.fk != nil:
		k.floatTiles(in.Float32s(), out.Float32s(), scratch, r0, r1, func(a []float32, row0, row1 int, c []float32) {
			fgemmSIMD(a, k.k, row0, row1, nil, &k.bfx, p0, p1, k.biasPad, k.lo, k.hi, c, k.outC)
		})
	case k.qk != nil && k.typ == UInt8:
		convTilesQ8(k, in.UInt8s(), out.UInt8s(), scratch, r0, r1, p0, p1, false)
	case k.qk != nil:
		convTilesQ8(k, in.Int8s(), out.Int8s(), scratch, r0, r1, p0, p1, true)
	case k.typ == Float32:
		bias := biasFloat32s(n)
		k.floatTiles(in.Float32s(), out.Float32s(), scratch, r0, r1, func(a []float32, row0, row1 int, c []float32) {
			gemmF32(a, k.k, row0, row1, &k.bf, p0, p1, bias, k.lo, k.hi, c, k.outC)
		})
	case k.typ == UInt8:
		convTilesQ(k, in.UInt8s(), out.UInt8s(), viewAs[uint8](scratch), r0, r1, p0, p1)
	case k.typ == Int8:
		convTilesQ(k, in.Int8s(), out.Int8s(), viewAs[int8](scratch), r0, r1, p0, p1)
	}
}

// convTilesQ8 is convTilesQ for the SIMD kernel: each tile of output positions is packed (by
// im2col, or widened from the input rows) and multiplied by the packed filter.
func convTilesQ8[T uint8 | int8](k *conv2D, src, dst []T, scratch []byte, r0, r1, p0, p1 int, signed bool) {
	kp := k.b8.kp
	tile := newQTile(k.qk, scratch, k.tileRows, kp)
	for t := r0; t < r1; t += k.tileRows {
		te := min(t+k.tileRows, r1)
		switch {
		case !k.direct:
			im2colTile(&tile, src, &k.geom, t, te, T(k.inZp))
		case !packDirect(&tile, k.qk, src[t*k.k:], k.k, te-t):
			for r := t; r < te; r++ {
				setRow(&tile, r-t, src[r*k.k:(r+1)*k.k])
			}
		}
		qgemmSIMD(&tile, te-t, &k.b8, p0, p1, &k.rq, dst[t*k.outC:], k.outC, signed)
	}
}

func convTilesQ[T uint8 | int8](k *conv2D, src, dst, scratch []T, r0, r1, p0, p1 int) {
	for t := r0; t < r1; t += k.tileRows {
		te := min(t+k.tileRows, r1)
		a, row0 := src, t
		if !k.direct {
			a, row0 = scratch, 0
			im2col(a, src, &k.geom, t, te, T(k.inZp))
		}
		gemmQ(a, k.k, row0, row0+te-t, &k.bq, p0, p1, &k.rq, dst[t*k.outC:], k.outC)
	}
}

// checkFusedActivation rejects fused activations the 8-bit and float kernels cannot clamp to.
func checkFusedActivation(n *node, act int8) error {
	switch act {
	case actNone, actRelu, actRelu6, actReluN1To1:
		return nil
	}
	return n.errorf("%w: fused activation %d", errUnsupported, act)
}

// convQuant is the quantization of an 8-bit convolution-like op (CONV_2D, DEPTHWISE_CONV_2D,
// FULLY_CONNECTED).
type convQuant struct {
	rq       requant
	inZp     int32
	filterZp []int32 // one, or one per output channel
}

// newConvQuant checks the quantization of an 8-bit op whose filter has outC channels along
// filterAxis, and computes the output stage (see requant). The scales are float32 products as
// in XNNPACK: input_scale * filter_scale / output_scale, per channel or per tensor.
func newConvQuant(n *node, in, filter, bias, out *Tensor, outC, filterAxis int, act int8) (*convQuant, error) {
	if bias != nil && (bias.typ != Int32 || bias.Rank() != 1 || bias.NumElements() != outC) {
		return nil, n.errorf("bias must be int32 of shape [%d], got %v %v", outC, bias.typ, bias.shape)
	}
	inScale, inZp, outScale, outZp, err := quantOfInOut(n, in, out)
	if err != nil {
		return nil, err
	}
	fq := filter.quant
	if fq == nil || len(fq.Scale) == 0 {
		return nil, n.errorf("%w: %v filter %q has no quantization parameters", errUnsupported, filter.typ, filter.name)
	}
	perChannel := len(fq.Scale) > 1
	if perChannel {
		if filter.typ != Int8 {
			return nil, n.errorf("%w: per-channel quantized %v filter", errUnsupported, filter.typ)
		}
		if fq.Axis != filterAxis || len(fq.Scale) != outC {
			return nil, n.errorf("filter %q: per-channel quantization has %d scales on axis %d, want %d on axis %d",
				filter.name, len(fq.Scale), fq.Axis, outC, filterAxis)
		}
	}
	if len(fq.ZeroPoint) > 1 && len(fq.ZeroPoint) != len(fq.Scale) {
		return nil, n.errorf("filter %q: %d zero points for %d scales", filter.name, len(fq.ZeroPoint), len(fq.Scale))
	}
	lo, hi := typeRange(filter.typ)
	zps := []int32{0}
	if len(fq.ZeroPoint) > 0 {
		zps = make([]int32, len(fq.ZeroPoint))
		for i, z := range fq.ZeroPoint {
			if z < int64(lo) || z > int64(hi) {
				return nil, n.errorf("filter %q: zero point %d out of %v range", filter.name, z, filter.typ)
			}
			// TFLite takes int8 weights as symmetric and ignores a zero point.
			if filter.typ == Int8 && z != 0 {
				return nil, n.errorf("%w: int8 filter %q with nonzero zero point %d", errUnsupported, filter.name, z)
			}
			zps[i] = int32(z)
		}
	}
	for i, s := range fq.Scale {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, n.errorf("filter %q: invalid quantization scale %v at %d", filter.name, s, i)
		}
	}
	if !perChannel && bias != nil && bias.quant != nil && len(bias.quant.Scale) == 1 {
		// TFLite refuses a bias whose scale is far from input_scale*filter_scale, since the
		// kernel adds the bias as if it had that scale.
		prod := float64(inScale) * float64(fq.Scale[0])
		if math.Abs(prod-float64(bias.quant.Scale[0]))/float64(outScale) > 0.02 {
			return nil, n.errorf("bias scale %v does not match input scale * filter scale %v", bias.quant.Scale[0], prod)
		}
	}
	q := &convQuant{inZp: inZp, filterZp: zps}
	q.rq.offset = make([]int32, outC)
	q.rq.scale = make([]float32, outC)
	q.rq.outZp = outZp
	for c := range outC {
		fs := fq.Scale[0]
		if perChannel {
			fs = fq.Scale[c]
		}
		s := float32(float32(inScale*fs) / outScale)
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return nil, n.errorf("output scale factor %v (input %v * filter %v / output %v) is not a positive number",
				s, inScale, fs, outScale)
		}
		q.rq.scale[c] = s
	}
	qlo, qhi := typeRange(out.typ)
	q.rq.lo, q.rq.hi = activationRangeQuantized(act, outScale, outZp, qlo, qhi)
	q.rq.flo, q.rq.fhi = float32(q.rq.lo-outZp), float32(q.rq.hi-outZp)
	return q, nil
}

// pad gives offset and scale capacity for whole panels of nr channels, which the SIMD kernels
// read; the channels past the real ones are zero.
func (q *requant) pad(nr int) {
	n := len(q.offset)
	if cap(q.offset) < roundUp(n, nr) {
		q.offset = append(make([]int32, 0, roundUp(n, nr)), q.offset...)
		q.scale = append(make([]float32, 0, roundUp(n, nr)), q.scale...)
	}
}

// setOffsets sets the per-channel accumulator offsets: bias (nil for none) minus the input zero
// point times the channel's filter sum, which turns Σ a·(b - bZp) into Σ (a - aZp)·(b - bZp).
func (q *requant) setOffsets(bias []int32, inZp int32, filterSum []int32) {
	for c := range q.offset {
		var b int32
		if bias != nil {
			b = bias[c]
		}
		q.offset[c] = b - inZp*filterSum[c]
	}
}
