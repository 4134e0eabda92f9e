//go:build !purego

#include "textflag.h"

// Depthwise convolution kernels for amd64 with AVX2 and FMA: see depthwise_simd.go for the tap
// addressing and weight layouts, and dwArgs for the argument block (offsets below). Registers:
// SI the pixel's taps, R14 the pixel's base address, DX its output, CX the channel's byte offset.

// 8-bit: per pixel, per block of 8 channels, two taps per step: their 8 input bytes interleaved
// (VPUNPCKLBW), widened to int16 pairs and multiplied by the pairs of tap weights (VPMADDWD).
#define DWQ(WIDEN, PACK) \
	MOVQ         args+0(FP), DI; \
	MOVQ         0(DI), SI; \
	MOVQ         16(DI), DX; \
	MOVQ         72(DI), R14; \
	MOVQ         48(DI), R15; \
	SHLQ         $3, R15; \
	VBROADCASTSS 96(DI), Y12; \
	VBROADCASTSS 100(DI), Y13; \
	VPBROADCASTD 104(DI), Y14; \
	MOVQ         24(DI), R8; \
	MOVQ         32(DI), R9; \
	MOVQ         40(DI), R13; \
pix: \
	XORQ CX, CX; \
	MOVQ 8(DI), BX; \
	MOVQ 56(DI), R10; \
blk: \
	VMOVDQU (R8)(CX*4), Y0; \
	XORQ    AX, AX; \
tap: \
	MOVQ       (SI)(AX*1), R11; \
	MOVQ       8(SI)(AX*1), R12; \
	ADDQ       R14, R11; \
	ADDQ       R14, R12; \
	VMOVQ      (R11)(CX*1), X1; \
	VMOVQ      (R12)(CX*1), X2; \
	VPUNPCKLBW X2, X1, X1; \
	WIDEN      X1, Y1; \
	VPMADDWD   (BX), Y1, Y1; \
	VPADDD     Y1, Y0, Y0; \
	ADDQ       $32, BX; \
	ADDQ       $16, AX; \
	CMPQ       AX, R15; \
	JLT        tap; \
	VCVTDQ2PS    Y0, Y0; \
	VMULPS       (R9)(CX*4), Y0, Y0; \
	VMAXPS       Y12, Y0, Y0; \
	VMINPS       Y13, Y0, Y0; \
	VCVTPS2DQ    Y0, Y0; \
	VPADDD       Y14, Y0, Y0; \
	VEXTRACTI128 $1, Y0, X1; \
	VPACKSSDW    X1, X0, X0; \
	PACK         X0, X0, X0; \
	VMOVQ        X0, (DX)(CX*1); \
	ADDQ         $8, CX; \
	DECQ         R10; \
	JNZ          blk; \
	ADDQ         88(DI), SI; \
	ADDQ         80(DI), R14; \
	ADDQ         64(DI), DX; \
	DECQ         R13; \
	JNZ          pix; \
	VZEROUPPER; \
	RET

// func dwQU8AVX2(args *dwArgs)
TEXT ·dwQU8AVX2(SB), NOSPLIT, $0-8
	DWQ(VPMOVZXBW, VPACKUSWB)

// func dwQS8AVX2(args *dwArgs)
TEXT ·dwQS8AVX2(SB), NOSPLIT, $0-8
	DWQ(VPMOVSXBW, VPACKSSWB)

// float32: per pixel, 16 channels at a time (two FMA chains), then 8. Y12, Y13: the clamp. A
// 3x3 filter (9 taps) has its taps unrolled, FTAP2 and FTAP1 taking tap OFF/8 with its weights
// at W into accumulators A0 (A1): half the instructions of the loop, and the even and odd taps
// in two chains of FMAs, added at the end, where one chain of nine waited on the FMA's latency.
#define FTAP2(OFF, W, A0, A1) \
	MOVQ        OFF(SI), R11; \
	ADDQ        R14, R11; \
	VMOVUPS     (R11)(CX*1), Y1; \
	VMOVUPS     32(R11)(CX*1), Y3; \
	VFMADD231PS W(R12), Y1, A0; \
	VFMADD231PS W(R12)(R9*1), Y3, A1

#define FTAP1(OFF, W, A0) \
	MOVQ        OFF(SI), R11; \
	ADDQ        R14, R11; \
	VMOVUPS     (R11)(CX*1), Y1; \
	VFMADD231PS W(BX), Y1, A0

// func dwFFMA(args *dwArgs)
TEXT ·dwFFMA(SB), NOSPLIT, $0-8
	MOVQ         args+0(FP), DI
	MOVQ         0(DI), SI
	MOVQ         16(DI), DX
	MOVQ         72(DI), R14
	MOVQ         48(DI), R15
	SHLQ         $3, R15
	MOVQ         48(DI), R9
	SHLQ         $5, R9 // bytes of one block's weights: ntaps*8 floats
	VBROADCASTSS 96(DI), Y12
	VBROADCASTSS 100(DI), Y13
	MOVQ         24(DI), R8
	MOVQ         40(DI), R13

fpix:
	XORQ CX, CX
	MOVQ 8(DI), BX
	MOVQ 56(DI), R10

fblk2:
	CMPQ    R10, $2
	JLT     fblk1
	VMOVUPS (R8)(CX*1), Y0
	VMOVUPS 32(R8)(CX*1), Y2
	XORQ    AX, AX
	MOVQ    BX, R12
	CMPQ    R15, $72
	JNE     ftap2
	VXORPS  Y4, Y4, Y4
	VXORPS  Y5, Y5, Y5
	FTAP2(0, 0, Y0, Y2)
	FTAP2(8, 32, Y4, Y5)
	FTAP2(16, 64, Y0, Y2)
	FTAP2(24, 96, Y4, Y5)
	FTAP2(32, 128, Y0, Y2)
	FTAP2(40, 160, Y4, Y5)
	FTAP2(48, 192, Y0, Y2)
	FTAP2(56, 224, Y4, Y5)
	FTAP2(64, 256, Y0, Y2)
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y2, Y2
	JMP     fstore2

ftap2:
	MOVQ        (SI)(AX*1), R11
	ADDQ        R14, R11
	VMOVUPS     (R11)(CX*1), Y1
	VMOVUPS     32(R11)(CX*1), Y3
	VFMADD231PS (R12), Y1, Y0
	VFMADD231PS (R12)(R9*1), Y3, Y2
	ADDQ        $32, R12
	ADDQ        $8, AX
	CMPQ        AX, R15
	JLT         ftap2

fstore2:
	VMAXPS      Y0, Y12, Y0
	VMINPS      Y0, Y13, Y0
	VMAXPS      Y2, Y12, Y2
	VMINPS      Y2, Y13, Y2
	VMOVUPS     Y0, (DX)(CX*1)
	VMOVUPS     Y2, 32(DX)(CX*1)
	ADDQ        $64, CX
	LEAQ        (BX)(R9*2), BX
	SUBQ        $2, R10
	JMP         fblk2

fblk1:
	CMPQ    R10, $1
	JLT     fdone
	VMOVUPS (R8)(CX*1), Y0
	XORQ    AX, AX
	CMPQ    R15, $72
	JNE     ftap1
	VXORPS  Y4, Y4, Y4
	FTAP1(0, 0, Y0)
	FTAP1(8, 32, Y4)
	FTAP1(16, 64, Y0)
	FTAP1(24, 96, Y4)
	FTAP1(32, 128, Y0)
	FTAP1(40, 160, Y4)
	FTAP1(48, 192, Y0)
	FTAP1(56, 224, Y4)
	FTAP1(64, 256, Y0)
	VADDPS  Y4, Y0, Y0
	JMP     fstore1

ftap1:
	MOVQ        (SI)(AX*1), R11
	ADDQ        R14, R11
	VMOVUPS     (R11)(CX*1), Y1
	VFMADD231PS (BX), Y1, Y0
	ADDQ        $32, BX
	ADDQ        $8, AX
	CMPQ        AX, R15
	JLT         ftap1

fstore1:
	VMAXPS      Y0, Y12, Y0
	VMINPS      Y0, Y13, Y0
	VMOVUPS     Y0, (DX)(CX*1)

fdone:
	ADDQ 88(DI), SI
	ADDQ 80(DI), R14
	ADDQ 64(DI), DX
	DECQ R13
	JNZ  fpix
	VZEROUPPER
	RET

// float32, 8 channels, 3x3, pixels inside the image (dwF8x9 in depthwise_simd.go): the nine
// taps' weights stay in Y3-Y11 for the whole row, and a tap's address is one of its filter
// row's (AX, CX, R15: the pixel's base plus taps[3]·r) plus 0, 1 or 2 horizontal steps
// (taps[1], R9): no table to read, one load per tap. The sums are dwFFMA's, in its order.

// func dwF8x9FMA(args *dwArgs)
TEXT ·dwF8x9FMA(SB), NOSPLIT, $0-8
	MOVQ         args+0(FP), DI
	MOVQ         0(DI), SI
	MOVQ         8(SI), R9
	MOVQ         24(SI), R10
	MOVQ         8(DI), BX
	VMOVUPS      0(BX), Y3
	VMOVUPS      32(BX), Y4
	VMOVUPS      64(BX), Y5
	VMOVUPS      96(BX), Y6
	VMOVUPS      128(BX), Y7
	VMOVUPS      160(BX), Y8
	VMOVUPS      192(BX), Y9
	VMOVUPS      224(BX), Y10
	VMOVUPS      256(BX), Y11
	MOVQ         24(DI), R8
	VMOVUPS      (R8), Y2
	VBROADCASTSS 96(DI), Y12
	VBROADCASTSS 100(DI), Y13
	MOVQ         72(DI), AX
	MOVQ         80(DI), R12
	MOVQ         16(DI), DX
	MOVQ         64(DI), R14
	MOVQ         40(DI), R13

f8pix:
	LEAQ        (AX)(R10*1), CX
	LEAQ        (AX)(R10*2), R15
	VMOVUPS     (AX), Y1
	VFMADD213PS Y2, Y3, Y1
	VMULPS      (AX)(R9*1), Y4, Y0
	VFMADD231PS (AX)(R9*2), Y5, Y1
	VFMADD231PS (CX), Y6, Y0
	VFMADD231PS (CX)(R9*1), Y7, Y1
	VFMADD231PS (CX)(R9*2), Y8, Y0
	VFMADD231PS (R15), Y9, Y1
	VFMADD231PS (R15)(R9*1), Y10, Y0
	VFMADD231PS (R15)(R9*2), Y11, Y1
	VADDPS      Y0, Y1, Y1
	VMAXPS      Y1, Y12, Y1
	VMINPS      Y1, Y13, Y1
	VMOVUPS     Y1, (DX)
	ADDQ        R12, AX
	ADDQ        R14, DX
	DECQ        R13
	JNZ         f8pix
	VZEROUPPER
	RET
