package tflite

// TRANSPOSE_CONV (the gradient of CONV_2D, used for learned upsampling): inputs output_shape
// ([4] int32), filter [outC, fH, fW, inC], input [N, H, W, inC] and an optional bias [outC];
// options padding, strides and (version 4) a fused activation. Each output pixel gathers the
// input pixels whose filter window covers it, so rows split over the worker pool. The padding
// is TFLite's: that of a CONV_2D from an output-sized input to the input size.
//
// 8-bit accumulates Σ (x - x_zp)·(w - w_zp) + bias in int32 and has the requantization of the
// other convolutions (per-channel int8 filters, or per-tensor uint8).

// Options slots (TransposeConvOptions).
const (
	slotTConvPadding    = 0
	slotTConvStrideW    = 1
	slotTConvStrideH    = 2
	slotTConvActivation = 3
)

// tconvMinChunk is the number of output rows below which splitting over the pool does not pay.
const tconvMinChunk = 2

type transposeConv struct {
	padding      int8
	strideH      int
	strideW      int
	act          int8
	typ          DataType
	n, h, w, inC int // input
	oh, ow, outC int // output
	fh, fw       int
	padY, padX   int
	fmin, fmax   float32
	q            *convQuant
	zeros        []int32 // outC zeros: the filter sums setOffsets needs (zero points are exact here)
	// Operands of the current eval, for the pool's run callback.
	in, filter, out []byte
	bias            []float32
	acc             []int32
}

func newTransposeConv(n *node) (kernel, error) {
	if err := checkCounts(n, 3, 4, 1); err != nil {
		return nil, err
	}
	act := n.opts.Int8(slotTConvActivation, actNone)
	if err := checkFusedActivation(n, act); err != nil {
		return nil, err
	}
	return &transposeConv{
		padding: n.opts.Int8(slotTConvPadding, paddingSame),
		strideW: int(n.opts.Int32(slotTConvStrideW, 1)),
		strideH: int(n.opts.Int32(slotTConvStrideH, 1)),
		act:     act,
	}, nil
}

// biasOf returns the optional bias input, or nil.
func (k *transposeConv) biasOf(n *node) *Tensor {
	if len(n.inputs) == 4 {
		return n.inputs[3]
	}
	return nil
}

func (k *transposeConv) prepare(n *node) error {
	shapeT, filter, in, out := n.inputs[0], n.inputs[1], n.inputs[2], n.outputs[0]
	bias := k.biasOf(n)
	k.typ = in.typ
	if !(in.typ == Float32 || is8bit(in.typ)) || out.typ != in.typ || filter.typ != in.typ {
		return n.errorf("%w: TRANSPOSE_CONV of %v input, %v filter into %v", errUnsupported, in.typ, filter.typ, out.typ)
	}
	if in.Rank() != 4 || filter.Rank() != 4 || in.shape[3] != filter.shape[3] {
		return n.errorf("input %v and filter %v are not [N,H,W,C] and [O,H,W,C] with equal C", in.shape, filter.shape)
	}
	want, err := constInts(n, shapeT, "output_shape")
	if err != nil {
		return err
	}
	if len(want) != 4 || want[0] != in.shape[0] || want[3] != filter.shape[0] || want[1] < 1 || want[2] < 1 {
		return n.errorf("output_shape %v does not fit input %v and filter %v", want, in.shape, filter.shape)
	}
	k.n, k.h, k.w, k.inC = in.shape[0], in.shape[1], in.shape[2], in.shape[3]
	k.outC, k.fh, k.fw = filter.shape[0], filter.shape[1], filter.shape[2]
	k.oh, k.ow = want[1], want[2]
	wy, err := newWindow(k.padding, k.oh, k.fh, k.strideH, 1)
	if err != nil {
		return n.errorf("%w", err)
	}
	wx, err := newWindow(k.padding, k.ow, k.fw, k.strideW, 1)
	if err != nil {
		return n.errorf("%w", err)
	}
	k.padY, k.padX = wy.pad, wx.pad
	if _, ok := byteSize(want, 4); !ok || numElements(want) > maxOutputElements {
		return n.errorf("output shape %v is too large", want)
	}
	if in.typ == Float32 {
		if bias != nil && (bias.typ != Float32 || bias.NumElements() != k.outC) {
			return n.errorf("bias must be float32 of shape [%d], got %v %v", k.outC, bias.typ, bias.shape)
		}
		k.fmin, k.fmax = activationRangeFloat(k.act)
	} else {
		if k.q, err = newConvQuant(n, in, filter, bias, out, k.outC, 0, k.act); err != nil {
			return err
		}
		k.zeros = make([]int32, k.outC)
		if bias == nil || bias.constant {
			k.q.rq.setOffsets(biasInt32sOf(bias), 0, k.zeros)
		}
		n.scratchSize = 4 * numElements(want)
	}
	setShape(out, want)
	return nil
}

// biasInt32sOf returns the data of an optional int32 bias tensor.
func biasInt32sOf(bias *Tensor) []int32 {
	if bias == nil {
		return nil
	}
	return bias.Int32s()
}

func (k *transposeConv) eval(n *node) error {
	k.in, k.filter, k.out = n.inputs[2].data, n.inputs[1].data, n.outputs[0].data
	bias := k.biasOf(n)
	if k.typ == Float32 {
		k.bias = nil
		if bias != nil {
			k.bias = bias.Float32s()
		}
	} else {
		k.acc = viewAs[int32](n.scratch)
		if bias != nil && !bias.constant {
			k.q.rq.setOffsets(bias.Int32s(), 0, k.zeros)
		}
	}
	n.pool.do(k.n*k.oh, tconvMinChunk, 1, k)
	k.in, k.filter, k.out, k.bias, k.acc = nil, nil, nil, nil, nil
	return nil
}

// run computes output rows [lo, hi) (batch*height).
func (k *transposeConv) run(lo, hi, _ int) {
	switch k.typ {
	case Float32:
		tconvRows(k, lo, hi, viewAs[float32](k.in), viewAs[float32](k.filter), viewAs[float32](k.out), 0, 0)
	case UInt8:
		tconvRows(k, lo, hi, k.in, k.filter, k.acc, k.q.inZp, k.q.filterZp[0])
	default:
		tconvRows(k, lo, hi, viewAs[int8](k.in), viewAs[int8](k.filter), k.acc, k.q.inZp, 0)
	}
}

// tconvRows accumulates output rows [lo, hi) into acc (the float output itself, or the int32
// scratch) and finishes them: bias and activation, or requantization.
func tconvRows[T float32 | uint8 | int8, A float32 | int32](k *transposeConv, lo, hi int, in, filter []T, acc []A, inZp, fZp int32) {
	rowLen := k.ow * k.outC
	for r := lo; r < hi; r++ {
		b, oy := r/k.oh, r%k.oh
		row := acc[r*rowLen : (r+1)*rowLen]
		clear(row)
		for fy := range k.fh {
			t := oy + k.padY - fy
			if t < 0 || t%k.strideH != 0 || t/k.strideH >= k.h {
				continue
			}
			iy := t / k.strideH
			for ox := range k.ow {
				dst := row[ox*k.outC : (ox+1)*k.outC]
				for fx := range k.fw {
					t := ox + k.padX - fx
					if t < 0 || t%k.strideW != 0 || t/k.strideW >= k.w {
						continue
					}
					ix := t / k.strideW
					px := in[((b*k.h+iy)*k.w+ix)*k.inC:][:k.inC]
					for oc := range dst {
						wrow := filter[((oc*k.fh+fy)*k.fw+fx)*k.inC:][:k.inC]
						var s A
						for i, x := range px {
							s += (A(x) - A(inZp)) * (A(wrow[i]) - A(fZp))
						}
						dst[oc] += s
					}
				}
			}
		}
		k.finish(r)
	}
}

// finish applies bias and activation (float32) or requantization (8-bit) to output row r.
func (k *transposeConv) finish(r int) {
	rowLen := k.ow * k.outC
	if k.typ == Float32 {
		row := viewAs[float32](k.out)[r*rowLen : (r+1)*rowLen]
		for i, v := range row {
			if k.bias != nil {
				v += k.bias[i%k.outC]
			}
			row[i] = min(max(v, k.fmin), k.fmax)
		}
		return
	}
	acc := k.acc[r*rowLen : (r+1)*rowLen]
	out := k.out[r*rowLen : (r+1)*rowLen]
	for i, v := range acc {
		out[i] = byte(k.q.rq.apply(v, i%k.outC))
	}
}
