package tflite

import (
	"errors"
	"fmt"

	"github.com/edge-agent/edge-agent/tflite/internal/fb"
)

// Sparse constant tensors (the schema's SparsityParameters, a variant of the TACO format) are
// densified when the model is read, as TFLite's DENSIFY op and sparse kernels would at prepare:
// the kernels then see ordinary dense constants. A tensor of rank n with a k-dimensional block
// is traversed in traversal_order over n+k dimensions, each DENSE (its size) or SPARSE_CSR
// (segments and indices, as a CSR matrix's row pointers and column indices); block_map says
// which original dimension each block dimension divides. Every index is checked, so a hostile
// file gets an error, and the dense bytes are charged to a budget proportional to the file size.

// maxDensifyRatio bounds the dense bytes of all sparse tensors relative to the file size: a
// sparse tensor's point is to be smaller, but not by a factor the memory of a board could not
// take (the cap is generous for real pruned models, which are rarely more than 90% zeros).
const maxDensifyRatio = 64

// sparseDim is one traversed dimension of a sparse tensor.
type sparseDim struct {
	sparse    bool
	denseSize int
	segments  []int // SPARSE_CSR
	indices   []int
}

// densify reads the sparsity table sp of constant tensor td and stores its dense values in
// td.dense.
func (p *parser) densify(sp fb.Table, m *Model, td *tensorDef) error {
	size := td.typ.Size()
	if size == 0 {
		return fmt.Errorf("%w: sparse %s tensors", ErrUnsupported, td.typ)
	}
	values := m.bufferData(td.buffer)
	if len(values) == 0 {
		return errors.New("sparsity on a tensor without constant data")
	}
	if len(values)%size != 0 {
		return fmt.Errorf("%d bytes of values is not a whole number of %s", len(values), td.typ)
	}
	traversal, err := p.intVector(sp, 0)
	if err != nil {
		return fmt.Errorf("traversal order: %w", err)
	}
	blockMap, err := p.intVector(sp, 1)
	if err != nil {
		return fmt.Errorf("block map: %w", err)
	}
	dv, _, err := sp.Vector(2, 4)
	if err != nil {
		return fmt.Errorf("dimension metadata: %w", err)
	}
	rank := len(td.shape)
	total := rank + len(blockMap)
	if len(traversal) != total || dv.Len() != total || total > 2*maxRank {
		return fmt.Errorf("%d traversed dimensions and %d dimension metadata for rank %d with %d block dimensions",
			len(traversal), dv.Len(), rank, len(blockMap))
	}
	// The first rank entries traverse the (blocked) original dimensions, the rest the blocks.
	seen := make([]bool, total)
	for i, d := range traversal {
		if d < 0 || d >= total || seen[d] || (i < rank) != (d < rank) {
			return fmt.Errorf("invalid traversal order %v", traversal)
		}
		seen[d] = true
	}
	dims := make([]sparseDim, total)
	for i := range dims {
		t, err := dv.Table(i)
		if err == nil {
			err = p.sparseDim(t, &dims[i])
		}
		if err != nil {
			return fmt.Errorf("dimension metadata %d: %w", i, err)
		}
	}
	// Block sizes come from the block dimensions' metadata; they divide the dimension they map.
	blockSize := make([]int, len(blockMap))
	blocked := append([]int(nil), td.shape...)
	for i, d := range blockMap {
		if d < 0 || d >= rank {
			return fmt.Errorf("block map %v out of range for rank %d", blockMap, rank)
		}
		pos := 0
		for traversal[pos] != rank+i {
			pos++
		}
		b := dims[pos].denseSize
		if dims[pos].sparse || b < 1 || blocked[d]%b != 0 {
			return fmt.Errorf("block dimension %d of size %d does not divide dimension %d of %v", i, b, d, td.shape)
		}
		blockSize[i] = b
		blocked[d] /= b
	}
	// The extent of each traversed dimension, which its indices must stay below.
	extent := make([]int, total)
	for i, d := range traversal {
		if d < rank {
			extent[i] = blocked[d]
		} else {
			extent[i] = blockSize[d-rank]
		}
		if !dims[i].sparse && dims[i].denseSize != extent[i] {
			return fmt.Errorf("dense dimension %d has size %d, want %d", i, dims[i].denseSize, extent[i])
		}
	}
	n, _ := byteSize(td.shape, size)
	p.dense -= int64(n)
	if p.dense < 0 {
		return fmt.Errorf("%w: dense tensors of %d bytes from a %d-byte file (at most %d times its size)",
			ErrUnsupported, n, len(p.b), maxDensifyRatio)
	}
	d := &densifier{
		rank: rank, traversal: traversal, blockMap: blockMap, blockSize: blockSize,
		dims: dims, extent: extent, shape: td.shape, size: size,
		values: values, dst: make([]byte, n), idx: make([]int, total), orig: make([]int, rank),
	}
	if err := d.populate(0, 0); err != nil {
		return err
	}
	if d.next*size != len(values) {
		return fmt.Errorf("the sparse structure holds %d values, the buffer %d", d.next, len(values)/size)
	}
	td.dense = d.dst
	return nil
}

// intVector reads an optional int32 vector field, charging it to the budget.
func (p *parser) intVector(t fb.Table, slot int) ([]int, error) {
	v, _, err := t.Vector(slot, 4)
	if err != nil {
		return nil, err
	}
	if err := p.charge(v.Len()); err != nil {
		return nil, err
	}
	out := make([]int, v.Len())
	for i := range out {
		out[i] = int(v.Int32(i))
	}
	return out, nil
}

// Union types of SparseIndexVector.
const (
	sparseInt32Vector  = 1
	sparseUint16Vector = 2
	sparseUint8Vector  = 3
)

// sparseDim reads a DimensionMetadata table: format, dense_size, then the array_segments and
// array_indices unions (a type slot and a table slot each).
func (p *parser) sparseDim(t fb.Table, d *sparseDim) error {
	format, err := t.Int8(0, 0)
	if err != nil {
		return err
	}
	size, err := t.Int32(1, 0)
	if err != nil {
		return err
	}
	switch format {
	case 0:
		if size < 0 {
			return fmt.Errorf("dense size %d", size)
		}
		d.denseSize = int(size)
		return nil
	case 1:
		d.sparse = true
	default:
		return fmt.Errorf("unknown dimension format %d", format)
	}
	if d.segments, err = p.sparseIndices(t, 2); err != nil {
		return fmt.Errorf("array segments: %w", err)
	}
	if d.indices, err = p.sparseIndices(t, 4); err != nil {
		return fmt.Errorf("array indices: %w", err)
	}
	for i, s := range d.segments {
		if s < 0 || s > len(d.indices) || (i > 0 && s < d.segments[i-1]) {
			return fmt.Errorf("segments %v are not ascending offsets into %d indices", d.segments, len(d.indices))
		}
	}
	return nil
}

// sparseIndices reads the SparseIndexVector union whose type is in slot and value in slot+1.
func (p *parser) sparseIndices(t fb.Table, slot int) ([]int, error) {
	typ, err := t.Uint8(slot, 0)
	if err != nil {
		return nil, err
	}
	vt, ok, err := t.Table(slot + 1)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("missing")
	}
	elem := map[uint8]int{sparseInt32Vector: 4, sparseUint16Vector: 2, sparseUint8Vector: 1}[typ]
	if elem == 0 {
		return nil, fmt.Errorf("unknown index vector type %d", typ)
	}
	v, _, err := vt.Vector(0, elem)
	if err != nil {
		return nil, err
	}
	if err := p.charge(v.Len()); err != nil {
		return nil, err
	}
	out := make([]int, v.Len())
	for i := range out {
		switch elem {
		case 4:
			out[i] = int(v.Int32(i))
		case 2:
			out[i] = int(v.Uint16(i))
		default:
			out[i] = int(v.Uint8(i))
		}
	}
	return out, nil
}

// densifier walks the traversed dimensions depth first, as TFLite's FormatConverter does,
// placing the next stored value at each leaf.
type densifier struct {
	rank      int
	traversal []int
	blockMap  []int
	blockSize []int
	dims      []sparseDim
	extent    []int
	shape     []int
	size      int
	values    []byte
	dst       []byte
	next      int   // index of the next stored value
	idx       []int // index along each traversed dimension
	orig      []int // scratch: the original index of a leaf
}

func (d *densifier) populate(level, prev int) error {
	if level == len(d.traversal) {
		for i := 0; i < d.rank; i++ {
			d.orig[d.traversal[i]] = d.idx[i]
		}
		for i := d.rank; i < len(d.traversal); i++ {
			b := d.traversal[i] - d.rank
			o := d.blockMap[b]
			d.orig[o] = d.orig[o]*d.blockSize[b] + d.idx[i]
		}
		flat := 0
		for i, v := range d.orig {
			flat = flat*d.shape[i] + v
		}
		if (d.next+1)*d.size > len(d.values) {
			return fmt.Errorf("the sparse structure holds more than the buffer's %d values", len(d.values)/d.size)
		}
		copy(d.dst[flat*d.size:(flat+1)*d.size], d.values[d.next*d.size:])
		d.next++
		return nil
	}
	dim := &d.dims[level]
	if !dim.sparse {
		for i := range dim.denseSize {
			d.idx[level] = i
			if err := d.populate(level+1, prev*dim.denseSize+i); err != nil {
				return err
			}
		}
		return nil
	}
	if prev+1 >= len(dim.segments) {
		return fmt.Errorf("dimension %d: segment %d of %d", level, prev, len(dim.segments)-1)
	}
	for i := dim.segments[prev]; i < dim.segments[prev+1]; i++ {
		c := dim.indices[i]
		if c < 0 || c >= d.extent[level] {
			return fmt.Errorf("dimension %d: index %d out of range [0, %d)", level, c, d.extent[level])
		}
		d.idx[level] = c
		if err := d.populate(level+1, i); err != nil {
			return err
		}
	}
	return nil
}
