//go:build !purego

package tflite

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate go run gen_arm64.go

// Every arm64 CPU has NEON (Advanced SIMD). The 8-bit GEMM uses the dot-product instructions
// (UDOT/SDOT, ARMv8.2's optional dotprod: Cortex-A55, A76 and later, the Raspberry Pi 5) where
// the kernel's hardware capabilities say so; otherwise (Cortex-A53, A72: the Raspberry Pi 3 and
// 4) SMULL/SMLAL2 on bytes with pairs of products summed in int16, and SMLAL on int16 for the
// filters where such a pair could overflow (see pairSafe).
var (
	simdQ  = arm64QKernel()
	simdF  = arm64FKernel()
	simdDW = &dwKernel{name: "neon-8ch"}
	simdEW = &ewKernel{name: "neon"}
)

// rgbKernel says whether runRGB runs (conv_rgb.go): rgbGroup output positions at once, filter
// rows rgbWStep bytes apart (fgemmNEON's 8-column panels).
var rgbKernel = true

const rgbGroup, rgbWStep = 8, 32

func arm64QKernel() *qKernel {
	qs, _ := kernelVariants()
	return qs[len(qs)-1]
}

func arm64FKernel() *fKernel {
	_, fs := kernelVariants()
	return fs[len(fs)-1]
}

// kernelVariants returns the GEMM kernels this CPU can run, the preferred one last; tests check
// each of them (so a CPU with dotprod checks the SMLAL kernel too).
func kernelVariants() ([]*qKernel, []*fKernel) {
	smlal := &qKernel{name: "neon-smlal-8x8", mr: 8, nr: 8, ku: 1, kAlign: 8, id: qSMLAL}
	smull := &qKernel{name: "neon-smull-8x4", mr: 8, nr: 4, ku: 16, kAlign: 16, aBytes: true, pairs: true, fallback: smlal, id: qSMULL}
	qs := []*qKernel{smlal, smull}
	if cpu.ARM64.HasASIMDDP {
		qs = append(qs, &qKernel{name: "neon-dot-8x8", mr: 8, nr: 8, ku: 4, kAlign: 16, aBytes: true, id: qDot})
	}
	return qs, []*fKernel{{name: "neon-8x8", mr: 8, nr: 8}}
}

// The 8-bit kernels' ids.
const (
	qSMLAL = iota
	qSMULL
	qDot
)

func runQ(kern *qKernel, args *qgemmArgs, signed bool) {
	switch {
	case kern.id == qDot && signed:
		qgemmS8Dot(args)
	case kern.id == qDot:
		qgemmU8Dot(args)
	case kern.id == qSMULL && signed:
		qgemmS8SMULL(args)
	case kern.id == qSMULL:
		qgemmU8SMULL(args)
	case signed:
		qgemmS8SMLAL(args)
	default:
		qgemmU8SMLAL(args)
	}
}

func runF(kern *fKernel, args *fgemmArgs) {
	if args.oneRow() {
		fgemmNEON1(args)
	} else {
		fgemmNEON(args)
	}
}

func runEW(args *ewArgs) { ewF32NEON(args) }

func runDW(args *dwArgs, kind dwKind) {
	switch kind {
	case dwFloat32:
		dwFNEON(args)
	case dwF8x9:
		dwF8x9NEON(args)
	case dwUInt8:
		dwQU8NEON(args)
	default:
		dwQS8NEON(args)
	}
}

// The kernels of gemm_arm64.s and depthwise_arm64.s (written by gen_arm64.go).

//go:noescape
func qgemmU8SMLAL(args *qgemmArgs)

//go:noescape
func qgemmS8SMLAL(args *qgemmArgs)

//go:noescape
func qgemmU8Dot(args *qgemmArgs)

//go:noescape
func qgemmU8SMULL(args *qgemmArgs)

//go:noescape
func qgemmS8SMULL(args *qgemmArgs)

//go:noescape
func qgemmS8Dot(args *qgemmArgs)

//go:noescape
func fgemmNEON(args *fgemmArgs)

// fgemmNEON1 is fgemmNEON for one row of A.
//
//go:noescape
func fgemmNEON1(args *fgemmArgs)

//go:noescape
func dwQU8NEON(args *dwArgs)

//go:noescape
func dwQS8NEON(args *dwArgs)

//go:noescape
func dwFNEON(args *dwArgs)

// dwF8x9NEON is dwFNEON for 8 channels and a 3x3 filter inside the image.
//
//go:noescape
func dwF8x9NEON(args *dwArgs)

//go:noescape
func ewF32NEON(args *ewArgs)

// widenU8NEON and widenS8NEON set dst[i] to src[i] (uint8 or int8) for i < n, a positive
// multiple of 16, and return the sum; copySumU8NEON and copySumS8NEON copy the bytes instead,
// for the dot-product kernel's byte tiles (gemm_arm64.s).
//
//go:noescape
func widenU8NEON(dst *int16, src unsafe.Pointer, n int) int32

//go:noescape
func widenS8NEON(dst *int16, src unsafe.Pointer, n int) int32

//go:noescape
func copySumU8NEON(dst *byte, src unsafe.Pointer, n int) int32

//go:noescape
func copySumS8NEON(dst *byte, src unsafe.Pointer, n int) int32

func runWiden(dst *int16, src unsafe.Pointer, n int, signed bool) int32 {
	if signed {
		return widenS8NEON(dst, src, n)
	}
	return widenU8NEON(dst, src, n)
}

func runCopySum(dst *byte, src unsafe.Pointer, n int, signed bool) int32 {
	if signed {
		return copySumS8NEON(dst, src, n)
	}
	return copySumU8NEON(dst, src, n)
}

// argKernel says whether runArgRows runs (argRowsKeyed).
var argKernel = true

// argMaxU8NEON, argMaxS8NEON, argMinU8NEON and argMinS8NEON are ARG_MAX and ARG_MIN over rows
// of 16 to 256 8-bit values (gemm_arm64.s).
//
//go:noescape
func argMaxU8NEON(args *argArgs)

//go:noescape
func argMaxS8NEON(args *argArgs)

//go:noescape
func argMinU8NEON(args *argArgs)

//go:noescape
func argMinS8NEON(args *argArgs)

func runArgRows(args *argArgs, isMax, signed bool) {
	switch {
	case isMax && signed:
		argMaxS8NEON(args)
	case isMax:
		argMaxU8NEON(args)
	case signed:
		argMinS8NEON(args)
	default:
		argMinU8NEON(args)
	}
}

// lerpKernel says whether runLerpV runs (bilinear8).
var lerpKernel = true

// lerpV8NEON is bilinear8's vertical lerp of n int32 values of top and bot with weight av into
// n 8-bit outputs at dst, n a positive multiple of 8 (gemm_arm64.s).
//
//go:noescape
func lerpV8NEON(dst unsafe.Pointer, top, bot *int32, n int, av int32)

func runLerpV(dst unsafe.Pointer, top, bot *int32, n int, av int32, signed bool) {
	lerpV8NEON(dst, top, bot, n, av)
}

// rowSumsU8NEON and rowSumsS8NEON store in sums the sums of rows consecutive rows of k values
// from src, k a positive multiple of 8 (gemm_arm64.s).
//
//go:noescape
func rowSumsU8NEON(sums *int32, src unsafe.Pointer, k, rows int)

//go:noescape
func rowSumsS8NEON(sums *int32, src unsafe.Pointer, k, rows int)

func runRowSums(sums *int32, src unsafe.Pointer, k, rows int, signed bool) {
	if signed {
		rowSumsS8NEON(sums, src, k, rows)
	} else {
		rowSumsU8NEON(sums, src, k, rows)
	}
}

// poolF32NEON is the float32 pooling kernel (pooling_arm64.s).
//
//go:noescape
func poolF32NEON(args *poolArgs)

func runPool(args *poolArgs) { poolF32NEON(args) }

// rgbConvNEON is the direct convolution of conv_rgb.go (conv_rgb_arm64.s).
//
//go:noescape
func rgbConvNEON(args *rgbArgs)

func runRGB(args *rgbArgs) { rgbConvNEON(args) }

// arithQKernel says whether runArithQ runs (arithKernel.rowsSIMD).
var arithQKernel = true

// arithQU8NEON and arithQS8NEON are the 8-bit ADD, SUB and MUL of arithQArgs (gemm_arm64.s).
//
//go:noescape
func arithQU8NEON(args *arithQArgs)

//go:noescape
func arithQS8NEON(args *arithQArgs)

func runArithQ(args *arithQArgs, signed bool) {
	if signed {
		arithQS8NEON(args)
	} else {
		arithQU8NEON(args)
	}
}

// quantFKernel says whether runQuantF runs (float32 QUANTIZE).
var quantFKernel = true

// quantFNEON is the float32 to 8-bit QUANTIZE of quantFArgs (gemm_arm64.s).
//
//go:noescape
func quantFNEON(args *quantFArgs)

func runQuantF(args *quantFArgs) { quantFNEON(args) }
