package tflite

import (
	"math"
	"unsafe"
)

// RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR on NHWC tensors, with TFLite's source coordinate
// rules for align_corners and half_pixel_centers. Prepare computes every output row's and
// column's source indices and weights; eval only blends (bilinear) or copies (nearest).
//
// Float bilinear blends in float32 as TFLite's reference kernel. 8-bit bilinear computes as
// XNNPACK does (which the official runtime delegates it to, and which the golden tests match bit
// for bit): float source coordinates clamped into the image, fractions in Q11, two integer
// lerps and a rounding shift by 22. TFLite's own integer reference (Q10 coordinates) differs by
// one step on about a tenth of the outputs.

// Options slots.
const (
	slotBilinearAlignCorners     = 2 // ResizeBilinearOptions; 0 and 1 are deprecated sizes
	slotBilinearHalfPixelCenters = 3
	slotNearestAlignCorners      = 0 // ResizeNearestNeighborOptions
	slotNearestHalfPixelCenters  = 1
)

// maxResizeDim bounds an output height or width.
const maxResizeDim = 1 << 14

// resizeSpan is one output row's or column's sources: indices lo and hi and the weight of hi,
// as a float32 or, for 8-bit, in Q11 fixed point.
type resizeSpan struct {
	lo, hi int
	frac   float32
	frac11 int32
}

type resizeKernel struct {
	slotScratch  // 8-bit bilinear keeps two rows per slot
	bilinear     bool
	alignCorners bool
	halfPixel    bool
	typ          DataType
	batch, inH   int
	inW, depth   int
	outH, outW   int
	ys, xs       []resizeSpan
	n            *node // the node being evaluated, for the pool's run callback
}

// resizeMinChunk is the number of output elements below which splitting rows over the pool
// does not pay.
const resizeMinChunk = 16 << 10

func newResize(n *node, bilinear bool) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	k := &resizeKernel{bilinear: bilinear}
	if bilinear {
		k.alignCorners = n.opts.Bool(slotBilinearAlignCorners, false)
		k.halfPixel = n.opts.Bool(slotBilinearHalfPixelCenters, false)
	} else {
		k.alignCorners = n.opts.Bool(slotNearestAlignCorners, false)
		k.halfPixel = n.opts.Bool(slotNearestHalfPixelCenters, false)
	}
	if k.alignCorners && k.halfPixel {
		return nil, n.errorf("align_corners and half_pixel_centers are both set")
	}
	return k, nil
}

func newResizeBilinear(n *node) (kernel, error) { return newResize(n, true) }

func newResizeNearestNeighbor(n *node) (kernel, error) { return newResize(n, false) }

func (k *resizeKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	if k.bilinear {
		// 8-bit values are blended as stored, without requantization, as TFLite does.
		if out.typ != in.typ || !(in.typ == Float32 || is8bit(in.typ)) {
			return n.errorf("%w: RESIZE_BILINEAR from %v to %v", errUnsupported, in.typ, out.typ)
		}
	} else if err := checkMove(n, in, out); err != nil {
		return err
	}
	if in.Rank() != 4 {
		return n.errorf("input %q has shape %v, want NHWC", in.name, in.shape)
	}
	size, err := constInts(n, n.inputs[1], "size")
	if err != nil {
		return err
	}
	if len(size) != 2 {
		return n.errorf("size tensor has %d values, want 2", len(size))
	}
	for _, s := range size {
		if s < 1 || s > maxResizeDim {
			return n.errorf("output size %v out of range [1, %d]", size, maxResizeDim)
		}
	}
	k.batch, k.inH, k.inW, k.depth = in.shape[0], in.shape[1], in.shape[2], in.shape[3]
	k.outH, k.outW = size[0], size[1]
	if k.inH == 0 || k.inW == 0 {
		return n.errorf("input %q has empty spatial shape %v", in.name, in.shape)
	}
	if k.batch*k.outH*k.outW*k.depth > maxOutputElements {
		return n.errorf("resized output [%d %d %d %d] is too large", k.batch, k.outH, k.outW, k.depth)
	}
	k.ys = k.spans(k.ys, k.inH, k.outH)
	k.xs = k.spans(k.xs, k.inW, k.outW)
	slotBytes := 0
	if k.bilinear && is8bit(k.typ) {
		slotBytes = (2*k.outW*k.depth*4 + 63) &^ 63
	}
	k.setScratch(n, slotBytes)
	setShape(out, []int{k.batch, k.outH, k.outW, k.depth})
	return nil
}

// resizeScale is the ratio of input to output coordinates, in float32 as TFLite.
func resizeScale(in, out int, alignCorners bool) float32 {
	if alignCorners && out > 1 {
		return float32(in-1) / float32(out-1)
	}
	return float32(in) / float32(out)
}

func (k *resizeKernel) spans(buf []resizeSpan, in, out int) []resizeSpan {
	s := buf[:0]
	scale := resizeScale(in, out, k.alignCorners)
	if !k.bilinear {
		for v := range out {
			s = append(s, resizeSpan{lo: nearestSource(v, in, scale, k.alignCorners, k.halfPixel)})
		}
		return s
	}
	if is8bit(k.typ) {
		// XNNPACK's source coordinates (float32), clamped into the image, and the fraction
		// in Q11 rounded to nearest even.
		half := k.halfPixel && !k.alignCorners
		offset := 0.5*scale - 0.5
		for v := range out {
			p := float32(v) * scale
			if half {
				p = min(max(p+offset, 0), float32(in-1))
			}
			lo := min(int(p), in-1)
			hi := min(lo+1, in-1)
			s = append(s, resizeSpan{lo: lo, hi: hi, frac11: int32(math.RoundToEven(float64((p - float32(lo)) * 2048)))})
		}
		return s
	}
	for v := range out {
		var p float32
		if k.halfPixel {
			p = (float32(v)+0.5)*scale - 0.5
		} else {
			p = float32(v) * scale
		}
		lo := min(max(int(float32(math.Floor(float64(p)))), 0), in-1)
		hi := min(int(float32(math.Ceil(float64(p)))), in-1)
		s = append(s, resizeSpan{lo: lo, hi: hi, frac: p - float32(lo)})
	}
	return s
}

// nearestSource is TFLite's nearest-neighbour source index for output index v.
func nearestSource(v, in int, scale float32, alignCorners, halfPixel bool) int {
	var offset float32
	if halfPixel {
		offset = 0.5
	}
	p := (float32(v) + offset) * scale
	var src int
	if alignCorners {
		src = int(math.Round(float64(p)))
	} else {
		src = int(math.Floor(float64(p)))
	}
	src = min(src, in-1)
	if halfPixel {
		src = max(src, 0)
	}
	return src
}

func (k *resizeKernel) eval(n *node) error {
	rows := k.batch * k.outH
	if rows > 0 && k.outW > 0 && k.depth > 0 {
		k.n = n
		n.pool.do(rows, max(1, resizeMinChunk/(k.outW*k.depth)), 1, k)
		k.n = nil
	}
	return nil
}

// run computes output rows [lo, hi), counted over batch and height, with slot's scratch.
func (k *resizeKernel) run(lo, hi, slot int) {
	scratch := k.scratchFor(k.n, slot)
	src, dst := k.n.inputs[0].data, k.n.outputs[0].data
	switch {
	case !k.bilinear:
		k.nearest(lo, hi, k.typ.Size(), dst, src)
	case k.typ == Float32:
		k.bilinearFloat(lo, hi, viewAs[float32](dst), viewAs[float32](src))
	case k.typ == UInt8:
		bilinear8(k, lo, hi, dst, src, viewAs[int32](scratch))
	default:
		bilinear8(k, lo, hi, viewAs[int8](dst), viewAs[int8](src), viewAs[int32](scratch))
	}
}

func (k *resizeKernel) nearest(lo, hi, size int, dst, src []byte) {
	px := k.depth * size
	o := lo * k.outW * px
	for r := lo; r < hi; r++ {
		b, y := r/k.outH, k.ys[r%k.outH]
		row := (b*k.inH + y.lo) * k.inW
		for _, x := range k.xs {
			s := (row + x.lo) * px
			copy(dst[o:o+px], src[s:s+px])
			o += px
		}
	}
}

func (k *resizeKernel) bilinearFloat(lo, hi int, dst, src []float32) {
	c := k.depth
	o := lo * k.outW * c
	for r := lo; r < hi; r++ {
		b, y := r/k.outH, k.ys[r%k.outH]
		r0 := (b*k.inH + y.lo) * k.inW
		r1 := (b*k.inH + y.hi) * k.inW
		dy := y.frac
		for _, x := range k.xs {
			dx := x.frac
			p00 := src[(r0+x.lo)*c : (r0+x.lo)*c+c]
			p10 := src[(r1+x.lo)*c : (r1+x.lo)*c+c]
			p01 := src[(r0+x.hi)*c : (r0+x.hi)*c+c]
			p11 := src[(r1+x.hi)*c : (r1+x.hi)*c+c]
			w00 := (1 - dy) * (1 - dx)
			w10 := dy * (1 - dx)
			w01 := (1 - dy) * dx
			w11 := dy * dx
			d := dst[o : o+c]
			for i := range d {
				d[i] = p00[i]*w00 + p10[i]*w10 + p01[i]*w01 + p11[i]*w11
			}
			o += c
		}
	}
}

// bilinear8 computes output rows [lo, hi). The two lerps are separable: the horizontal one of
// a source row pair is computed once into rows (two output rows of int32) and serves every
// output row between that pair, which upscaling makes many (DeepLab's 33 to 513 rows: 15 each);
// the vertical lerp is then three operations an element. Same integers, same bits.
func bilinear8[T uint8 | int8](k *resizeKernel, lo, hi int, dst, src []T, rows []int32) {
	w := k.outW * k.depth
	top, bot := rows[:w], rows[w:2*w]
	held := -1 // the source row of top, counted over batch and height (bot's is determined by it)
	for r := lo; r < hi; r++ {
		b, y := r/k.outH, k.ys[r%k.outH]
		if row := b*k.inH + y.lo; row != held {
			lerpRow(k, top, src, row)
			lerpRow(k, bot, src, b*k.inH+y.hi)
			held = row
		}
		av := y.frac11
		d := dst[r*w : (r+1)*w]
		tp, bt := top[:len(d)], bot[:len(d)]
		i := 0
		if lerpKernel && len(d) >= 8 {
			i = len(d) &^ 7
			runLerpV(unsafe.Pointer(&d[0]), &tp[0], &bt[0], i, av, ^T(0) < 0)
		}
		for ; i < len(d); i++ {
			t := tp[i]
			d[i] = T((t<<11 + (bt[i]-t)*av + 1<<21) >> 22)
		}
	}
}

// lerpRow sets dst to source row row (counted over batch and height) interpolated to the output
// columns, in Q11.
func lerpRow[T uint8 | int8](k *resizeKernel, dst []int32, src []T, row int) {
	c := k.depth
	base := row * k.inW
	o := 0
	for _, x := range k.xs {
		ah := x.frac11
		l := src[(base+x.lo)*c : (base+x.lo)*c+c]
		h := src[(base+x.hi)*c : (base+x.hi)*c+c]
		d := dst[o : o+c]
		for i := range d {
			d[i] = int32(l[i])<<11 + (int32(h[i])-int32(l[i]))*ah
		}
		o += c
	}
}
