//go:build !purego

#include "textflag.h"

// Float32 pooling of npix output pixels (poolArgs: dst 0, taps 8, ntaps 16, c 24, avg 32, lo 40,
// hi 44, count 48, npix 56, pixStep 64, dstStep 72; R12 the pixel's shift of the tap addresses),
// 8 channels a step with the taps in order, then clamped as FSTORE does. The
// max keeps a NaN from either side, as Go's max does: VMAXPS returns its second source when
// either is NaN, so the max taken both ways round and ORed is that NaN (its exponent bits stay
// all set, its quiet bit set) or, when neither is NaN, the max itself.

// func poolF32AVX2(args *poolArgs)
TEXT ·poolF32AVX2(SB), NOSPLIT, $0-8
	MOVQ         args+0(FP), DI
	MOVQ         0(DI), DX
	MOVQ         8(DI), SI
	MOVQ         16(DI), R9
	MOVQ         24(DI), R10
	MOVQ         32(DI), R11
	VBROADCASTSS 40(DI), Y14
	VBROADCASTSS 44(DI), Y15
	VBROADCASTSS 48(DI), Y12
	MOVQ         56(DI), R13
	MOVQ         64(DI), R14
	MOVQ         72(DI), R15
	XORQ         R12, R12
	SHLQ         $2, R10
	MOVL         $0xff7fffff, AX // -MaxFloat32, the max's start
	TESTQ        R11, R11
	JZ           pstart
	XORL         AX, AX          // 0, the sum's

pstart:
	MOVQ         AX, X13
	VPBROADCASTD X13, Y13

ppix:
	XORQ CX, CX

pblock:
	VMOVAPS Y13, Y0
	XORQ    BX, BX
	TESTQ   R11, R11
	JNZ     pavg

pmax:
	MOVQ    (SI)(BX*8), AX
	ADDQ    R12, AX
	VMOVUPS (AX)(CX*1), Y1
	VMAXPS  Y1, Y0, Y2
	VMAXPS  Y0, Y1, Y3
	VORPS   Y2, Y3, Y0
	INCQ    BX
	CMPQ    BX, R9
	JLT     pmax
	JMP     pstore

pavg:
	MOVQ   (SI)(BX*8), AX
	ADDQ   R12, AX
	VADDPS (AX)(CX*1), Y0, Y0
	INCQ   BX
	CMPQ   BX, R9
	JLT    pavg
	VDIVPS Y12, Y0, Y0

pstore:
	VMAXPS  Y0, Y14, Y0
	VMINPS  Y0, Y15, Y0
	VMOVUPS Y0, (DX)(CX*1)
	ADDQ    $32, CX
	CMPQ    CX, R10
	JGE     pdone
	LEAQ    32(CX), AX
	CMPQ    AX, R10
	JLE     pblock
	LEAQ    -32(R10), CX // the last 8 channels, overlapping the block before
	JMP     pblock

pdone:
	ADDQ R14, R12
	ADDQ R15, DX
	DECQ R13
	JNZ  ppix
	VZEROUPPER
	RET
