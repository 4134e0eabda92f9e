package tflite

import "math"

// Elementwise activations: LOGISTIC, TANH, HARD_SWISH, RELU, RELU6, RELU_N1_TO_1.
//
// The 8-bit versions are a fixed function of the input byte, so prepare tabulates them (see
// lutKernel): LOGISTIC, TANH and HARD_SWISH evaluate the real function on the dequantized input
// and quantize the result, as TFLite's lookup-table kernels do; the RELUs requantize the input
// to the output's quantization with TFLite's fixed-point multiplier and clamp, as its reference
// kernel does.

type activation int

const (
	activationLogistic activation = iota
	activationTanh
	activationHardSwish
	activationRelu
	activationRelu6
	activationReluN1To1
)

var activationNames = [...]string{"LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "RELU_N1_TO_1"}

// activationMinChunk is the element count below which splitting over the pool does not pay.
const activationMinChunk = 32 << 10

type activationKernel struct {
	lutKernel
	fn  activation
	typ DataType
	// Operands of the current eval, for the pool's run callback.
	in, out []byte
}

func newActivation(n *node, fn activation) (kernel, error) {
	if err := checkCounts(n, 1, 1, 1); err != nil {
		return nil, err
	}
	return &activationKernel{fn: fn}, nil
}

func newLogistic(n *node) (kernel, error)  { return newActivation(n, activationLogistic) }
func newTanh(n *node) (kernel, error)      { return newActivation(n, activationTanh) }
func newHardSwish(n *node) (kernel, error) { return newActivation(n, activationHardSwish) }
func newRelu(n *node) (kernel, error)      { return newActivation(n, activationRelu) }
func newRelu6(n *node) (kernel, error)     { return newActivation(n, activationRelu6) }
func newReluN1To1(n *node) (kernel, error) { return newActivation(n, activationReluN1To1) }

// activationReal is the real-valued function, in float64.
func activationReal(fn activation, x float64) float64 {
	switch fn {
	case activationLogistic:
		return 1 / (1 + math.Exp(-x))
	case activationTanh:
		return math.Tanh(x)
	case activationHardSwish:
		return x * min(max(x+3, 0), 6) / 6
	case activationRelu:
		return max(x, 0)
	case activationRelu6:
		return min(max(x, 0), 6)
	default:
		return min(max(x, -1), 1)
	}
}

func (k *activationKernel) prepare(n *node) error {
	in, out := n.inputs[0], n.outputs[0]
	k.typ = in.typ
	if out.typ != in.typ || !(in.typ == Float32 || is8bit(in.typ)) {
		return n.errorf("%w: %s from %v to %v", errUnsupported, activationNames[k.fn], in.typ, out.typ)
	}
	setShape(out, in.shape)
	if in.typ == Float32 {
		return nil
	}
	si, zi, so, zo, err := quantOfInOut(n, in, out)
	if err != nil {
		return err
	}
	lo, hi := typeRange(in.typ)
	// TFLite fixes the output quantization of the bounded functions.
	var wantScale float64
	var wantZP int32
	switch k.fn {
	case activationLogistic:
		wantScale, wantZP = 1.0/256, lo
	case activationTanh:
		wantScale, wantZP = 1.0/128, (lo+hi+1)/2
	}
	if wantScale != 0 && (math.Abs(float64(so)-wantScale) > 1e-8*wantScale+1e-10 || zo != wantZP) {
		return n.errorf("%w: %s %v output quantization (%v, %d), want (%v, %d)",
			errUnsupported, activationNames[k.fn], out.typ, so, zo, wantScale, wantZP)
	}
	switch k.fn {
	case activationRelu, activationRelu6, activationReluN1To1:
		act := int8(actRelu)
		switch k.fn {
		case activationRelu6:
			act = actRelu6
		case activationReluN1To1:
			act = actReluN1To1
		}
		qmin, qmax := activationRangeQuantized(act, so, zo, lo, hi)
		mult, shift := quantizeMultiplier(float64(si) / float64(so))
		k.build(in.typ, func(q int32) int32 {
			v := zo + multiplyByQuantizedMultiplier(q-zi, mult, shift)
			return min(max(v, qmin), qmax)
		})
	default:
		inv := 1 / so
		k.build(in.typ, func(q int32) int32 {
			x := si * float32(q-zi)
			y := float32(activationReal(k.fn, float64(x)))
			r := math.Round(float64(y*inv)) + float64(zo)
			return int32(min(max(r, float64(lo)), float64(hi)))
		})
	}
	return nil
}

func (k *activationKernel) eval(n *node) error {
	k.in, k.out = n.inputs[0].data, n.outputs[0].data
	count := n.inputs[0].NumElements()
	n.pool.do(count, activationMinChunk, k)
	k.in, k.out = nil, nil
	return nil
}

// run computes elements [lo, hi).
func (k *activationKernel) run(lo, hi int) {
	if k.typ != Float32 {
		k.apply(k.out[lo:hi], k.in[lo:hi])
		return
	}
	src := viewAs[float32](k.in)[lo:hi]
	dst := viewAs[float32](k.out)[lo:hi]
	switch k.fn {
	case activationLogistic:
		for i, x := range src {
			dst[i] = float32(1 / (1 + math.Exp(-float64(x))))
		}
	case activationTanh:
		for i, x := range src {
			dst[i] = float32(math.Tanh(float64(x)))
		}
	case activationHardSwish:
		for i, x := range src {
			dst[i] = x * min(max(x+3, 0), 6) / 6
		}
	case activationRelu:
		for i, x := range src {
			dst[i] = max(x, 0)
		}
	case activationRelu6:
		for i, x := range src {
			dst[i] = min(max(x, 0), 6)
		}
	default:
		for i, x := range src {
			dst[i] = min(max(x, -1), 1)
		}
	}
}
