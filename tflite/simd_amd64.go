//go:build !purego

package tflite

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The amd64 kernels need AVX2 (integer and float 256-bit vectors) and FMA; CPUs without them
// (before Haswell) and the purego build use the portable kernels.
var simdQ, simdF = amd64Kernels(cpu.X86.HasAVX2 && cpu.X86.HasFMA)

var simdDW = amd64DW(cpu.X86.HasAVX2 && cpu.X86.HasFMA)

var simdEW = amd64EW(cpu.X86.HasAVX2 && cpu.X86.HasFMA)

// rgbKernel says whether runRGB runs (conv_rgb.go): rgbGroup output positions at once, filter
// rows rgbArgs.wStep apart (rgbWStep 0: any).
var rgbKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

const rgbGroup, rgbWStep = 14, 0

func amd64EW(ok bool) *ewKernel {
	if !ok {
		return nil
	}
	return &ewKernel{name: "avx2"}
}

func amd64DW(ok bool) *dwKernel {
	if !ok {
		return nil
	}
	return &dwKernel{name: "avx2-8ch", pairTaps: true}
}

func amd64Kernels(ok bool) (*qKernel, *fKernel) {
	qs, fs := kernelVariants()
	if !ok || len(qs) == 0 {
		return nil, nil
	}
	return qs[len(qs)-1], fs[len(fs)-1]
}

// kernelVariants returns the GEMM kernels this CPU can run, the preferred one last; tests check
// each of them.
func kernelVariants() ([]*qKernel, []*fKernel) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		return nil, nil
	}
	qs := []*qKernel{{name: "avx2-6x16", mr: 6, nr: 16, ku: 2, kAlign: 8}}
	fs := []*fKernel{{name: "fma-6x16", mr: 6, nr: 16, id: fFMA}}
	if cpu.X86.HasAVX512F {
		// Same panels, twice the columns per instruction: 8 rows of one 16-float register.
		fs = append(fs, &fKernel{name: "avx512-8x16", mr: 8, nr: 16, id: fAVX512, masked: true})
	}
	return qs, fs
}

// The float32 kernels' ids.
const (
	fFMA = iota
	fAVX512
)

// runQ runs kern's routine: args.panels panels of args.rows rows; signed selects int8 over uint8.
func runQ(kern *qKernel, args *qgemmArgs, signed bool) {
	if signed {
		qgemmS8AVX2(args)
	} else {
		qgemmU8AVX2(args)
	}
}

func runF(kern *fKernel, args *fgemmArgs) {
	if args.oneRow() {
		fgemmFMA1(args) // both kernels pack 16-column panels
	} else if kern.id == fAVX512 && args.mask < 1<<8 {
		fgemmAVX512Y(args) // the columns to store fit 8 lanes
	} else if kern.id == fAVX512 {
		fgemmAVX512(args)
	} else {
		fgemmFMA(args)
	}
}

// qgemmU8AVX2 and qgemmS8AVX2 are the 6x16 8-bit micro-kernels (gemm_amd64.s) for uint8 and
// int8 B and outputs: VPMADDWD on A widened to int16 and B widened as it is loaded.
//
//go:noescape
func qgemmU8AVX2(args *qgemmArgs)

//go:noescape
func qgemmS8AVX2(args *qgemmArgs)

// fgemmFMA and fgemmAVX512 are the float32 micro-kernels (gemm_amd64.s).
//
//go:noescape
func fgemmFMA(args *fgemmArgs)

//go:noescape
func fgemmAVX512(args *fgemmArgs)

// fgemmAVX512Y is fgemmAVX512 on the first 8 columns of its panels, in Y registers.
//
//go:noescape
func fgemmAVX512Y(args *fgemmArgs)

// fgemmFMA1 is fgemmFMA for one row of A (gemm_amd64.s).
//
//go:noescape
func fgemmFMA1(args *fgemmArgs)

// rgbConvAVX2 is the direct convolution of conv_rgb.go (conv_rgb_amd64.s).
//
//go:noescape
func rgbConvAVX2(args *rgbArgs)

func runRGB(args *rgbArgs) { rgbConvAVX2(args) }

// dwQU8AVX2 and dwQS8AVX2 are the 8-bit depthwise kernels (depthwise_amd64.s).
//
//go:noescape
func dwQU8AVX2(args *dwArgs)

//go:noescape
func dwQS8AVX2(args *dwArgs)

// dwFFMA is the float32 depthwise kernel (depthwise_amd64.s).
//
//go:noescape
func dwFFMA(args *dwArgs)

// dwF8x9FMA is dwFFMA for 8 channels and a 3x3 filter inside the image (depthwise_amd64.s).
//
//go:noescape
func dwF8x9FMA(args *dwArgs)

func runDW(args *dwArgs, kind dwKind) {
	switch kind {
	case dwFloat32:
		dwFFMA(args)
	case dwF8x9:
		dwF8x9FMA(args)
	case dwUInt8:
		dwQU8AVX2(args)
	default:
		dwQS8AVX2(args)
	}
}

// ewF32AVX2 is the element-wise float32 kernel (gemm_amd64.s).
//
//go:noescape
func ewF32AVX2(args *ewArgs)

func runEW(args *ewArgs) { ewF32AVX2(args) }

// widenU8AVX2 and widenS8AVX2 set dst[i] to src[i] (uint8 or int8) for i < n, a positive
// multiple of 16, and return the sum (gemm_amd64.s).
//
//go:noescape
func widenU8AVX2(dst *int16, src unsafe.Pointer, n int) int32

//go:noescape
func widenS8AVX2(dst *int16, src unsafe.Pointer, n int) int32

func runWiden(dst *int16, src unsafe.Pointer, n int, signed bool) int32 {
	if signed {
		return widenS8AVX2(dst, src, n)
	}
	return widenU8AVX2(dst, src, n)
}

// runCopySum is not used: the amd64 8-bit kernel takes int16 tiles only.
func runCopySum(*byte, unsafe.Pointer, int, bool) int32 { panic("tflite: no byte tiles on amd64") }

// argKernel says whether runArgRows runs (argRowsKeyed): not on amd64.
var argKernel = false

func runArgRows(*argArgs, bool, bool) { panic("tflite: no ARG_MAX kernel on amd64") }

// lerpKernel says whether runLerpV runs (bilinear8).
var lerpKernel = cpu.X86.HasAVX2

// lerpVU8AVX2 and lerpVS8AVX2 are bilinear8's vertical lerp of n int32 values of top and bot
// with weight av into n uint8 or int8 outputs at dst, n a positive multiple of 8 (gemm_amd64.s).
//
//go:noescape
func lerpVU8AVX2(dst unsafe.Pointer, top, bot *int32, n int, av int32)

//go:noescape
func lerpVS8AVX2(dst unsafe.Pointer, top, bot *int32, n int, av int32)

func runLerpV(dst unsafe.Pointer, top, bot *int32, n int, av int32, signed bool) {
	if signed {
		lerpVS8AVX2(dst, top, bot, n, av)
	} else {
		lerpVU8AVX2(dst, top, bot, n, av)
	}
}

// runRowSums stores in sums the sums of rows consecutive rows of k values from src, k a
// multiple of 8: eight values a step, added as four pairs in the 16-bit lanes of a word (SWAR),
// the lanes folded every 64 steps, before they can overflow. An int8 value is its byte with the sign bit flipped
// (its value plus 128, as a uint8), less 128.
func runRowSums(sums *int32, src unsafe.Pointer, k, rows int, signed bool) {
	const lanes = 0x00ff00ff00ff00ff
	var flip uint64
	var bias int32
	if signed {
		flip, bias = 0x8080808080808080, -128*int32(k)
	}
	for r := range rows {
		p := unsafe.Add(src, r*k)
		s := bias
		for i := 0; i < k; {
			var acc uint64
			for end := min(k, i+64*8); i < end; i += 8 {
				x := *(*uint64)(unsafe.Add(p, i)) ^ flip
				acc += x&lanes + x>>8&lanes
			}
			s += int32(acc&0xffff + acc>>16&0xffff + acc>>32&0xffff + acc>>48)
		}
		*(*int32)(unsafe.Add(unsafe.Pointer(sums), r*4)) = s
	}
}

// poolF32AVX2 is the float32 pooling kernel (pooling_amd64.s).
//
//go:noescape
func poolF32AVX2(args *poolArgs)

func runPool(args *poolArgs) { poolF32AVX2(args) }

// arithQKernel says whether runArithQ runs (arithKernel.rowsSIMD): not on amd64.
var arithQKernel = false

func runArithQ(*arithQArgs, bool) { panic("tflite: no 8-bit ADD kernel on amd64") }

// quantFKernel says whether runQuantF runs (float32 QUANTIZE): not on amd64.
var quantFKernel = false

func runQuantF(*quantFArgs) { panic("tflite: no QUANTIZE kernel on amd64") }
