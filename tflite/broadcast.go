package tflite

import (
	"fmt"
	"math"
)

// maxDims is the largest rank the shape-walking kernels (broadcasting, transpose, strided slice,
// pad) accept. TFLite's own kernels stop at 5 or 6; fixed-size arrays keep eval allocation-free.
const maxDims = 6

// maxOutputElements bounds the outputs whose size comes from a constant in the model (PAD,
// RESIZE_*), so a hostile model cannot ask for an absurd allocation or overflow the size
// arithmetic; the interpreter's memory limit applies on top.
const maxOutputElements = 1 << 28

// broadcastShape returns the NumPy broadcast of shapes a and b: shapes are aligned at their last
// dimension and each pair of dimensions must be equal or contain a 1.
func broadcastShape(a, b []int) ([]int, error) {
	rank := max(len(a), len(b))
	if rank > maxDims {
		return nil, fmt.Errorf("%w: rank %d broadcasting (max %d)", errUnsupported, rank, maxDims)
	}
	out := make([]int, rank)
	for i := range rank {
		da, db := 1, 1
		if j := len(a) - rank + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - rank + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// broadcastPlan walks two inputs broadcast to an output shape as rows: the output is split into
// rows of inner contiguous elements, and in each row an input either advances by one element
// (stride 1) or repeats one element (stride 0). Dimensions of size 1 are dropped and adjacent
// dimensions with the same broadcast pattern merged, so rows are as long as possible.
type broadcastPlan struct {
	rank     int          // number of outer dimensions (after merging), excluding the row
	outer    [maxDims]int // sizes of the outer dimensions
	strideA  [maxDims]int // element strides of input a per outer dimension (0 when broadcast)
	strideB  [maxDims]int
	inner    int // row length
	innerA   int // 0 or 1: stride of a inside a row
	innerB   int
	rows     int // number of rows
	elements int // output element count
}

// newBroadcastPlan plans the walk of inputs with shapes a and b into out, which must be their
// broadcast shape.
func newBroadcastPlan(a, b, out []int) broadcastPlan {
	rank := len(out)
	var p broadcastPlan
	p.elements = numElements(out)
	// Per output dimension: size, and whether each input has that dimension (not broadcast).
	type dim struct {
		size   int
		hasA   bool
		hasB   bool
		strA   int
		strB   int
		merged bool
	}
	var dims [maxDims]dim
	nd := 0
	for i := range rank {
		if out[i] == 1 {
			continue
		}
		da, db := 1, 1
		if j := len(a) - rank + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - rank + i; j >= 0 {
			db = b[j]
		}
		d := dim{size: out[i], hasA: da != 1, hasB: db != 1}
		if nd > 0 && dims[nd-1].hasA == d.hasA && dims[nd-1].hasB == d.hasB {
			dims[nd-1].size *= d.size
			continue
		}
		dims[nd] = d
		nd++
	}
	// Element strides, innermost first.
	sa, sb := 1, 1
	for i := nd - 1; i >= 0; i-- {
		if dims[i].hasA {
			dims[i].strA = sa
			sa *= dims[i].size
		}
		if dims[i].hasB {
			dims[i].strB = sb
			sb *= dims[i].size
		}
	}
	if nd == 0 || p.elements == 0 {
		p.inner = p.elements
		p.innerA, p.innerB = 0, 0
		p.rows = 1
		if p.elements == 0 {
			p.rows = 0
		}
		return p
	}
	last := dims[nd-1]
	p.inner = last.size
	p.innerA, p.innerB = last.strA, last.strB
	p.rank = nd - 1
	p.rows = 1
	for i := 0; i < p.rank; i++ {
		p.outer[i] = dims[i].size
		p.strideA[i] = dims[i].strA
		p.strideB[i] = dims[i].strB
		p.rows *= dims[i].size
	}
	return p
}

// row returns the offsets in the output, a and b of row r.
func (p *broadcastPlan) row(r int) (o, ia, ib int) {
	o = r * p.inner
	for i := p.rank - 1; i >= 0; i-- {
		d := p.outer[i]
		idx := r % d
		r /= d
		ia += idx * p.strideA[i]
		ib += idx * p.strideB[i]
	}
	return o, ia, ib
}

// constInts returns the values of an int32 or int64 tensor, which a kernel needs at prepare time
// (axes, paddings, permutations, sizes): a constant, or any tensor when the node is prepared in
// Invoke; otherwise it returns errDynamic. Values must fit in an int32 so that later arithmetic
// on them cannot overflow.
func constInts(n *node, t *Tensor, what string) ([]int, error) {
	if t == nil {
		return nil, n.errorf("%s tensor is missing", what)
	}
	if !n.known(t) {
		return nil, n.errorf("%s tensor %q: %w", what, t.name, errDynamic)
	}
	count := t.NumElements()
	if len(t.data) < count*t.typ.Size() {
		return nil, n.errorf("%s tensor %q holds %d bytes, want %d", what, t.name, len(t.data), count*t.typ.Size())
	}
	out := make([]int, count)
	switch t.typ {
	case Int32:
		for i, v := range t.Int32s()[:count] {
			out[i] = int(v)
		}
	case Int64:
		for i, v := range t.Int64s()[:count] {
			if v < math.MinInt32 || v > math.MaxInt32 {
				return nil, n.errorf("%s tensor %q: value %d out of range", what, t.name, v)
			}
			out[i] = int(v)
		}
	default:
		return nil, n.errorf("%w: %s tensor %q has type %v, want int32 or int64", errUnsupported, what, t.name, t.typ)
	}
	return out, nil
}

// checkCounts checks a node's input and output counts; minIn..maxIn inputs, all non-nil up to minIn.
func checkCounts(n *node, minIn, maxIn, outs int) error {
	if len(n.inputs) < minIn || len(n.inputs) > maxIn {
		if minIn == maxIn {
			return n.errorf("got %d inputs, want %d", len(n.inputs), minIn)
		}
		return n.errorf("got %d inputs, want %d to %d", len(n.inputs), minIn, maxIn)
	}
	for i := range minIn {
		if n.inputs[i] == nil {
			return n.errorf("input %d is missing", i)
		}
	}
	if len(n.outputs) != outs {
		return n.errorf("got %d outputs, want %d", len(n.outputs), outs)
	}
	for i, o := range n.outputs {
		if o == nil {
			return n.errorf("output %d is missing", i)
		}
	}
	return nil
}

// sameShape reports whether two shapes are equal.
func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// setShape sets t's shape to a copy of s, so the kernel may keep using s.
func setShape(t *Tensor, s []int) {
	t.shape = append([]int{}, s...)
}

// prepareBroadcast sets out's shape to the broadcast of a and b and returns the plan of the walk.
func prepareBroadcast(n *node, a, b, out *Tensor) (broadcastPlan, error) {
	shape, err := broadcastShape(a.shape, b.shape)
	if err != nil {
		return broadcastPlan{}, n.errorf("%w", err)
	}
	setShape(out, shape)
	return newBroadcastPlan(a.shape, b.shape, shape), nil
}

// bcast2 computes out[i] = f(a[ia], b[ib]) over every element of a broadcast plan.
func bcast2[A, B, O any](p *broadcastPlan, a []A, b []B, out []O, f func(A, B) O) {
	sa, sb := p.innerA, p.innerB
	for r := range p.rows {
		o, ia, ib := p.row(r)
		dst := out[o : o+p.inner]
		if sa == 1 && sb == 1 {
			x, y := a[ia:ia+len(dst)], b[ib:ib+len(dst)]
			for i := range dst {
				dst[i] = f(x[i], y[i])
			}
			continue
		}
		for i := range dst {
			dst[i] = f(a[ia], b[ib])
			ia += sa
			ib += sb
		}
	}
}

// broadcast3 walks three inputs broadcast to an output shape, element by element.
type broadcast3 struct {
	rank    int
	count   [maxDims]int
	strides [3][maxDims]int // element strides of each input per output dimension, 0 when broadcast
	total   int
}

// newBroadcast3 plans the walk of inputs of the given shapes into their broadcast shape out.
func newBroadcast3(out []int, in ...[]int) broadcast3 {
	var w broadcast3
	w.rank = len(out)
	copy(w.count[:], out)
	w.total = numElements(out)
	for k, s := range in {
		step := 1
		for d := len(s) - 1; d >= 0; d-- {
			od := d + len(out) - len(s)
			if s[d] != 1 {
				w.strides[k][od] = step
			}
			step *= s[d]
		}
	}
	return w
}

// each calls f with the output index and the three input offsets of every element, in order.
func (w *broadcast3) each(f func(o, i0, i1, i2 int)) {
	if w.total == 0 {
		return
	}
	var idx [maxDims]int
	var off [3]int
	for o := 0; ; o++ {
		f(o, off[0], off[1], off[2])
		d := w.rank - 1
		for ; d >= 0; d-- {
			idx[d]++
			for k := range off {
				off[k] += w.strides[k][d]
			}
			if idx[d] < w.count[d] {
				break
			}
			for k := range off {
				off[k] -= w.strides[k][d] * w.count[d]
			}
			idx[d] = 0
		}
		if d < 0 {
			return
		}
	}
}
