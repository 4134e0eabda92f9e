package tflite

import (
	"math"
	"unsafe"
)

// ARG_MAX and ARG_MIN: the index of the largest (smallest) element along one axis, as int32 or
// int64. Quantized inputs are compared as raw values (the order is the same as the real values'
// for a positive scale); ties keep the first index, and NaN never wins, as in TFLite.

// Options slot (ArgMaxOptions, ArgMinOptions).
const slotArgOutputType = 0

type argMinMax struct {
	isMax   bool
	outType DataType
	outer   int
	axis    int // size of the reduced axis
	inner   int
	n       *node // the node being evaluated, for run
}

func newArgMax(n *node) (kernel, error) { return newArgMinMax(n, true) }

func newArgMin(n *node) (kernel, error) { return newArgMinMax(n, false) }

func newArgMinMax(n *node, isMax bool) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	t := DataType(n.opts.Int8(slotArgOutputType, int8(n.outputs[0].typ)))
	if t != Int32 && t != Int64 {
		return nil, n.errorf("%w: output type %v (want int32 or int64)", errUnsupported, t)
	}
	return &argMinMax{isMax: isMax, outType: t}, nil
}

func (k *argMinMax) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	switch in.typ {
	case Float32, UInt8, Int8, Int16, Int32, Int64, Bool:
	default:
		return n.errorf("%w: input type %v", errUnsupported, in.typ)
	}
	if out.typ != k.outType {
		return n.errorf("output tensor is %v, options say %v", out.typ, k.outType)
	}
	if n.inputs[1].NumElements() != 1 {
		return n.errorf("axis tensor has shape %v, want one element", n.inputs[1].shape)
	}
	axes, err := constInts(n, n.inputs[1], "axis")
	if err != nil {
		return err
	}
	rank := in.Rank()
	axis := axes[0]
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return n.errorf("axis %d out of range for rank %d", axes[0], rank)
	}
	k.outer, k.axis, k.inner = splitAt(in.shape, axis)
	if k.axis == 0 && k.outer*k.inner > 0 {
		return n.errorf("reducing an empty axis of shape %v", in.shape)
	}
	shape := append(append([]int{}, in.shape[:axis]...), in.shape[axis+1:]...)
	setShape(out, shape)
	return nil
}

// splitAt returns the element counts before dimension axis, of it, and after it.
func splitAt(shape []int, axis int) (outer, size, inner int) {
	return numElements(shape[:axis]), shape[axis], numElements(shape[axis+1:])
}

// argMinChunk is the number of input elements below which splitting the outputs over the worker
// pool costs more than it saves.
const argMinChunk = 32 << 10

func (k *argMinMax) eval(n *node) error {
	if total := k.outer * k.inner; total > 0 {
		k.n = n
		part := max(1, argMinChunk/max(k.axis, 1))
		n.pool.do(total, part, max(1, part/4), k)
		k.n = nil
	}
	return nil
}

// run computes outputs [lo, hi), counted over outer and inner.
func (k *argMinMax) run(lo, hi, _ int) {
	in, out := k.n.inputs[0], k.n.outputs[0]
	if k.outType == Int32 {
		argDispatch(k, in, out.Int32s(), lo, hi)
	} else {
		argDispatch(k, in, out.Int64s(), lo, hi)
	}
}

func argDispatch[I int32 | int64](k *argMinMax, in *Tensor, dst []I, lo, hi int) {
	switch in.typ {
	case Float32:
		argIndex(k, viewAs[float32](in.data), dst, lo, hi)
	case UInt8, Bool:
		argIndex(k, in.data, dst, lo, hi)
	case Int8:
		argIndex(k, viewAs[int8](in.data), dst, lo, hi)
	case Int16:
		argIndex(k, viewAs[int16](in.data), dst, lo, hi)
	case Int32:
		argIndex(k, viewAs[int32](in.data), dst, lo, hi)
	case Int64:
		argIndex(k, viewAs[int64](in.data), dst, lo, hi)
	}
}

type ordered interface {
	~int8 | ~uint8 | ~int16 | ~int32 | ~int64 | ~float32
}

// argIndex computes outputs [lo, hi). The usual case reduces the last axis (a segmentation
// model's per-pixel class: 513x513 pixels of 21 scores), where each output scans one contiguous
// row; the comparison is chosen once, outside the loop.
func argIndex[T ordered, I int32 | int64](k *argMinMax, src []T, dst []I, lo, hi int) {
	size, inner := k.axis, k.inner
	if inner == 1 {
		switch src := any(src).(type) {
		case []uint8:
			argRowsKeyed(k.isMax, src, dst, size, lo, hi)
			return
		case []int8:
			argRowsKeyed(k.isMax, src, dst, size, lo, hi)
			return
		}
		for q := lo; q < hi; q++ {
			row := src[q*size : (q+1)*size]
			if k.isMax {
				dst[q] = I(argMaxRow(row))
			} else {
				dst[q] = I(argMinRow(row))
			}
		}
		return
	}
	isMax := k.isMax
	for q := lo; q < hi; q++ {
		o, j := q/inner, q%inner
		p := o*size*inner + j
		best, at := src[p], 0
		for i := 1; i < size; i++ {
			p += inner
			v := src[p]
			if isMax && v > best || !isMax && v < best {
				best, at = v, i
			}
		}
		dst[q] = I(at)
	}
}

// argRowsKeyed is argIndex on the last axis for 8-bit rows. The winner of a row is unpredictable
// (a class score per pixel), and a branch on it mispredicts about once a row: so each element
// becomes a key that sorts by value, then by index, first index highest (value<<32 | ^index for
// the largest, value<<32 | index for the smallest), and the row's key is a branch-free max or min.
// On arm64, rows of 16 to 256 run on NEON (argMaxU8NEON and its kin: the row's extreme, then
// the first lane that holds it). Elsewhere, rows of at most 256 take 32-bit keys, four elements
// a step: the value (int8's with its sign bit flipped, which keeps the order) above 8 bits of
// index, 255-index for the largest (DeepLab's 513x513 rows of 21 on arm64: 56.3 to 50.3 M
// instructions, about 9.5 an element, before the NEON kernel).
func argRowsKeyed[T uint8 | int8, I int32 | int64](isMax bool, src []T, dst []I, size, lo, hi int) {
	if argKernel && size >= 16 && size <= 256 && lo < hi {
		args := argArgs{
			src: unsafe.Pointer(&src[lo*size]), dst: unsafe.Pointer(&dst[lo]), rows: hi - lo, n: size,
			dstStep: int(unsafe.Sizeof(dst[0])),
		}
		for i := range args.iota {
			args.iota[i] = byte(i)
		}
		_ = src[hi*size-1]
		_ = dst[hi-1]
		runArgRows(&args, isMax, ^T(0) < 0)
		return
	}
	if size <= 256 {
		argRows256(isMax, src, dst, size, lo, hi)
		return
	}
	for q := lo; q < hi; q++ {
		row := src[q*size : (q+1)*size]
		if isMax {
			best := int64(math.MinInt64)
			for i, v := range row {
				best = max(best, int64(v)<<32|int64(^uint32(i)))
			}
			dst[q] = I(^uint32(best))
		} else {
			best := int64(math.MaxInt64)
			for i, v := range row {
				best = min(best, int64(v)<<32|int64(uint32(i)))
			}
			dst[q] = I(uint32(best))
		}
	}
}

// argArgs is what the ARG_MAX kernels read (the assembly relies on this layout): rows rows of n
// 8-bit values from src, their indices at dst, dstStep bytes apart; iota holds 0 to 15.
type argArgs struct {
	src, dst unsafe.Pointer
	rows, n  int
	dstStep  int
	iota     [16]byte
}

// argRows256 is argRowsKeyed for rows of 1 to 256 elements.
func argRows256[T uint8 | int8, I int32 | int64](isMax bool, src []T, dst []I, size, lo, hi int) {
	var flip uint32
	if ^T(0) < 0 {
		flip = 0x80
	}
	key := func(v T) uint32 { return (uint32(uint8(v)) ^ flip) << 8 }
	for q := lo; q < hi; q++ {
		row := src[q*size : (q+1)*size]
		i := 0
		if isMax {
			best := uint32(0)
			for ; i+4 <= len(row); i += 4 {
				r := row[i : i+4 : i+4]
				j := uint32(255 - i)
				best = max(best, key(r[0])|j, key(r[1])|(j-1), key(r[2])|(j-2), key(r[3])|(j-3))
			}
			for ; i < len(row); i++ {
				best = max(best, key(row[i])|uint32(255-i))
			}
			dst[q] = I(255 - best&0xff)
		} else {
			best := uint32(math.MaxUint32)
			for ; i+4 <= len(row); i += 4 {
				r := row[i : i+4 : i+4]
				j := uint32(i)
				best = min(best, key(r[0])|j, key(r[1])|(j+1), key(r[2])|(j+2), key(r[3])|(j+3))
			}
			for ; i < len(row); i++ {
				best = min(best, key(row[i])|uint32(i))
			}
			dst[q] = I(best & 0xff)
		}
	}
}

// argMaxRow returns the index of row's largest element, the first of equals; a NaN is never
// larger (but wins as the first element, as in TFLite).
func argMaxRow[T ordered](row []T) int {
	best, at := row[0], 0
	for i, v := range row {
		if v > best {
			best, at = v, i
		}
	}
	return at
}

// argMinRow is argMaxRow for the smallest element.
func argMinRow[T ordered](row []T) int {
	best, at := row[0], 0
	for i, v := range row {
		if v < best {
			best, at = v, i
		}
	}
	return at
}
