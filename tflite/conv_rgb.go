package tflite

import "unsafe"

// The first convolution of an image model reads the 3 channels of the picture with stride 2
// (MobileNet's 3x3 to 8 or 32 channels, BlazeFace's 5x5 to 24). The GEMM kernel reading A in
// place (floatTilesInPlace) spends a third of that layer writing the table of each position's
// filter-row addresses, and its 8-row tiles leave the FMA units waiting on their own results.
// rgbConv runs them without a table: rgbGroup positions of one output row at a time (14 on
// amd64, 8 on arm64), their windows a constant 24 bytes apart, 8 output channels per call, the
// filter read from the GEMM kernel's packed panels. A group on the input's border reads a
// zero-padded copy of its windows (a strip); only a row with fewer positions in a slot than a
// group still takes the table path. The sums are in the same order as the GEMM kernel's, so
// the two paths give the same bits.

// rgbArgs is what the kernel reads (the assembly relies on this layout).
type rgbArgs struct {
	in      unsafe.Pointer // the first position's window: its first filter row
	w       unsafe.Pointer // the filter's first row for the 8 output channels
	out     unsafe.Pointer // the first position's output at the first of the 8 channels
	bias    unsafe.Pointer // 8 float32
	rowStep uintptr        // bytes between filter rows in the input
	outStep uintptr        // bytes between positions' outputs
	groups  int            // groups of rgbGroup positions, each 24 bytes further in the input
	segs    int            // filter rows
	segLen  uintptr        // bytes per filter row (filter width times 3 channels times 4)
	lo, hi  float32
	wStep   uintptr // bytes between the filter's rows (the packed panel's width)
}

// useRGB reports whether the direct kernel takes this float convolution: 3 input channels,
// stride 2 across, filter rows read in place, whole 8-channel blocks, a constant filter packed
// once, output rows of at least rgbGroup positions, and a slot's scratch that holds a strip.
func (k *conv2D) useRGB() bool {
	return rgbKernel && k.inPlace && k.filterConst && k.geom.inC == 3 && k.geom.wx.stride == 2 &&
		k.outC%8 == 0 && k.geom.outW >= rgbGroup && k.rgbStripLen()*4 <= k.slotBytes &&
		(rgbWStep == 0 || rgbWStep == k.fk.nr*4)
}

// rgbStripLen is the length of a strip: the filter rows of one group's windows, side by side.
func (k *conv2D) rgbStripLen() int { return k.geom.filterH * k.rgbStripW() }

// rgbStripW is the values in one filter row of a strip.
func (k *conv2D) rgbStripW() int { return ((rgbGroup-1)*2 + k.geom.filtW) * 3 }

// rgbTiles computes output positions [r0, r1) for the panels [p0, p1). Each output row goes
// in groups of rgbGroup positions, the last one overlapping the one before it when the row is
// not a multiple. A group whose windows are inside the input is read in place (consecutive
// ones in one call); one whose windows leave it is first copied into a strip with the padding
// written out, the zeros the GEMM path multiplies too. A row with fewer positions in this slot
// than a group takes the table path.
func (k *conv2D) rgbTiles(src, dst []float32, scratch []byte, r0, r1, p0, p1 int) {
	g := &k.geom
	nr := k.fk.nr
	c0, c1 := p0*nr, min(p1*nr, k.outC)
	strip := viewAs[float32](scratch)[:k.rgbStripLen()]
	args := rgbArgs{
		outStep: uintptr(k.outC * 4),
		segs:    g.filterH,
		segLen:  uintptr(g.filtW * 3 * 4),
		lo:      k.lo,
		hi:      k.hi,
		wStep:   uintptr(nr * 4),
	}
	inRowStep := uintptr(g.wy.dilation * g.inW * 3 * 4)
	// run computes groups groups from output position m, whose first window starts at in.
	run := func(in unsafe.Pointer, rowStep uintptr, m, groups int) {
		args.rowStep, args.groups = rowStep, groups
		for c := c0; c < c1; c += 8 {
			args.w = unsafe.Pointer(&k.bfx.data[c/nr*nr*k.k+c%nr])
			args.bias = unsafe.Pointer(&k.biasPad[c])
			args.in, args.out = in, unsafe.Pointer(&dst[m*k.outC+c])
			runRGB(&args)
		}
	}
	for m := r0; m < r1; {
		b, oy, ox := m/(g.outH*g.outW), (m/g.outW)%g.outH, m%g.outW
		end := min(r1, m+g.outW-ox)
		n := end - m
		if n < rgbGroup {
			k.floatTilesInPlace(src, dst, scratch, m, end, p0, p1)
			m = end
			continue
		}
		iy0 := oy*g.wy.stride - g.wy.pad
		rowIn := iy0 >= 0 && iy0+(g.filterH-1)*g.wy.dilation < g.inH
		rowBase := (b*g.inH + max(iy0, 0)) * g.inW * 3
		// Groups read in place from runStart on, runGroups of them, not computed yet.
		runStart, runGroups := 0, 0
		flush := func() {
			if runGroups > 0 {
				ix := (ox+runStart)*2 - g.wx.pad
				run(unsafe.Pointer(&src[rowBase+ix*3]), inRowStep, m+runStart, runGroups)
				runGroups = 0
			}
		}
		for gs := 0; gs < n; gs += rgbGroup {
			s := min(gs, n-rgbGroup)
			o0 := ox + s
			if rowIn && o0 >= k.cx0 && o0+rgbGroup <= k.cx1 {
				if runGroups > 0 && s != runStart+runGroups*rgbGroup {
					flush()
				}
				if runGroups == 0 {
					runStart = s
				}
				runGroups++
				continue
			}
			flush()
			k.rgbStrip(strip, src, b, iy0, o0*2-g.wx.pad)
			run(unsafe.Pointer(&strip[0]), uintptr(k.rgbStripW()*4), m+s, 1)
		}
		flush()
		m = end
	}
}

// rgbStrip copies into strip the filter rows of a group's windows, the first starting at input
// row iy0 and column ix0 of batch b, with zeros where they leave the input.
func (k *conv2D) rgbStrip(strip, src []float32, b, iy0, ix0 int) {
	g := &k.geom
	w := k.rgbStripW() / 3 // input columns
	x0, x1 := max(ix0, 0), min(ix0+w, g.inW)
	for s := range g.filterH {
		row := strip[s*w*3 : (s+1)*w*3]
		iy := iy0 + s*g.wy.dilation
		if iy < 0 || iy >= g.inH || x0 >= x1 {
			clear(row)
			continue
		}
		clear(row[:(x0-ix0)*3])
		base := ((b*g.inH+iy)*g.inW + x0) * 3
		copy(row[(x0-ix0)*3:(x1-ix0)*3], src[base:base+(x1-x0)*3])
		clear(row[(x1-ix0)*3:])
	}
}
