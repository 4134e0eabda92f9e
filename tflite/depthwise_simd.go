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
// offset = bias - zp·Σ_t w_t. Channels past the last multiple of 8 are computed in Go.

// dwKernel names this CPU's depthwise kernels (runDWQ and runDWF call them).
type dwKernel struct {
	name string
}

// dwArgs is what a depthwise kernel reads (the assembly relies on this layout).
type dwArgs struct {
	taps     unsafe.Pointer // npix rows of ntaps input pointers
	w        unsafe.Pointer // packed weights
	out      unsafe.Pointer // output of pixel 0, channel 0
	offset   unsafe.Pointer // int32 per channel (8-bit) or float32 bias (float)
	scale    unsafe.Pointer // float32 per channel (8-bit)
	npix     int
	ntaps    int // pointers per pixel: the taps, padded to even for the 8-bit kernels
	blocks   int // channel blocks of 8
	outBytes int // bytes between output pixels
	flo, fhi float32
	outZp    int32
}

// dwSIMD is the SIMD state of a depthwise convolution.
type dwSIMD struct {
	ntaps  int              // taps per pixel, padded to even for the 8-bit kernels
	taps   []unsafe.Pointer // per worker slot: one output row's indirection table
	zero   []byte           // a pixel of the input zero point (zero for float), padded
	w16    []int16          // 8-bit: per block of 8 channels, per tap pair, per channel, the two taps' weights
	wf     []float32        // float: per block, per tap, 8 weights
	offset []int32          // 8-bit: bias - zp·Σ w, per channel
	bias   []float32        // float: the bias, or zeros
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
		taps = roundUp(taps, 2)
		elem = 1
	}
	s.ntaps = taps
	s.taps = make([]unsafe.Pointer, slots*k.wx.out*taps)
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
	c, taps, blocks := k.outC, k.fH*k.fW, k.outC/8
	if k.typ == Float32 {
		w := filter.Float32s()
		if cap(s.wf) < blocks*taps*8 {
			s.wf = make([]float32, blocks*taps*8)
		}
		s.wf = s.wf[:blocks*taps*8]
		for b := 0; b < blocks; b++ {
			for t := 0; t < taps; t++ {
				copy(s.wf[(b*taps+t)*8:(b*taps+t+1)*8], w[t*c+b*8:t*c+b*8+8])
			}
		}
		return
	}
	pairs := s.ntaps / 2
	if cap(s.w16) < blocks*pairs*16 {
		s.w16 = make([]int16, blocks*pairs*16)
	}
	s.w16 = s.w16[:blocks*pairs*16]
	clear(s.w16)
	for b := 0; b < blocks; b++ {
		for t := 0; t < taps; t++ {
			for j := 0; j < 8; j++ {
				s.w16[(b*pairs+t/2)*16+j*2+t%2] = k.wq[t*c+b*8+j]
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

// fillTaps writes output row oy of batch b's indirection table.
func (k *depthwiseConv2D) fillTaps(taps []unsafe.Pointer, in unsafe.Pointer, elem, b, oy int) {
	s := &k.simd
	zero := unsafe.Pointer(&s.zero[0])
	rowBytes := k.inW * k.inC * elem
	pix := k.inC * elem
	for fy := 0; fy < k.fH; fy++ {
		iy := oy*k.wy.stride - k.wy.pad + fy*k.wy.dilation
		valid := iy >= 0 && iy < k.inH
		row := unsafe.Add(in, (b*k.inH+iy)*rowBytes)
		for ox := 0; ox < k.wx.out; ox++ {
			t := taps[ox*s.ntaps+fy*k.fW : ox*s.ntaps+fy*k.fW+k.fW]
			ix := ox*k.wx.stride - k.wx.pad
			for fx := range t {
				if valid && ix >= 0 && ix < k.inW {
					t[fx] = unsafe.Add(row, ix*pix)
				} else {
					t[fx] = zero
				}
				ix += k.wx.dilation
			}
		}
	}
	if pad := s.ntaps - k.fH*k.fW; pad > 0 {
		for ox := 0; ox < k.wx.out; ox++ {
			for t := s.ntaps - pad; t < s.ntaps; t++ {
				taps[ox*s.ntaps+t] = zero
			}
		}
	}
}

// rowsSIMDQ computes output rows [r0, r1) with the 8-bit kernel, using slot's table.
func rowsSIMDQ[T uint8 | int8](k *depthwiseConv2D, in, out []T, slot, r0, r1 int, signed bool) {
	s := &k.simd
	taps := s.taps[slot*k.wx.out*s.ntaps : (slot+1)*k.wx.out*s.ntaps]
	c, blocks := k.outC, k.outC/8
	args := dwArgs{
		taps: unsafe.Pointer(&taps[0]), w: unsafe.Pointer(&s.w16[0]),
		offset: unsafe.Pointer(&s.offset[0]), scale: unsafe.Pointer(&k.rq.scale[0]),
		npix: k.wx.out, ntaps: s.ntaps, blocks: blocks, outBytes: c,
		flo: k.rq.flo, fhi: k.rq.fhi, outZp: k.rq.outZp,
	}
	base := unsafe.Pointer(&in[0])
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		k.fillTaps(taps, base, 1, b, oy)
		dst := out[(b*k.wy.out+oy)*k.wx.out*c:][:k.wx.out*c]
		args.out = unsafe.Pointer(&dst[0])
		runDWQ(&args, signed)
		if tail := blocks * 8; tail < c {
			for ox := 0; ox < k.wx.out; ox++ {
				pt := taps[ox*s.ntaps:][:k.fH*k.fW]
				for ch := tail; ch < c; ch++ {
					acc := s.offset[ch]
					for t, p := range pt {
						acc += int32(*(*T)(unsafe.Add(p, ch))) * int32(k.wq[t*c+ch])
					}
					dst[ox*c+ch] = T(k.rq.apply(acc, ch))
				}
			}
		}
	}
}

// rowsSIMDF computes output rows [r0, r1) with the float kernel, using slot's table. bias has
// outC values (zeros for none).
func (k *depthwiseConv2D) rowsSIMDF(in, filter, bias, out []float32, slot, r0, r1 int) {
	s := &k.simd
	taps := s.taps[slot*k.wx.out*s.ntaps : (slot+1)*k.wx.out*s.ntaps]
	c, blocks := k.outC, k.outC/8
	args := dwArgs{
		taps: unsafe.Pointer(&taps[0]), w: unsafe.Pointer(&s.wf[0]), offset: unsafe.Pointer(&bias[0]),
		npix: k.wx.out, ntaps: s.ntaps, blocks: blocks, outBytes: c * 4, flo: k.lo, fhi: k.hi,
	}
	base := unsafe.Pointer(&in[0])
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		k.fillTaps(taps, base, 4, b, oy)
		dst := out[(b*k.wy.out+oy)*k.wx.out*c:][:k.wx.out*c]
		args.out = unsafe.Pointer(&dst[0])
		runDWF(&args)
		if tail := blocks * 8; tail < c {
			for ox := 0; ox < k.wx.out; ox++ {
				pt := taps[ox*s.ntaps:][:k.fH*k.fW]
				for ch := tail; ch < c; ch++ {
					acc := bias[ch]
					for t, p := range pt {
						acc += *(*float32)(unsafe.Add(p, ch*4)) * filter[t*c+ch]
					}
					dst[ox*c+ch] = min(max(acc, k.lo), k.hi)
				}
			}
		}
	}
}
