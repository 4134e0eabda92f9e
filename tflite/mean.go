package tflite

// MEAN over a constant set of axes, with or without keep_dims.
//
// Float accumulates in float32 and divides, as TFLite does. 8-bit sums the zero-point-shifted
// inputs in int32 and rescales the sum once by in_scale/(count*out_scale) with TFLite's
// fixed-point multiplier, which is TFLite's integer mean (within one step of each of its
// variants, which differ in where they round the zero-point term).

// Options slot (ReducerOptions).
const slotReducerKeepDims = 0

// maxMeanCount bounds the number of elements averaged into one output, so that an int32 sum of
// 8-bit values cannot overflow.
const maxMeanCount = 1 << 23

type meanKernel struct {
	keepDims bool
	typ      DataType
	// w walks the input contiguously; its destination strides address the accumulator (0 on
	// reduced dimensions).
	w       walk
	outSize int
	count   int
	// 8-bit.
	zpIn  int32
	mult  int32
	shift int
	zpOut int32
	qlo   int32
	qhi   int32
}

func newMean(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &meanKernel{keepDims: n.opts.Bool(slotReducerKeepDims, false)}, nil
}

func (k *meanKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	if out.typ != in.typ || !(in.typ == Float32 || is8bit(in.typ)) {
		return n.errorf("%w: MEAN from %v to %v", errUnsupported, in.typ, out.typ)
	}
	shape, w, count, err := reduction(n, in, n.inputs[1], k.keepDims)
	if err != nil {
		return err
	}
	k.w, k.count, k.outSize = w, count, numElements(shape)
	if k.count == 0 && k.outSize > 0 {
		return n.errorf("mean over an empty dimension of input shape %v", in.shape)
	}
	if k.count > maxMeanCount {
		return n.errorf("%w: mean over %d elements (max %d)", errUnsupported, k.count, maxMeanCount)
	}
	n.scratchSize = 4 * k.outSize
	if is8bit(in.typ) {
		si, zi, so, zo, err := quantOfInOut(n, in, out)
		if err != nil {
			return err
		}
		k.zpIn, k.zpOut = zi, zo
		k.mult, k.shift = quantizeMultiplier(float64(si) / (float64(max(k.count, 1)) * float64(so)))
		k.qlo, k.qhi = typeRange(in.typ)
	}
	setShape(out, shape)
	return nil
}

// accumulate adds every input element into its output's accumulator.
func accumulate[T uint8 | int8 | float32, A int32 | float32](w *walk, acc []A, src []T) {
	if w.empty() {
		return
	}
	r := w.rank
	if r == 0 {
		acc[0] += A(src[0])
		return
	}
	inner := w.count[r-1]
	ds := w.dstStride[r-1]
	var idx [maxDims]int
	d, s := 0, 0
	for {
		row := src[s : s+inner]
		if ds == 0 {
			var sum A
			for _, v := range row {
				sum += A(v)
			}
			acc[d] += sum
		} else {
			a := acc[d : d+inner]
			for i, v := range row {
				a[i] += A(v)
			}
		}
		s += inner
		k := r - 2
		for ; k >= 0; k-- {
			idx[k]++
			d += w.dstStride[k]
			if idx[k] < w.count[k] {
				break
			}
			d -= w.dstStride[k] * w.count[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

func (k *meanKernel) eval(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if k.outSize == 0 {
		return nil
	}
	if k.typ == Float32 {
		acc := viewAs[float32](n.scratch)[:k.outSize]
		clear(acc)
		accumulate(&k.w, acc, in.Float32s())
		dst := out.Float32s()
		count := float32(k.count)
		for i, v := range acc {
			dst[i] = v / count
		}
		return nil
	}
	acc := viewAs[int32](n.scratch)[:k.outSize]
	clear(acc)
	if k.typ == UInt8 {
		accumulate(&k.w, acc, in.data)
	} else {
		accumulate(&k.w, acc, in.Int8s())
	}
	shift := int32(k.count) * k.zpIn
	dst := out.data
	for i, v := range acc {
		q := multiplyByQuantizedMultiplier(v-shift, k.mult, k.shift) + k.zpOut
		dst[i] = byte(min(max(q, k.qlo), k.qhi))
	}
	return nil
}

// reduction resolves the axes tensor of a reduction over in (axes may repeat and be negative)
// and returns the output shape, a walk of the input whose destination strides address the
// output (0 on reduced dimensions), and the number of input elements per output.
func reduction(n *node, in, axesT *Tensor, keepDims bool) (shape []int, w walk, count int, err error) {
	rank, err := rankOf(n, in)
	if err != nil {
		return nil, w, 0, err
	}
	axes, err := constInts(n, axesT, "axes")
	if err != nil {
		return nil, w, 0, err
	}
	var reduced [maxDims]bool
	for _, a := range axes {
		if a < 0 {
			a += rank
		}
		if a < 0 || a >= rank {
			return nil, w, 0, n.errorf("axis %d out of range for rank %d", a, rank)
		}
		reduced[a] = true
	}
	var accShape []int
	count = 1
	for d := range rank {
		if reduced[d] {
			count *= in.shape[d]
			accShape = append(accShape, 1)
			if keepDims {
				shape = append(shape, 1)
			}
			continue
		}
		accShape = append(accShape, in.shape[d])
		shape = append(shape, in.shape[d])
	}
	accStrides := contiguousStrides(accShape)
	w = walk{rank: rank, srcStride: contiguousStrides(in.shape)}
	copy(w.count[:], in.shape)
	for d := range rank {
		if !reduced[d] {
			w.dstStride[d] = accStrides[d]
		}
	}
	return shape, w, count, nil
}
