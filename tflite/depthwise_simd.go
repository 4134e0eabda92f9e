package tflite

import "unsafe"

// The SIMD path of DEPTHWISE_CONV_2D (depth multiplier 1, at least 8 channels), after XNNPACK's
// design: for each output row an indirection table holds, for every output pixel, a pointer to
// the input pixel under each filter tap, or to a row of the input zero point where the tap falls
// in the padding. The assembly kernel then computes every pixel the same way, 8 channels at a
// time with the accumulators in registers across all taps, and requantizes in its store. The 8-bit
// kernel takes two taps per step: it interleaves their input bytes, widens them to int16 and
// multiplies by the interleaved tap weights (minus the filter zero point) with VPMADDWD or
// SMLAL, exact in int32; padding taps add zp·w, which the per-channel offset takes back:
// offset = bias - zp·Σ_t w_t.

// dwKind selects the depthwise routine runDW calls (a func value would make its args escape).
type dwKind int

const (
	dwFloat32 dwKind = iota
	dwUInt8
	dwInt8
	// dwF8x9: float32, 8 channels, a 3x3 filter, pixels inside the image (args.taps is s.rel).
	// MobileNet v1 0.25's 112x112x8 layer spent a third of its time reading tap addresses and
	// reloading weights: this kernel keeps the weights in registers and adds the offsets. Wider
	// layers run it once per block of 8 channels.
	dwF8x9
)

// dwKernel names this CPU's depthwise kernels (runDWQ and runDWF call them).
type dwKernel struct {
	name     string
	pairTaps bool // the 8-bit kernel takes two taps per step (their weights interleaved)
}

// dwArgs is what a depthwise kernel reads (the assembly relies on this layout). The address of
// pixel i's tap t is base + i*pixStep + taps[i*tapStride/8 + t]: either a table of addresses
// (base and pixStep 0) or, inside the image, one list of offsets shared by all pixels.
type dwArgs struct {
	taps      unsafe.Pointer // tap addresses or offsets (uintptr)
	w         unsafe.Pointer // packed weights
	out       unsafe.Pointer // output of pixel 0, channel 0
	offset    unsafe.Pointer // int32 per channel (8-bit) or float32 bias (float)
	scale     unsafe.Pointer // float32 per channel (8-bit)
	npix      int
	ntaps     int // taps per pixel, padded to even for the 8-bit kernels
	blocks    int // channel blocks of 8
	outBytes  int // bytes between output pixels
	base      uintptr
	pixStep   uintptr
	tapStride int
	flo, fhi  float32
	outZp     int32
}

// dwSIMD is the SIMD state of a depthwise convolution.
type dwSIMD struct {
	ntaps    int       // taps per pixel, padded to even for the 8-bit kernels
	taps     []uintptr // per worker slot: one output row's table of tap addresses
	rel      []uintptr // tap offsets from a pixel's first tap, for pixels inside the image
	cx0, cx1 int       // output columns whose taps are all inside the input's width
	zero     []byte    // a pixel of the input zero point (zero for float), padded
	w16      []int16   // 8-bit: per block of 8 channels, per tap, 8 weights (or per tap pair, per channel, 2)
	wf       []float32 // float: per block, per tap, 8 weights
	offset   []int32   // 8-bit: bias - zp·Σ w, per channel
	bias     []float32 // float: the bias, or zeros
}

// useSIMD reports whether the SIMD kernel takes this convolution.
func (k *depthwiseConv2D) useSIMD() bool {
	return simdDW != nil && k.mult == 1 && k.outC >= 8
}

// prepareSIMD sizes the SIMD state.
func (k *depthwiseConv2D) prepareSIMD(slots int) {
	s := &k.simd
	taps := k.fH * k.fW
	elem := 4
	if k.typ != Float32 {
		if simdDW.pairTaps {
			taps = roundUp(taps, 2)
		}
		elem = 1
	}
	s.ntaps = taps
	s.taps = make([]uintptr, slots*k.wx.out*taps)
	s.rel = make([]uintptr, taps)
	pix := k.inC * elem
	for fy := 0; fy < k.fH; fy++ {
		for fx := 0; fx < k.fW; fx++ {
			s.rel[fy*k.fW+fx] = uintptr(fy*k.wy.dilation*k.inW*pix + fx*k.wx.dilation*pix)
		}
	}
	// Columns ox with 0 <= ox*stride - pad and ox*stride - pad + (fW-1)*dilation < inW.
	s.cx0 = min(k.wx.out, (k.wx.pad+k.wx.stride-1)/k.wx.stride)
	s.cx1 = s.cx0
	if last := k.inW - 1 - (k.fW-1)*k.wx.dilation + k.wx.pad; last >= 0 {
		s.cx1 = max(s.cx0, min(k.wx.out, last/k.wx.stride+1))
	}
	s.zero = make([]byte, roundUp(k.inC, 8)*elem)
	if k.typ == UInt8 || k.typ == Int8 {
		fill(s.zero, byte(k.inZp))
		s.offset = make([]int32, k.outC)
	} else {
		s.bias = make([]float32, k.outC)
	}
}

// packSIMD lays the filter out for the kernel: k.wq (8-bit, minus zero point) or the float
// filter.
func (k *depthwiseConv2D) packSIMD(filter *Tensor) {
	s := &k.simd
	c, taps, blocks := k.outC, k.fH*k.fW, (k.outC+7)/8
	first := func(b int) int { return min(b*8, c-8) } // the last block may overlap the one before
	if k.typ == Float32 {
		w := filter.Float32s()
		if cap(s.wf) < blocks*taps*8 {
			s.wf = make([]float32, blocks*taps*8)
		}
		s.wf = s.wf[:blocks*taps*8]
		for b := 0; b < blocks; b++ {
			for t := 0; t < taps; t++ {
				copy(s.wf[(b*taps+t)*8:(b*taps+t+1)*8], w[t*c+first(b):t*c+first(b)+8])
			}
		}
		return
	}
	size := blocks * s.ntaps * 8
	if cap(s.w16) < size {
		s.w16 = make([]int16, size)
	}
	s.w16 = s.w16[:size]
	clear(s.w16)
	for b := 0; b < blocks; b++ {
		for t := 0; t < taps; t++ {
			for j := 0; j < 8; j++ {
				w := k.wq[t*c+first(b)+j]
				if simdDW.pairTaps {
					s.w16[(b*s.ntaps+t/2*2)*8+j*2+t%2] = w
				} else {
					s.w16[(b*s.ntaps+t)*8+j] = w
				}
			}
		}
	}
}

// setOffsetsSIMD folds the bias and the zero point's share of the padding taps.
func (k *depthwiseConv2D) setOffsetsSIMD(bias []int32) {
	taps := k.fH * k.fW
	for c := range k.simd.offset {
		var sw int32
		for t := 0; t < taps; t++ {
			sw += int32(k.wq[t*k.outC+c])
		}
		var b int32
		if bias != nil {
			b = bias[c]
		}
		k.simd.offset[c] = b - k.inZp*sw
	}
}

// fillTaps writes the tap addresses of output pixels [ox0, ox1) of row oy of batch b into
// taps, from pixel ox0 on.
func (k *depthwiseConv2D) fillTaps(taps []uintptr, in unsafe.Pointer, elem, b, oy, ox0, ox1 int) {
	s := &k.simd
	zero := uintptr(unsafe.Pointer(&s.zero[0]))
	pix := k.inC * elem
	nt := s.ntaps
	for fy := 0; fy < k.fH; fy++ {
		iy := oy*k.wy.stride - k.wy.pad + fy*k.wy.dilation
		valid := iy >= 0 && iy < k.inH
		row := uintptr(unsafe.Add(in, (b*k.inH+min(max(iy, 0), k.inH-1))*k.inW*pix))
		for ox := ox0; ox < ox1; ox++ {
			t := taps[(ox-ox0)*nt+fy*k.fW : (ox-ox0)*nt+fy*k.fW+k.fW]
			ix := ox*k.wx.stride - k.wx.pad
			for fx := range t {
				if valid && ix >= 0 && ix < k.inW {
					t[fx] = row + uintptr(ix*pix)
				} else {
					t[fx] = zero
				}
				ix += k.wx.dilation
			}
		}
	}
	for ox := ox0; ox < ox1; ox++ {
		for t := k.fH * k.fW; t < nt; t++ {
			taps[(ox-ox0)*nt+t] = zero
		}
	}
}

// rowValid reports whether every filter row of output row oy is inside the input.
func (k *depthwiseConv2D) rowValid(oy int) bool {
	iy := oy*k.wy.stride - k.wy.pad
	return iy >= 0 && iy+(k.fH-1)*k.wy.dilation < k.inH
}

// runRow computes output row oy of batch b: the pixels inside the image with the shared
// offsets, the others through the table.
// shift (bytes) is added to every tap address: the channel the pass starts at.
func (k *depthwiseConv2D) runRow(args *dwArgs, taps []uintptr, in, out unsafe.Pointer, elem, b, oy, shift int, kind dwKind) {
	s := &k.simd
	c0, c1 := s.cx0, s.cx1
	if !k.rowValid(oy) {
		c0, c1 = k.wx.out, k.wx.out
	}
	part := func(ox0, ox1 int) {
		if ox0 >= ox1 {
			return
		}
		k.fillTaps(taps, in, elem, b, oy, ox0, ox1)
		args.taps, args.base, args.pixStep, args.tapStride = unsafe.Pointer(&taps[0]), uintptr(shift), 0, s.ntaps*8
		args.npix, args.out = ox1-ox0, unsafe.Add(out, ox0*args.outBytes)
		runDW(args, kind)
	}
	part(0, c0)
	if c0 < c1 {
		iy := oy*k.wy.stride - k.wy.pad
		ix := c0*k.wx.stride - k.wx.pad
		pix := k.inC * elem
		args.taps, args.tapStride = unsafe.Pointer(&s.rel[0]), 0
		args.base = uintptr(unsafe.Add(in, ((b*k.inH+iy)*k.inW+ix)*pix+shift))
		args.pixStep = uintptr(k.wx.stride * pix)
		args.npix, args.out = c1-c0, unsafe.Add(out, c0*args.outBytes)
		if kind == dwFloat32 && k.fH == 3 && k.fW == 3 {
			// One pass per block of 8 channels, its nine weights in registers: a tap is one
			// load where the general kernel's two-block step also loads its address and its
			// weights (BlazeFace's 64x64x24 layers: 64 -> 30 µs).
			// (The pointers are set before each pass: one past the last block would be outside
			// its allocation, which checkptr rejects.)
			blk := *args
			for i := range args.blocks {
				blk.w, blk.offset = unsafe.Add(args.w, i*9*8*4), unsafe.Add(args.offset, i*8*4)
				blk.base, blk.out = args.base+uintptr(i*8*4), unsafe.Add(args.out, i*8*4)
				runDW(&blk, dwF8x9)
			}
		} else {
			runDW(args, kind)
		}
	}
	part(max(c0, c1), k.wx.out)
}

// The channels past the last multiple of 8 are computed by a second pass over the row with one
// block of the last 8 channels (overlapping the block before; its weights are packed last): the
// tap addresses shift by a base, so the same tables serve.

// rowsSIMDQ computes output rows [r0, r1) with the 8-bit kernel, using slot's table.
func rowsSIMDQ[T uint8 | int8](k *depthwiseConv2D, in, out []T, slot, r0, r1 int, kind dwKind) {
	s := &k.simd
	taps := s.taps[slot*k.wx.out*s.ntaps : (slot+1)*k.wx.out*s.ntaps]
	c, blocks := k.outC, k.outC/8
	args := dwArgs{
		w: unsafe.Pointer(&s.w16[0]), offset: unsafe.Pointer(&s.offset[0]), scale: unsafe.Pointer(&k.rq.scale[0]),
		ntaps: s.ntaps, blocks: blocks, outBytes: c, flo: k.rq.flo, fhi: k.rq.fhi, outZp: k.rq.outZp,
	}
	tail := args
	if blocks*8 < c {
		tail.blocks = 1
		tail.w = unsafe.Pointer(&s.w16[blocks*s.ntaps*8])
		tail.offset, tail.scale = unsafe.Pointer(&s.offset[c-8]), unsafe.Pointer(&k.rq.scale[c-8])
	}
	base := unsafe.Pointer(&in[0])
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		dst := out[(b*k.wy.out+oy)*k.wx.out*c:][:k.wx.out*c]
		k.runRow(&args, taps, base, unsafe.Pointer(&dst[0]), 1, b, oy, 0, kind)
		if blocks*8 < c {
			k.runRow(&tail, taps, base, unsafe.Pointer(&dst[c-8]), 1, b, oy, c-8, kind)
		}
	}
}

// rowsSIMDF computes output rows [r0, r1) with the float kernel, using slot's table. bias has
// outC values (zeros for none).
func (k *depthwiseConv2D) rowsSIMDF(in, bias, out []float32, slot, r0, r1 int) {
	s := &k.simd
	taps := s.taps[slot*k.wx.out*s.ntaps : (slot+1)*k.wx.out*s.ntaps]
	c, blocks := k.outC, k.outC/8
	args := dwArgs{
		w: unsafe.Pointer(&s.wf[0]), offset: unsafe.Pointer(&bias[0]),
		ntaps: s.ntaps, blocks: blocks, outBytes: c * 4, flo: k.lo, fhi: k.hi,
	}
	tail := args
	if blocks*8 < c {
		tail.blocks = 1
		tail.w = unsafe.Pointer(&s.wf[blocks*s.ntaps*8])
		tail.offset = unsafe.Pointer(&bias[c-8])
	}
	base := unsafe.Pointer(&in[0])
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		dst := out[(b*k.wy.out+oy)*k.wx.out*c:][:k.wx.out*c]
		k.runRow(&args, taps, base, unsafe.Pointer(&dst[0]), 4, b, oy, 0, dwFloat32)
		if blocks*8 < c {
			k.runRow(&tail, taps, base, unsafe.Pointer(&dst[c-8]), 4, b, oy, (c-8)*4, dwFloat32)
		}
	}
}
