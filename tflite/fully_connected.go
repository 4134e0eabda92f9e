package tflite

// FULLY_CONNECTED: output[b, u] = Σ_i input[b, i] * weights[u, i] + bias[u], with the input
// flattened to [batch, weights.Dim(1)] and weights [units, depth] (the DEFAULT weights format).
// The product is the GEMM of gemm.go, split over batch rows, or over units for small batches.

// FullyConnectedOptions slots in the TFLite schema.
const (
	fcOptAct           = 0
	fcOptWeightsFormat = 1
	fcOptKeepNumDims   = 2
	fcOptAsymmetric    = 3
)

// fcMinPanelsPerSlot and fcMinRowsPerSlot bound the work below which a worker is not worth it.
const (
	fcMinPanelsPerSlot = 16
	fcMinRowsPerSlot   = 16
)

type fullyConnected struct {
	gemmOp
	act         int8
	keepNumDims bool
	batch       int
	units       int
	depth       int
	byRows      bool  // split the work over batch rows rather than unit panels
	tile        qTile // the input rows packed for the SIMD kernel, during eval
}

func newFullyConnected(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 3, 1); err != nil {
		return nil, err
	}
	k := &fullyConnected{
		act:         n.opts.Int8(fcOptAct, actNone),
		keepNumDims: n.opts.Bool(fcOptKeepNumDims, false),
	}
	if f := n.opts.Int8(fcOptWeightsFormat, 0); f != 0 {
		return nil, n.errorf("%w: weights format %d (only DEFAULT is implemented)", errUnsupported, f)
	}
	if err := checkFusedActivation(n, k.act); err != nil {
		return nil, err
	}
	// asymmetric_quantize_inputs only matters for hybrid (float input, 8-bit weights) kernels,
	// which prepare rejects.
	return k, nil
}

func (k *fullyConnected) prepare(n *node) error {
	in, filter, out, bias := n.inputs[0], n.inputs[1], n.outputs[0], biasTensor(n)
	if filter.Rank() != 2 {
		return n.errorf("weights must have rank 2, got shape %v", filter.shape)
	}
	if in.Rank() < 1 {
		return n.errorf("input must have rank 1 or more, got shape %v", in.shape)
	}
	k.units, k.depth = filter.shape[0], filter.shape[1]
	if k.depth < 1 || k.units < 1 {
		return n.errorf("empty weights shape %v", filter.shape)
	}
	size := in.NumElements()
	if size%k.depth != 0 {
		return n.errorf("input shape %v does not flatten to rows of %d", in.shape, k.depth)
	}
	k.batch = size / k.depth
	if in.typ != Float32 && k.depth > maxQuantDepth {
		return n.errorf("%w: 8-bit product over %d values per output (at most %d)", errUnsupported, k.depth, maxQuantDepth)
	}
	k.typ = in.typ
	switch {
	case in.typ == Float32 && filter.typ == Float32 && out.typ == Float32:
		if bias != nil && (bias.typ != Float32 || bias.NumElements() != k.units) {
			return n.errorf("bias must be float32 with %d elements, got %v %v", k.units, bias.typ, bias.shape)
		}
		k.lo, k.hi = activationRangeFloat(k.act)
	case in.typ == Float32 && is8bit(filter.typ):
		return n.errorf("%w: hybrid fully connected (float32 input, %v weights)", errUnsupported, filter.typ)
	case !is8bit(in.typ) || filter.typ != in.typ || out.typ != in.typ:
		return n.errorf("%w: input %v, weights %v, output %v", errUnsupported, in.typ, filter.typ, out.typ)
	default:
		if bias != nil && bias.Rank() != 1 {
			// TFLite only checks the element count; accept any shape of the right size.
			bias = &Tensor{name: bias.name, typ: bias.typ, shape: []int{bias.NumElements()}, quant: bias.quant}
		}
		q, err := newConvQuant(n, in, filter, bias, out, k.units, 0, k.act)
		if err != nil {
			return err
		}
		k.convQuant = *q
	}
	if k.keepNumDims {
		if in.shape[len(in.shape)-1] != k.depth {
			return n.errorf("keep_num_dims: input shape %v must end in %d", in.shape, k.depth)
		}
		shape := append([]int(nil), in.shape...)
		shape[len(shape)-1] = k.units
		setShape(out, shape)
	} else {
		setShape(out, []int{k.batch, k.units})
	}
	k.chooseKernels(k.batch, k.units, k.depth, filter)
	n.scratchSize = 0
	if k.qk != nil {
		n.scratchSize = qTileBytes(k.qk, k.batch, roundUp(k.depth, k.qk.kAlign))
	}
	return k.setFilter(n, filter, k.units, k.depth)
}

func (k *fullyConnected) eval(n *node) error {
	k.beginEval(n, k.units, k.depth)
	k.n = n
	switch {
	case k.qk != nil && k.typ == UInt8:
		k.packInput(fcPackRows(k, n.inputs[0].UInt8s(), n.scratch))
	case k.qk != nil:
		k.packInput(fcPackRows(k, n.inputs[0].Int8s(), n.scratch))
	}
	k.byRows = k.batch >= 2*fcMinRowsPerSlot
	if k.byRows {
		n.pool.do(k.batch, fcMinRowsPerSlot, fcMinRowsPerSlot/4, k)
	} else {
		part := max(1, fcMinPanelsPerSlot*gemmNR/k.panelWidth())
		n.pool.do(k.numPanels(k.units), part, max(1, part/4), k)
	}
	k.n = nil
	return nil
}

// run computes batch rows [lo, hi), or unit panels [lo, hi) of every row.
func (k *fullyConnected) run(lo, hi, _ int) {
	n := k.n
	m0, m1, p0, p1 := lo, hi, 0, k.numPanels(k.units)
	if !k.byRows {
		m0, m1, p0, p1 = 0, k.batch, lo, hi
	}
	in, out := n.inputs[0], n.outputs[0]
	switch {
	case k.fk != nil:
		gemmF32SIMDRows(k, in.Float32s(), out.Float32s(), m0, m1, p0, p1)
	case k.qk != nil && k.typ == UInt8:
		fcRowsQ8(k, out.UInt8s(), m0, m1, p0, p1, false)
	case k.qk != nil:
		fcRowsQ8(k, out.Int8s(), m0, m1, p0, p1, true)
	case k.typ == Float32:
		gemmF32(in.Float32s(), k.depth, m0, m1, &k.bf, p0, p1, biasFloat32s(n), k.lo, k.hi, out.Float32s()[m0*k.units:], k.units)
	case k.typ == UInt8:
		gemmQ(in.UInt8s(), k.depth, m0, m1, &k.bq, p0, p1, &k.rq, out.UInt8s()[m0*k.units:], k.units)
	case k.typ == Int8:
		gemmQ(in.Int8s(), k.depth, m0, m1, &k.bq, p0, p1, &k.rq, out.Int8s()[m0*k.units:], k.units)
	}
}

// fcPackRows packs the input rows into a tile in scratch for the SIMD kernel.
func fcPackRows[T uint8 | int8](k *fullyConnected, in []T, scratch []byte) qTile {
	t := newQTile(k.qk, scratch, k.batch, k.b8.kp)
	for r := 0; r < k.batch; r++ {
		setRow(&t, r, in[r*k.depth:(r+1)*k.depth])
	}
	return t
}

func (k *fullyConnected) packInput(t qTile) { k.tile = t }

func fcRowsQ8[T uint8 | int8](k *fullyConnected, out []T, m0, m1, p0, p1 int, signed bool) {
	t := k.tile
	t.a16, t.a8, t.sums = nil, nil, t.sums[m0:]
	if k.tile.a8 != nil {
		t.a8 = k.tile.a8[m0*t.kp:]
	} else {
		t.a16 = k.tile.a16[m0*t.kp:]
	}
	qgemmSIMD(&t, m1-m0, &k.b8, p0, p1, &k.rq, out[m0*k.units:], k.units, signed)
}

func gemmF32SIMDRows(k *fullyConnected, in, out []float32, m0, m1, p0, p1 int) {
	if m1 <= m0 {
		return
	}
	fgemmSIMD(in, k.depth, m0, m1, nil, &k.bfx, p0, p1, k.biasPad, k.lo, k.hi, out[m0*k.units:], k.units)
}
