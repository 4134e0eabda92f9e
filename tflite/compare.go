package tflite

// LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL and NOT_EQUAL, elementwise with NumPy
// broadcasting into a bool tensor. Numbers compare as they are, bools (EQUAL and NOT_EQUAL only)
// too; quantized 8-bit inputs are brought to a common scale first, as TFLite does: each is
// shifted left by 8 bits and rescaled by its own scale in fixed point, so inputs of different
// quantization compare by real value. prepare tabulates the rescaled value of every input byte.

type compareOp int

const (
	cmpLess compareOp = iota
	cmpLessEqual
	cmpGreater
	cmpGreaterEqual
	cmpEqual
	cmpNotEqual
)

var compareNames = [...]string{"LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL"}

type compareKernel struct {
	op         compareOp
	typ        DataType
	plan       broadcastPlan
	tabA, tabB [256]int32 // 8-bit: the rescaled value of each input byte
}

func newCompare(n *node, op compareOp) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &compareKernel{op: op}, nil
}

func newLess(n *node) (kernel, error)         { return newCompare(n, cmpLess) }
func newLessEqual(n *node) (kernel, error)    { return newCompare(n, cmpLessEqual) }
func newGreater(n *node) (kernel, error)      { return newCompare(n, cmpGreater) }
func newGreaterEqual(n *node) (kernel, error) { return newCompare(n, cmpGreaterEqual) }
func newEqual(n *node) (kernel, error)        { return newCompare(n, cmpEqual) }
func newNotEqual(n *node) (kernel, error)     { return newCompare(n, cmpNotEqual) }

func (k *compareKernel) prepare(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	k.typ = a.typ
	ok := false
	switch a.typ {
	case Float32, Int16, Int32, Int64, UInt8, Int8:
		ok = true
	case Bool:
		ok = k.op == cmpEqual || k.op == cmpNotEqual
	}
	if !ok || b.typ != a.typ || out.typ != Bool {
		return n.errorf("%w: %s of %v and %v into %v", errUnsupported, compareNames[k.op], a.typ, b.typ, out.typ)
	}
	if is8bit(a.typ) {
		compareTable(&k.tabA, a)
		compareTable(&k.tabB, b)
	}
	var err error
	k.plan, err = prepareBroadcast(n, a, b, out)
	return err
}

// compareTable fills tab with TFLite's comparison value of each raw byte of 8-bit tensor t:
// ((q - zp) << 8) times the scale as a fixed-point multiplier; the raw value when t is not
// quantized.
func compareTable(tab *[256]int32, t *Tensor) {
	q := t.quant
	if q == nil || len(q.Scale) != 1 || !(q.Scale[0] > 0) {
		for i := range tab {
			tab[i] = byteValue(t.typ, i)
		}
		return
	}
	var zp int32
	if len(q.ZeroPoint) > 0 {
		zp = int32(max(min(q.ZeroPoint[0], 255), -128))
	}
	mult, shift := quantizeMultiplier(float64(q.Scale[0]))
	for i := range tab {
		tab[i] = multiplyByQuantizedMultiplier((byteValue(t.typ, i)-zp)<<8, mult, shift)
	}
}

func (k *compareKernel) eval(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	switch k.typ {
	case Float32:
		compare(k.op, &k.plan, a.Float32s(), b.Float32s(), out.data)
	case Int16:
		compare(k.op, &k.plan, viewAs[int16](a.data), viewAs[int16](b.data), out.data)
	case Int32:
		compare(k.op, &k.plan, a.Int32s(), b.Int32s(), out.data)
	case Int64:
		compare(k.op, &k.plan, a.Int64s(), b.Int64s(), out.data)
	case Bool:
		compare(k.op, &k.plan, a.data, b.data, out.data)
	default:
		ta, tb := &k.tabA, &k.tabB
		switch k.op {
		case cmpLess:
			bcast2(&k.plan, a.data, b.data, out.data, func(x, y byte) byte { return b2u(ta[x] < tb[y]) })
		case cmpLessEqual:
			bcast2(&k.plan, a.data, b.data, out.data, func(x, y byte) byte { return b2u(ta[x] <= tb[y]) })
		case cmpGreater:
			bcast2(&k.plan, a.data, b.data, out.data, func(x, y byte) byte { return b2u(ta[x] > tb[y]) })
		case cmpGreaterEqual:
			bcast2(&k.plan, a.data, b.data, out.data, func(x, y byte) byte { return b2u(ta[x] >= tb[y]) })
		case cmpEqual:
			bcast2(&k.plan, a.data, b.data, out.data, func(x, y byte) byte { return b2u(ta[x] == tb[y]) })
		default:
			bcast2(&k.plan, a.data, b.data, out.data, func(x, y byte) byte { return b2u(ta[x] != tb[y]) })
		}
	}
	return nil
}

func compare[T ordered](op compareOp, p *broadcastPlan, a, b []T, out []byte) {
	switch op {
	case cmpLess:
		bcast2(p, a, b, out, func(x, y T) byte { return b2u(x < y) })
	case cmpLessEqual:
		bcast2(p, a, b, out, func(x, y T) byte { return b2u(x <= y) })
	case cmpGreater:
		bcast2(p, a, b, out, func(x, y T) byte { return b2u(x > y) })
	case cmpGreaterEqual:
		bcast2(p, a, b, out, func(x, y T) byte { return b2u(x >= y) })
	case cmpEqual:
		bcast2(p, a, b, out, func(x, y T) byte { return b2u(x == y) })
	default:
		bcast2(p, a, b, out, func(x, y T) byte { return b2u(x != y) })
	}
}
