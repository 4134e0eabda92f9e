package tflite

// GATHER and GATHER_ND copy slices of their first input selected by an index tensor (int16,
// int32 or int64). The bytes are copied, so any element type works and quantized outputs keep
// the input's quantization. An index outside its dimension is an Invoke error: the official
// runtime checks only that the slice lies inside the tensor, so a negative index there may read
// a neighbouring row; here it never does.

// Options slots (GatherOptions).
const (
	slotGatherAxis      = 0
	slotGatherBatchDims = 1
)

type gatherKernel struct {
	axis, batchDims int // as given, possibly negative
	size            int // element size in bytes
	batches         int // product of the batch dimensions
	outer           int // product of the dimensions between the batch dimensions and axis
	axisSize        int
	inner           int // elements per gathered slice
	coords          int // indices per batch
}

func newGather(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &gatherKernel{
		axis:      int(n.opts.Int32(slotGatherAxis, 0)),
		batchDims: int(n.opts.Int32(slotGatherBatchDims, 0)),
	}, nil
}

// indexType reports whether t can hold indices.
func indexType(t DataType) bool { return t == Int32 || t == Int64 || t == Int16 }

func (k *gatherKernel) prepare(n *node) error {
	in, idx, out := n.inputs[0], n.inputs[1], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	if !indexType(idx.typ) {
		return n.errorf("%w: %v indices", errUnsupported, idx.typ)
	}
	rank, irank := in.Rank(), idx.Rank()
	axis, batch := k.axis, k.batchDims
	if axis < 0 {
		axis += rank
	}
	if batch < 0 {
		batch += irank
	}
	if axis < 0 || axis >= rank {
		return n.errorf("axis %d out of range for rank %d", k.axis, rank)
	}
	if batch < 0 || batch > axis || batch > irank {
		return n.errorf("batch_dims %d invalid for axis %d and indices of rank %d", k.batchDims, axis, irank)
	}
	for i := range batch {
		if in.shape[i] != idx.shape[i] {
			return n.errorf("batch dimension %d: input %v and indices %v differ", i, in.shape, idx.shape)
		}
	}
	shape := append([]int{}, in.shape[:axis]...)
	shape = append(shape, idx.shape[batch:]...)
	shape = append(shape, in.shape[axis+1:]...)
	if len(shape) > maxRank {
		return n.errorf("output rank %d is more than %d", len(shape), maxRank)
	}
	if _, ok := byteSize(shape, in.typ.Size()); !ok {
		return n.errorf("output shape %v is too large", shape)
	}
	k.size = in.typ.Size()
	k.batches = numElements(in.shape[:batch])
	k.outer = numElements(in.shape[batch:axis])
	k.axisSize = in.shape[axis]
	k.inner = numElements(in.shape[axis+1:])
	k.coords = numElements(idx.shape[batch:])
	setShape(out, shape)
	return nil
}

func (k *gatherKernel) eval(n *node) error {
	in, idx, out := n.inputs[0], n.inputs[1], n.outputs[0]
	chunk := k.inner * k.size
	src, dst := in.data, out.data
	d := 0
	for b := range k.batches {
		for o := range k.outer {
			base := (b*k.outer + o) * k.axisSize
			for i := range k.coords {
				c := indexAt(idx, b*k.coords+i)
				if c < 0 || c >= int64(k.axisSize) {
					return n.errorf("index %d out of range [0, %d)", c, k.axisSize)
				}
				s := (base + int(c)) * chunk
				copy(dst[d:d+chunk], src[s:s+chunk])
				d += chunk
			}
		}
	}
	return nil
}

// indexAt returns element i of an int16, int32 or int64 tensor.
func indexAt(t *Tensor, i int) int64 {
	switch t.typ {
	case Int32:
		return int64(viewAs[int32](t.data)[i])
	case Int64:
		return viewAs[int64](t.data)[i]
	default:
		return int64(viewAs[int16](t.data)[i])
	}
}

type gatherND struct {
	size    int // element size in bytes
	nd      int // index components per slice
	slices  int
	slice   int          // elements per slice
	strides [maxRank]int // element strides of the first nd input dimensions
	dims    [maxRank]int
}

func newGatherND(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &gatherND{}, nil
}

func (k *gatherND) prepare(n *node) error {
	in, idx, out := n.inputs[0], n.inputs[1], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	if !indexType(idx.typ) {
		return n.errorf("%w: %v indices", errUnsupported, idx.typ)
	}
	if idx.Rank() < 1 {
		return n.errorf("indices must have rank 1 or more, got %v", idx.shape)
	}
	if in.Rank() < 1 {
		return n.errorf("params must have rank 1 or more, got %v", in.shape)
	}
	nd := idx.shape[idx.Rank()-1]
	if nd > in.Rank() {
		return n.errorf("indices of depth %d for params of rank %d", nd, in.Rank())
	}
	shape := append(append([]int{}, idx.shape[:idx.Rank()-1]...), in.shape[nd:]...)
	if len(shape) > maxRank {
		return n.errorf("output rank %d is more than %d", len(shape), maxRank)
	}
	k.size, k.nd = in.typ.Size(), nd
	k.slices = numElements(idx.shape[:idx.Rank()-1])
	k.slice = numElements(in.shape[nd:])
	for d := nd - 1; d >= 0; d-- {
		k.dims[d] = in.shape[d]
		k.strides[d] = k.slice * numElements(in.shape[d+1:nd])
	}
	setShape(out, shape)
	return nil
}

func (k *gatherND) eval(n *node) error {
	in, idx, out := n.inputs[0], n.inputs[1], n.outputs[0]
	chunk := k.slice * k.size
	for s := range k.slices {
		from := 0
		for j := range k.nd {
			c := indexAt(idx, s*k.nd+j)
			if c < 0 || c >= int64(k.dims[j]) {
				return n.errorf("index %d of slice %d out of range [0, %d)", c, s, k.dims[j])
			}
			from += int(c) * k.strides[j]
		}
		from *= k.size
		copy(out.data[s*chunk:(s+1)*chunk], in.data[from:from+chunk])
	}
	return nil
}
