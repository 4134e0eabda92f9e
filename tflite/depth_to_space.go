package tflite

// DEPTH_TO_SPACE moves blocks of channels into block_size x block_size spatial blocks of an NHWC
// tensor; SPACE_TO_DEPTH does the reverse. Bytes are moved, so any element type works and 8-bit
// outputs keep the input's quantization (TFLite requires them equal).

// Options slot (DepthToSpaceOptions, SpaceToDepthOptions).
const slotBlockSize = 0

type depthSpaceKernel struct {
	toSpace bool
	block   int
	size    int // element size
	// Input dimensions.
	b, h, w, c int
}

func newDepthToSpace(n *node) (kernel, error) { return newDepthSpace(n, true) }
func newSpaceToDepth(n *node) (kernel, error) { return newDepthSpace(n, false) }

func newDepthSpace(n *node, toSpace bool) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	block := int(n.opts.Int32(slotBlockSize, 0))
	if block < 1 || block > 1<<12 {
		return nil, n.errorf("block size %d", block)
	}
	return &depthSpaceKernel{toSpace: toSpace, block: block}, nil
}

func (k *depthSpaceKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	if err := checkMove(n, in, out); err != nil {
		return err
	}
	if err := sameQuantization(n, in, out); err != nil {
		return err
	}
	if in.Rank() != 4 {
		return n.errorf("input has shape %v, want [batch, height, width, channels]", in.shape)
	}
	bs := k.block
	k.b, k.h, k.w, k.c = in.shape[0], in.shape[1], in.shape[2], in.shape[3]
	k.size = in.typ.Size()
	var shape []int
	if k.toSpace {
		if k.c%(bs*bs) != 0 {
			return n.errorf("%d channels do not divide into %dx%d blocks", k.c, bs, bs)
		}
		shape = []int{k.b, k.h * bs, k.w * bs, k.c / (bs * bs)}
	} else {
		if k.h%bs != 0 || k.w%bs != 0 {
			return n.errorf("height %d and width %d are not multiples of block size %d", k.h, k.w, bs)
		}
		shape = []int{k.b, k.h / bs, k.w / bs, k.c * bs * bs}
	}
	if _, ok := byteSize(shape, k.size); !ok {
		return n.errorf("output shape %v is too large", shape)
	}
	setShape(out, shape)
	return nil
}

func (k *depthSpaceKernel) eval(n *node) error {
	src, dst := n.inputs[0].data, n.outputs[0].data
	bs, es := k.block, k.size
	if k.toSpace {
		// out[b, y*bs+i, x*bs+j, c] = in[b, y, x, (i*bs+j)*oc + c]: each input pixel's channels
		// are bs rows of bs*oc contiguous values.
		oc := k.c / (bs * bs)
		row := bs * oc * es
		ow := k.w * bs
		for b := range k.b {
			for y := range k.h {
				for x := range k.w {
					s := ((b*k.h+y)*k.w + x) * k.c * es
					for i := range bs {
						d := ((b*k.h*bs+y*bs+i)*ow + x*bs) * oc * es
						copy(dst[d:d+row], src[s+i*row:s+(i+1)*row])
					}
				}
			}
		}
		return nil
	}
	// out[b, y, x, (i*bs+j)*c + ch] = in[b, y*bs+i, x*bs+j, ch].
	oh, ow := k.h/bs, k.w/bs
	row := bs * k.c * es
	for b := range k.b {
		for y := range oh {
			for x := range ow {
				d := ((b*oh+y)*ow + x) * bs * bs * k.c * es
				for i := range bs {
					s := ((b*k.h+y*bs+i)*k.w + x*bs) * k.c * es
					copy(dst[d+i*row:d+(i+1)*row], src[s:s+row])
				}
			}
		}
	}
	return nil
}
