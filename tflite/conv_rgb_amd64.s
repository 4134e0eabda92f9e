//go:build !purego

#include "textflag.h"

// rgbConvAVX2 is the direct float32 convolution of conv_rgb.go: 14 output positions of one
// output row at a time, 8 output channels in Y0-Y13, one FMA per position and
// filter value with the input value broadcast. The positions' windows start 24 bytes apart
// (stride 2 over 3 channels), so position i's value is at a constant offset i*24 from the
// group's: no table of addresses. Each filter row is segLen bytes of contiguous input,
// rowStep bytes below the previous one. The sums are in the GEMM kernels' order, the bias
// and the clamp as FSTORE applies them.

#define RGBTAP(OFF, ACC) \
	VBROADCASTSS OFF(R8)(CX*1), Y15; \
	VFMADD231PS  Y14, Y15, ACC

#define RGBSTORE(ACC) \
	VADDPS  (CX), ACC, ACC; \
	VMAXPS  ACC, Y14, ACC; \
	VMINPS  ACC, Y15, ACC; \
	VMOVUPS ACC, (R11); \
	ADDQ    R10, R11

// func rgbConvAVX2(args *rgbArgs)
TEXT ·rgbConvAVX2(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	MOVQ 0(DI), AX   // the group's first window
	MOVQ 16(DI), DX  // its first output
	MOVQ 40(DI), R10 // bytes between outputs
	MOVQ 48(DI), R15 // groups left
	MOVQ 64(DI), SI  // bytes per filter row
	MOVQ 80(DI), R12 // bytes between the filter's rows

rgbgroup:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	MOVQ   AX, R8
	MOVQ   8(DI), BX
	MOVQ   56(DI), R9

rgbseg:
	XORQ CX, CX

rgbtap:
	VMOVUPS (BX), Y14
	RGBTAP(0, Y0)
	RGBTAP(24, Y1)
	RGBTAP(48, Y2)
	RGBTAP(72, Y3)
	RGBTAP(96, Y4)
	RGBTAP(120, Y5)
	RGBTAP(144, Y6)
	RGBTAP(168, Y7)
	RGBTAP(192, Y8)
	RGBTAP(216, Y9)
	RGBTAP(240, Y10)
	RGBTAP(264, Y11)
	RGBTAP(288, Y12)
	RGBTAP(312, Y13)
	ADDQ R12, BX
	ADDQ $4, CX
	CMPQ CX, SI
	JLT  rgbtap
	ADDQ 32(DI), R8
	DECQ R9
	JNZ  rgbseg

	MOVQ         24(DI), CX
	VBROADCASTSS 72(DI), Y14
	VBROADCASTSS 76(DI), Y15
	MOVQ         DX, R11
	RGBSTORE(Y0)
	RGBSTORE(Y1)
	RGBSTORE(Y2)
	RGBSTORE(Y3)
	RGBSTORE(Y4)
	RGBSTORE(Y5)
	RGBSTORE(Y6)
	RGBSTORE(Y7)
	RGBSTORE(Y8)
	RGBSTORE(Y9)
	RGBSTORE(Y10)
	RGBSTORE(Y11)
	RGBSTORE(Y12)
	RGBSTORE(Y13)
	ADDQ $336, AX
	MOVQ R11, DX
	DECQ R15
	JNZ  rgbgroup
	VZEROUPPER
	RET
