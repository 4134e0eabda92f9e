package tflite

// SPACE_TO_BATCH_ND pads the M spatial dimensions after the batch and moves block_shape blocks
// of them into the batch dimension; BATCH_TO_SPACE_ND moves them back and crops. As in
// TensorFlow, output batch index (block offset)*B + b holds the pixels at that offset of every
// block of image b. Bytes are moved; SPACE_TO_BATCH_ND pads 8-bit outputs with their zero point,
// as TFLite does.

type spaceBatchKernel struct {
	toBatch bool
	m       int // spatial dimensions
	size    int // element size
	batch   int // B: the input batch (SPACE_TO_BATCH) or output batch (BATCH_TO_SPACE)
	block   [maxDims]int
	before  [maxDims]int // padding (SPACE_TO_BATCH) or crop (BATCH_TO_SPACE) before each spatial dim
	in      [maxDims]int // input spatial sizes
	out     [maxDims]int // output spatial sizes
	outB    int          // output batch
	rest    int          // elements per spatial position
	pad     byte
	blocks  int // product of block
}

func newSpaceToBatchND(n *node) (kernel, error) { return newSpaceBatch(n, true) }
func newBatchToSpaceND(n *node) (kernel, error) { return newSpaceBatch(n, false) }

func newSpaceBatch(n *node, toBatch bool) (kernel, error) {
	if err := checkCounts(n, 3, 3, 1); err != nil {
		return nil, err
	}
	return &spaceBatchKernel{toBatch: toBatch}, nil
}

func (k *spaceBatchKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	rank, err := rankOf(n, in)
	if err != nil {
		return err
	}
	block, err := constInts(n, n.inputs[1], "block_shape")
	if err != nil {
		return err
	}
	what := "crops"
	if k.toBatch {
		what = "paddings"
	}
	pads, err := constInts(n, n.inputs[2], what)
	if err != nil {
		return err
	}
	m := len(block)
	if m < 1 || m > rank-1 || len(pads) != 2*m {
		return n.errorf("block_shape %v and %s %v for input %v", block, what, pads, in.shape)
	}
	k.m, k.size = m, in.typ.Size()
	k.rest = numElements(in.shape[1+m:])
	k.blocks = 1
	shape := append([]int{}, in.shape...)
	for i, b := range block {
		if b < 1 {
			return n.errorf("block_shape %v", block)
		}
		before, after := pads[2*i], pads[2*i+1]
		if before < 0 || after < 0 {
			return n.errorf("negative %s %v", what, pads)
		}
		k.block[i], k.before[i], k.in[i] = b, before, in.shape[1+i]
		if k.blocks > maxOutputElements/b {
			return n.errorf("block_shape %v is too large", block)
		}
		k.blocks *= b
		if k.toBatch {
			padded := in.shape[1+i] + before + after
			if padded%b != 0 {
				return n.errorf("padded dimension %d (%d) is not a multiple of block %d", 1+i, padded, b)
			}
			shape[1+i] = padded / b
		} else {
			full := in.shape[1+i] * b
			if before+after > full {
				return n.errorf("crops %v remove more than dimension %d holds", pads, 1+i)
			}
			shape[1+i] = full - before - after
		}
		k.out[i] = shape[1+i]
	}
	if k.toBatch {
		k.batch = in.shape[0]
		shape[0] = in.shape[0] * k.blocks
	} else {
		if in.shape[0]%k.blocks != 0 {
			return n.errorf("batch %d is not a multiple of the %d blocks", in.shape[0], k.blocks)
		}
		k.batch = in.shape[0] / k.blocks
		shape[0] = k.batch
	}
	k.outB = shape[0]
	if _, ok := byteSize(shape, k.size); !ok || numElements(shape) > maxOutputElements {
		return n.errorf("output shape %v is too large", shape)
	}
	k.pad = 0
	if k.toBatch && is8bit(in.typ) && out.quant != nil {
		_, zp, err := quantOf(n, out)
		if err != nil {
			return err
		}
		k.pad = byte(zp)
	}
	setShape(out, shape)
	return nil
}

func (k *spaceBatchKernel) eval(n *node) error {
	src, dst := n.inputs[0].data, n.outputs[0].data
	chunk := k.rest * k.size
	var q [maxDims]int // output spatial index
	var off [maxDims]int
	d := 0
	for ob := range k.outB {
		for i := range q[:k.m] {
			q[i] = 0
		}
		for {
			s, ok := k.source(ob, &q, &off)
			row := dst[d : d+chunk]
			if ok {
				copy(row, src[s*chunk:(s+1)*chunk])
			} else {
				for j := range row {
					row[j] = k.pad
				}
			}
			d += chunk
			i := k.m - 1
			for ; i >= 0; i-- {
				q[i]++
				if q[i] < k.out[i] {
					break
				}
				q[i] = 0
			}
			if i < 0 || k.out[0] == 0 {
				break
			}
		}
	}
	return nil
}

// source returns the input spatial-position index (in units of rest elements) of output batch
// ob at spatial index q, and false for padding.
func (k *spaceBatchKernel) source(ob int, q, off *[maxDims]int) (int, bool) {
	if k.toBatch {
		b := ob % k.batch
		o := ob / k.batch
		for i := k.m - 1; i >= 0; i-- {
			off[i] = o % k.block[i]
			o /= k.block[i]
		}
		idx := b
		for i := range k.m {
			s := q[i]*k.block[i] + off[i] - k.before[i]
			if s < 0 || s >= k.in[i] {
				return 0, false
			}
			idx = idx*k.in[i] + s
		}
		return idx, true
	}
	o := 0
	for i := range k.m {
		t := q[i] + k.before[i]
		off[i] = t / k.block[i]
		o = o*k.block[i] + t%k.block[i]
	}
	idx := o*k.batch + ob
	for i := range k.m {
		idx = idx*k.in[i] + off[i]
	}
	return idx, true
}
