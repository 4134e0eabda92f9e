package tflite

// DEPTHWISE_CONV_2D: NHWC input, [1, H, W, C*M] filter (M the depth multiplier), optional bias.
// Output channel c*M+m convolves input channel c with filter channel c*M+m. The loop keeps one
// output pixel's accumulators (one per output channel) in scratch and adds each filter tap's
// contribution over the channels, which are contiguous in input, filter and output. The 8-bit
// version subtracts the input zero point in the loop and the filter's once in prepare.

// DepthwiseConv2DOptions slots in the TFLite schema.
const (
	dwOptPadding   = 0
	dwOptStrideW   = 1
	dwOptStrideH   = 2
	dwOptDepthMul  = 3
	dwOptAct       = 4
	dwOptDilationW = 5
	dwOptDilationH = 6
)

// dwMinMACsPerSlot is the work below which a worker is not worth it: about 1.5 µs of the SIMD
// kernels, as MobileNet's last layers (7x7 by 128 and 256 channels) have 7 rows of 8k-16k each.
const dwMinMACsPerSlot = 1 << 15

type depthwiseConv2D struct {
	convQuant // 8-bit types only
	slotScratch
	convParams    // from DepthwiseConv2DOptions
	typ           DataType
	batch         int
	inH, inW, inC int
	outC, mult    int // output channels and depth multiplier
	fH, fW        int
	wy, wx        window
	filterConst   bool
	wq            []int16 // 8-bit filter minus its zero point
	simd          dwSIMD  // when useSIMD
	lo, hi        float32
	n             *node
}

func newDepthwiseConv2D(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 3, 1); err != nil {
		return nil, err
	}
	// depth_multiplier (slot dwOptDepthMul) is redundant with the shapes; like TFLite since 2.x,
	// the kernel derives it from them and ignores the option.
	p, err := newConvParams(n, convSlots{
		dwOptPadding, dwOptStrideW, dwOptStrideH, dwOptAct, dwOptDilationW, dwOptDilationH})
	if err != nil {
		return nil, err
	}
	return &depthwiseConv2D{convParams: p}, nil
}

func (k *depthwiseConv2D) prepare(n *node) error {
	in, filter, out, bias := n.inputs[0], n.inputs[1], n.outputs[0], biasTensor(n)
	if in.Rank() != 4 || filter.Rank() != 4 {
		return n.errorf("input and filter must have rank 4, got shapes %v and %v", in.shape, filter.shape)
	}
	if filter.shape[0] != 1 {
		return n.errorf("filter shape %v: first dimension must be 1", filter.shape)
	}
	k.batch, k.inH, k.inW, k.inC = in.shape[0], in.shape[1], in.shape[2], in.shape[3]
	k.fH, k.fW, k.outC = filter.shape[1], filter.shape[2], filter.shape[3]
	if k.inC < 1 || k.outC < 1 || k.outC%k.inC != 0 {
		return n.errorf("filter depth %d is not a positive multiple of input depth %d", k.outC, k.inC)
	}
	k.mult = k.outC / k.inC
	k.typ = in.typ
	switch {
	case in.typ == Float32 && filter.typ == Float32 && out.typ == Float32:
		if bias != nil && (bias.typ != Float32 || bias.Rank() != 1 || bias.NumElements() != k.outC) {
			return n.errorf("bias must be float32 of shape [%d], got %v %v", k.outC, bias.typ, bias.shape)
		}
		k.lo, k.hi = activationRangeFloat(k.act)
	case in.typ == Float32 && is8bit(filter.typ):
		return n.errorf("%w: hybrid depthwise convolution (float32 input, %v filter)", errUnsupported, filter.typ)
	case !is8bit(in.typ) || filter.typ != in.typ || out.typ != in.typ:
		return n.errorf("%w: input %v, filter %v, output %v", errUnsupported, in.typ, filter.typ, out.typ)
	default:
		q, err := newConvQuant(n, in, filter, bias, out, k.outC, 3, k.act)
		if err != nil {
			return err
		}
		k.convQuant = *q
	}
	var err error
	if k.wy, k.wx, err = k.windows(n, k.inH, k.inW, k.fH, k.fW); err != nil {
		return err
	}
	setShape(out, []int{k.batch, k.wy.out, k.wx.out, k.outC})

	if k.useSIMD() {
		k.setScratch(n, 0)
		k.prepareSIMD(k.slots)
	} else {
		k.setScratch(n, (k.wx.out*k.outC*4+63)&^63) // one output row's float32 or int32 accumulators
	}
	if k.filterConst, err = constFilter(n, filter); err != nil {
		return err
	}
	if k.filterConst {
		k.packFilter(filter)
	}
	return nil
}

// packFilter stores the 8-bit filter minus its zero point.
func (k *depthwiseConv2D) packFilter(filter *Tensor) {
	if k.typ == Float32 {
		if k.useSIMD() {
			k.packSIMD(filter)
		}
		return
	}
	size := k.fH * k.fW * k.outC
	if cap(k.wq) < size {
		k.wq = make([]int16, size)
	}
	k.wq = k.wq[:size]
	switch k.typ {
	case UInt8:
		offsetFilter(k.wq, filter.UInt8s(), k.filterZp, k.outC)
	case Int8:
		offsetFilter(k.wq, filter.Int8s(), k.filterZp, k.outC)
	}
	if k.useSIMD() {
		k.packSIMD(filter)
	}
}

// offsetFilter stores w minus its zero point; zp has one entry or one per channel (the innermost
// dimension, of size channels).
func offsetFilter[T uint8 | int8](dst []int16, w []T, zp []int32, channels int) {
	for i, v := range w[:len(dst)] {
		z := zp[0]
		if len(zp) > 1 {
			z = zp[i%channels]
		}
		dst[i] = int16(int32(v) - z)
	}
}

func (k *depthwiseConv2D) eval(n *node) error {
	if !k.filterConst {
		k.packFilter(n.inputs[1])
	}
	switch {
	case k.useSIMD() && k.typ == Float32:
		clear(k.simd.bias)
		copy(k.simd.bias, biasFloat32s(n))
	case k.useSIMD():
		k.setOffsetsSIMD(biasInt32s(n))
	case k.typ != Float32:
		bias := biasInt32s(n)
		for c := range k.rq.offset {
			k.rq.offset[c] = 0
			if bias != nil {
				k.rq.offset[c] = bias[c]
			}
		}
	}
	k.n = n
	n.pool.do(k.batch*k.wy.out, ceilDiv(dwMinMACsPerSlot, max(1, k.wx.out*k.outC*k.fH*k.fW)), 1, k)
	k.n = nil
	return nil
}

// run computes output rows [r0, r1) (batch*height) with slot's scratch.
func (k *depthwiseConv2D) run(r0, r1, slot int) {
	n := k.n
	scratch := k.scratchFor(n, slot)
	in, out := n.inputs[0], n.outputs[0]
	if k.useSIMD() {
		switch k.typ {
		case Float32:
			k.rowsSIMDF(in.Float32s(), k.simd.bias, out.Float32s(), slot, r0, r1)
		case UInt8:
			rowsSIMDQ(k, in.UInt8s(), out.UInt8s(), slot, r0, r1, dwUInt8)
		case Int8:
			rowsSIMDQ(k, in.Int8s(), out.Int8s(), slot, r0, r1, dwInt8)
		}
		return
	}
	switch k.typ {
	case Float32:
		k.rowsF32(in.Float32s(), n.inputs[1].Float32s(), biasFloat32s(n), out.Float32s(), viewAs[float32](scratch)[:k.wx.out*k.outC], r0, r1)
	case UInt8:
		depthwiseRowsQ(k, in.UInt8s(), out.UInt8s(), viewAs[int32](scratch)[:k.wx.out*k.outC], r0, r1)
	case Int8:
		depthwiseRowsQ(k, in.Int8s(), out.Int8s(), viewAs[int32](scratch)[:k.wx.out*k.outC], r0, r1)
	}
}

// taps returns the filter index range [f0, f1) whose input position o*stride-pad+f*dilation
// lies inside [0, size).
func taps(w *window, o int) (f0, f1 int) {
	start := o*w.stride - w.pad
	f0 = 0
	if start < 0 {
		f0 = (-start + w.dilation - 1) / w.dilation
	}
	f1 = w.filter
	if last := start + (w.filter-1)*w.dilation; last >= w.in {
		f1 = (w.in-1-start)/w.dilation + 1
		if w.in-1-start < 0 {
			f1 = 0
		}
	}
	return f0, max(f0, f1)
}

// outputs returns the output index range [o0, o1) whose window reads an in-bounds input at
// filter tap f.
func outputs(w *window, f int) (o0, o1 int) {
	lo := w.pad - f*w.dilation // o*stride >= lo
	hi := w.in - 1 + lo        // o*stride <= hi
	if hi < 0 {
		return 0, 0
	}
	if lo > 0 {
		o0 = (lo + w.stride - 1) / w.stride
	}
	o1 = min(w.out, hi/w.stride+1)
	return o0, max(o0, o1)
}

// The row loops below accumulate one output row at a time: for each filter tap, every output
// pixel that tap reaches adds input times weight over the channels, so the tap's weights and
// its in-bounds pixel range are worked out once per row rather than per pixel.

func (k *depthwiseConv2D) rowsF32(in, filter, bias, out, acc []float32, r0, r1 int) {
	outC, inC, m := k.outC, k.inC, k.mult
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		for ox := 0; ox < k.wx.out; ox++ {
			if bias != nil {
				copy(acc[ox*outC:(ox+1)*outC], bias)
			} else {
				clear(acc[ox*outC : (ox+1)*outC])
			}
		}
		fy0, fy1 := taps(&k.wy, oy)
		for fy := fy0; fy < fy1; fy++ {
			iy := oy*k.wy.stride - k.wy.pad + fy*k.wy.dilation
			row := in[(b*k.inH+iy)*k.inW*inC:][:k.inW*inC]
			for fx := 0; fx < k.fW; fx++ {
				w := filter[(fy*k.fW+fx)*outC:][:outC]
				ox0, ox1 := outputs(&k.wx, fx)
				for ox := ox0; ox < ox1; ox++ {
					ix := ox*k.wx.stride - k.wx.pad + fx*k.wx.dilation
					src := row[ix*inC:][:inC]
					a := acc[ox*outC:][:outC]
					if m == 1 {
						a, w := a[:len(src)], w[:len(src)]
						for c, v := range src {
							a[c] += v * w[c]
						}
						continue
					}
					for c, v := range src {
						wc := w[c*m : (c+1)*m]
						ac := a[c*m : (c+1)*m]
						for j, x := range wc {
							ac[j] += v * x
						}
					}
				}
			}
		}
		dst := out[(b*k.wy.out+oy)*k.wx.out*outC:][:len(acc)]
		for i, v := range acc {
			dst[i] = min(max(v, k.lo), k.hi)
		}
	}
}

func depthwiseRowsQ[T uint8 | int8](k *depthwiseConv2D, in, out []T, acc []int32, r0, r1 int) {
	outC, inC, m, zp := k.outC, k.inC, k.mult, k.inZp
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		clear(acc)
		fy0, fy1 := taps(&k.wy, oy)
		for fy := fy0; fy < fy1; fy++ {
			iy := oy*k.wy.stride - k.wy.pad + fy*k.wy.dilation
			row := in[(b*k.inH+iy)*k.inW*inC:][:k.inW*inC]
			for fx := 0; fx < k.fW; fx++ {
				w := k.wq[(fy*k.fW+fx)*outC:][:outC]
				ox0, ox1 := outputs(&k.wx, fx)
				for ox := ox0; ox < ox1; ox++ {
					ix := ox*k.wx.stride - k.wx.pad + fx*k.wx.dilation
					src := row[ix*inC:][:inC]
					a := acc[ox*outC:][:outC]
					if m == 1 {
						a, w := a[:len(src)], w[:len(src)]
						for c, v := range src {
							a[c] += (int32(v) - zp) * int32(w[c])
						}
						continue
					}
					for c, v := range src {
						x := int32(v) - zp
						wc := w[c*m : (c+1)*m]
						ac := a[c*m : (c+1)*m]
						for j, y := range wc {
							ac[j] += x * int32(y)
						}
					}
				}
			}
		}
		dst := out[(b*k.wy.out+oy)*k.wx.out*outC:][:len(acc)]
		for ox := 0; ox < k.wx.out; ox++ {
			a := acc[ox*outC : (ox+1)*outC]
			d := dst[ox*outC : (ox+1)*outC]
			for c, v := range a {
				d[c] = T(k.rq.apply(v, c))
			}
		}
	}
}
