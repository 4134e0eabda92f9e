package tflite

// SQUARED_DIFFERENCE is (a - b)², elementwise with NumPy broadcasting, for float32, int32 and
// int8. int8 is TFLite's: both inputs are shifted left by 7 bits and rescaled to a common scale
// (twice the larger input scale), their difference squared in int32 and rescaled to the output.

type squaredDiff struct {
	typ  DataType
	plan broadcastPlan
	// int8: the rescaled value of each input byte, and the output rescale.
	tabA, tabB [256]int32
	mult       int32
	shift      int
	zpOut      int32
}

func newSquaredDifference(n *node) (kernel, error) {
	if err := checkCounts(n, 2, 2, 1); err != nil {
		return nil, err
	}
	return &squaredDiff{}, nil
}

func (k *squaredDiff) prepare(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	k.typ = a.typ
	if (a.typ != Float32 && a.typ != Int32 && a.typ != Int8) || b.typ != a.typ || out.typ != a.typ {
		return n.errorf("%w: SQUARED_DIFFERENCE of %v and %v into %v", errUnsupported, a.typ, b.typ, out.typ)
	}
	if a.typ == Int8 {
		sa, za, err := quantOf(n, a)
		if err != nil {
			return err
		}
		sb, zb, err := quantOf(n, b)
		if err != nil {
			return err
		}
		so, zo, err := quantOf(n, out)
		if err != nil {
			return err
		}
		const leftShift = 7
		twiceMax := 2 * float64(max(sa, sb))
		ma, sha := quantizeMultiplier(float64(sa) / twiceMax)
		mb, shb := quantizeMultiplier(float64(sb) / twiceMax)
		k.mult, k.shift = quantizeMultiplier(twiceMax * twiceMax / (float64(int(1)<<(2*leftShift)) * float64(so)))
		k.zpOut = zo
		for i := range 256 {
			q := byteValue(Int8, i)
			k.tabA[i] = multiplyByQuantizedMultiplier((q-za)<<leftShift, ma, sha)
			k.tabB[i] = multiplyByQuantizedMultiplier((q-zb)<<leftShift, mb, shb)
		}
	}
	var err error
	k.plan, err = prepareBroadcast(n, a, b, out)
	return err
}

func (k *squaredDiff) eval(n *node) error {
	a, b, out := n.inputs[0], n.inputs[1], n.outputs[0]
	switch k.typ {
	case Float32:
		bcast2(&k.plan, a.Float32s(), b.Float32s(), out.Float32s(), func(x, y float32) float32 {
			d := x - y
			return d * d
		})
	case Int32:
		bcast2(&k.plan, a.Int32s(), b.Int32s(), out.Int32s(), func(x, y int32) int32 {
			d := x - y
			return d * d
		})
	default:
		bcast2(&k.plan, a.data, b.data, out.data, func(x, y byte) byte {
			d := k.tabA[x] - k.tabB[y]
			v := multiplyByQuantizedMultiplier(d*d, k.mult, k.shift) + k.zpOut
			return byte(int8(min(max(v, -128), 127)))
		})
	}
	return nil
}
