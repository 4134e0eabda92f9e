package tflite

import "unsafe"

// SIMD loops for float32 element-wise ADD, SUB, MUL and the clamping activations (RELU,
// RELU6, RELU_N1_TO_1), which the residual blocks of float detectors run on whole feature maps.
// The result is clamped as Go's min(max(v, lo), hi) does, NaN included; a zero's sign may
// differ (x86's VMAXPS keeps -0 where Go's max gives +0).

// ewKernel names this CPU's element-wise float32 kernel (runEW calls it).
type ewKernel struct{ name string }

// The operations of ewArgs.op.
const (
	ewAdd = iota
	ewSub
	ewMul
	ewClamp    // dst = clamp(a)
	ewLogistic // dst = 1/(1+e^-a), within a few units in the last place (no clamp)
	ewExp      // dst = e^((a-lo)·hi) for exponents at most 0, as LOGISTIC's e^z; 0 below -87
)

// ewArgs is what an element-wise kernel reads (the assembly relies on this layout).
type ewArgs struct {
	dst, a, b unsafe.Pointer
	n         int // elements, a multiple of 8
	op        int
	lo, hi    float32
}

// ewF32 computes dst[i] = clamp(a[i] op b[i]) (b unused for ewClamp, ewLogistic and ewExp,
// which takes lo and hi as its operands) with the SIMD kernel for the elements up to the last
// multiple of 8, and returns how many it computed.
func ewF32(op int, dst, a, b []float32, lo, hi float32) int {
	n := len(dst) &^ 7
	if simdEW == nil || n == 0 {
		return 0
	}
	args := ewArgs{dst: unsafe.Pointer(&dst[0]), a: unsafe.Pointer(&a[:n][0]), b: unsafe.Pointer(&a[0]), n: n, op: op, lo: lo, hi: hi}
	if op != ewClamp && op != ewLogistic && op != ewExp {
		args.b = unsafe.Pointer(&b[:n][0])
	}
	runEW(&args)
	return n
}
