//go:build purego || !(amd64 || arm64)

package tflite

import "unsafe"

// Without assembly (the purego build tag, or an architecture with no kernels, such as 32-bit ARM
// whose Go assembler lacks NEON) the portable kernels of gemm.go run.
var (
	simdQ  *qKernel
	simdF  *fKernel
	simdDW *dwKernel
	simdEW *ewKernel
)

var rgbKernel = false

const rgbGroup, rgbWStep = 8, 0

func runQ(*qKernel, *qgemmArgs, bool) { panic("tflite: no SIMD kernels in this build") }

func runF(*fKernel, *fgemmArgs) { panic("tflite: no SIMD kernels in this build") }

func runDW(*dwArgs, dwKind) { panic("tflite: no SIMD kernels in this build") }

func runEW(*ewArgs) { panic("tflite: no SIMD kernels in this build") }

func kernelVariants() ([]*qKernel, []*fKernel) { return nil, nil }

func runWiden(*int16, unsafe.Pointer, int, bool) int32 {
	panic("tflite: no SIMD kernels in this build")
}

func runCopySum(*byte, unsafe.Pointer, int, bool) int32 {
	panic("tflite: no SIMD kernels in this build")
}

var argKernel = false

func runArgRows(*argArgs, bool, bool) { panic("tflite: no SIMD kernels in this build") }

var lerpKernel = false

func runLerpV(unsafe.Pointer, *int32, *int32, int, int32, bool) {
	panic("tflite: no SIMD kernels in this build")
}

func runRowSums(*int32, unsafe.Pointer, int, int, bool) {
	panic("tflite: no SIMD kernels in this build")
}

func runPool(*poolArgs) { panic("tflite: no SIMD kernels in this build") }

func runRGB(*rgbArgs) { panic("tflite: no SIMD kernels in this build") }

var arithQKernel = false

func runArithQ(*arithQArgs, bool) { panic("tflite: no SIMD kernels in this build") }

var quantFKernel = false

func runQuantF(*quantFArgs) { panic("tflite: no SIMD kernels in this build") }
