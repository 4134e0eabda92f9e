//go:build !purego

#include "textflag.h"

// GEMM micro-kernels for amd64 with AVX2 and FMA. See gemm_simd.go for the layouts and
// qgemmArgs/fgemmArgs for the argument block (offsets below).

// 8-bit: 6 rows of A (int16) x one panel of 16 columns of B (bytes, depth pairs adjacent), in
// Y0-Y11 (row r: Y(2r) columns 0-7, Y(2r+1) columns 8-15). VPMADDWD multiplies the int16 pair
// (a[k], a[k+1]) broadcast to every lane by the pairs (b[k][j], b[k+1][j]) and adds the two
// products into an int32 lane: exact, since |a|, |b| <= 255.

#define QROW(AR, ACC0, ACC1) \
	VPBROADCASTD (AR)(CX*1), Y14; \
	VPMADDWD     Y12, Y14, Y15; \
	VPADDD       Y15, ACC0, ACC0; \
	VPMADDWD     Y13, Y14, Y15; \
	VPADDD       Y15, ACC1, ACC1

// QSTORE requantizes one row: + row correction + column offset, to float32, times the column
// scale, clamp (Y12, Y13), round half to even (the default MXCSR mode), + zero point (Y14), and
// packs 16 values to bytes at AX.
#define QSTORE(R, ACC0, ACC1, XACC0, PACK) \
	VPBROADCASTD (128+4*R)(DI), Y15; \
	VPADDD       Y15, ACC0, ACC0; \
	VPADDD       Y15, ACC1, ACC1; \
	VPADDD       (SI), ACC0, ACC0; \
	VPADDD       32(SI), ACC1, ACC1; \
	VCVTDQ2PS    ACC0, ACC0; \
	VCVTDQ2PS    ACC1, ACC1; \
	VMULPS       (R14), ACC0, ACC0; \
	VMULPS       32(R14), ACC1, ACC1; \
	VMAXPS       Y12, ACC0, ACC0; \
	VMAXPS       Y12, ACC1, ACC1; \
	VMINPS       Y13, ACC0, ACC0; \
	VMINPS       Y13, ACC1, ACC1; \
	VCVTPS2DQ    ACC0, ACC0; \
	VCVTPS2DQ    ACC1, ACC1; \
	VPADDD       Y14, ACC0, ACC0; \
	VPADDD       Y14, ACC1, ACC1; \
	VPACKSSDW    ACC1, ACC0, ACC0; \
	VPERMQ       $0xD8, ACC0, ACC0; \
	VEXTRACTI128 $1, ACC0, X15; \
	PACK         X15, XACC0, XACC0; \
	VMOVDQU      XACC0, (AX)

#define QGEMM(WIDEN, PACK) \
	MOVQ args+0(FP), DI; \
	MOVQ 0(DI), R8; \
	MOVQ 8(DI), R9; \
	MOVQ 16(DI), R10; \
	MOVQ 24(DI), R11; \
	MOVQ 32(DI), R12; \
	MOVQ 40(DI), R13; \
	MOVQ 64(DI), BX; \
	MOVQ 72(DI), DX; \
	MOVQ 80(DI), SI; \
	MOVQ 88(DI), R14; \
	MOVQ 96(DI), R15; \
	SHLQ $1, R15; \
panel: \
	VPXOR Y0, Y0, Y0; \
	VPXOR Y1, Y1, Y1; \
	VPXOR Y2, Y2, Y2; \
	VPXOR Y3, Y3, Y3; \
	VPXOR Y4, Y4, Y4; \
	VPXOR Y5, Y5, Y5; \
	VPXOR Y6, Y6, Y6; \
	VPXOR Y7, Y7, Y7; \
	VPXOR Y8, Y8, Y8; \
	VPXOR Y9, Y9, Y9; \
	VPXOR Y10, Y10, Y10; \
	VPXOR Y11, Y11, Y11; \
	XORQ  CX, CX; \
loop: \
	WIDEN (BX), Y12; \
	WIDEN 16(BX), Y13; \
	QROW(R8, Y0, Y1); \
	QROW(R9, Y2, Y3); \
	QROW(R10, Y4, Y5); \
	QROW(R11, Y6, Y7); \
	QROW(R12, Y8, Y9); \
	QROW(R13, Y10, Y11); \
	ADDQ $32, BX; \
	ADDQ $4, CX; \
	CMPQ CX, R15; \
	JLT  loop; \
	VBROADCASTSS 160(DI), Y12; \
	VBROADCASTSS 164(DI), Y13; \
	VPBROADCASTD 168(DI), Y14; \
	MOVQ DX, AX; \
	QSTORE(0, Y0, Y1, X0, PACK); \
	CMPQ 120(DI), $2; \
	JLT  next; \
	ADDQ 112(DI), AX; \
	QSTORE(1, Y2, Y3, X2, PACK); \
	CMPQ 120(DI), $3; \
	JLT  next; \
	ADDQ 112(DI), AX; \
	QSTORE(2, Y4, Y5, X4, PACK); \
	CMPQ 120(DI), $4; \
	JLT  next; \
	ADDQ 112(DI), AX; \
	QSTORE(3, Y6, Y7, X6, PACK); \
	CMPQ 120(DI), $5; \
	JLT  next; \
	ADDQ 112(DI), AX; \
	QSTORE(4, Y8, Y9, X8, PACK); \
	CMPQ 120(DI), $6; \
	JLT  next; \
	ADDQ 112(DI), AX; \
	QSTORE(5, Y10, Y11, X10, PACK); \
next: \
	ADDQ $16, DX; \
	ADDQ $64, SI; \
	ADDQ $64, R14; \
	DECQ 104(DI); \
	JNZ  panel; \
	VZEROUPPER; \
	RET

// func qgemmU8AVX2(args *qgemmArgs)
TEXT ·qgemmU8AVX2(SB), NOSPLIT, $0-8
	QGEMM(VPMOVZXBW, VPACKUSWB)

// func qgemmS8AVX2(args *qgemmArgs)
TEXT ·qgemmS8AVX2(SB), NOSPLIT, $0-8
	QGEMM(VPMOVSXBW, VPACKSSWB)

// float32: 6 rows x 16 columns in Y0-Y11, one FMA per row and 8 columns per depth.

#define FROW(AR, ACC0, ACC1) \
	VBROADCASTSS (AR)(CX*1), Y14; \
	VFMADD231PS  Y12, Y14, ACC0; \
	VFMADD231PS  Y13, Y14, ACC1

// FSTAGE loads the output stage of a panel for FSTORE: the clamp bounds lo and hi of fgemmArgs
// into Y12, Y13, its 16 bias values (SI) into Y14, Y15, and its first output row (DX) into AX.
#define FSTAGE \
	VBROADCASTSS 120(DI), Y12; \
	VBROADCASTSS 124(DI), Y13; \
	VMOVUPS      (SI), Y14; \
	VMOVUPS      32(SI), Y15; \
	MOVQ         DX, AX

// FSTORE adds the bias (Y14, Y15 hold it), clamps to [lo, hi] (Y12, Y13) as Go's
// min(max(v, lo), hi) does, NaN included, and stores 16 floats at AX.
#define FSTORE(ACC0, ACC1) \
	VADDPS  Y14, ACC0, ACC0; \
	VADDPS  Y15, ACC1, ACC1; \
	VMAXPS  ACC0, Y12, ACC0; \
	VMAXPS  ACC1, Y12, ACC1; \
	VMINPS  ACC0, Y13, ACC0; \
	VMINPS  ACC1, Y13, ACC1; \
	VMOVUPS ACC0, (AX); \
	VMOVUPS ACC1, 32(AX)

// SEGSTART readies a panel's walk over the runs of each row (fgemmArgs.segs, .ind): the runs
// left and the next run's row addresses, kept in the argument block (every register is taken).
#define SEGSTART \
	MOVQ 128(DI), CX; \
	MOVQ CX, 144(DI); \
	MOVQ 136(DI), CX; \
	MOVQ CX, 152(DI)

// func fgemmFMA(args *fgemmArgs)
TEXT ·fgemmFMA(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	MOVQ 64(DI), BX
	MOVQ 72(DI), DX
	MOVQ 80(DI), SI
	MOVQ 88(DI), R15
	SHLQ $2, R15

fpanel:
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
	SEGSTART

fseg:
	MOVQ   152(DI), CX
	MOVQ   0(CX), R8
	MOVQ   8(CX), R9
	MOVQ   16(CX), R10
	MOVQ   24(CX), R11
	MOVQ   32(CX), R12
	MOVQ   40(CX), R13
	ADDQ   $48, 152(DI)
	XORQ   CX, CX

floop:
	VMOVUPS (BX), Y12
	VMOVUPS 32(BX), Y13
	FROW(R8, Y0, Y1)
	FROW(R9, Y2, Y3)
	FROW(R10, Y4, Y5)
	FROW(R11, Y6, Y7)
	FROW(R12, Y8, Y9)
	FROW(R13, Y10, Y11)
	ADDQ $64, BX
	ADDQ $4, CX
	CMPQ CX, R15
	JLT  floop
	DECQ 144(DI)
	JNZ  fseg

	FSTAGE
	FSTORE(Y0, Y1)
	CMPQ 112(DI), $2
	JLT  fnext
	ADDQ 104(DI), AX
	FSTORE(Y2, Y3)
	CMPQ 112(DI), $3
	JLT  fnext
	ADDQ 104(DI), AX
	FSTORE(Y4, Y5)
	CMPQ 112(DI), $4
	JLT  fnext
	ADDQ 104(DI), AX
	FSTORE(Y6, Y7)
	CMPQ 112(DI), $5
	JLT  fnext
	ADDQ 104(DI), AX
	FSTORE(Y8, Y9)
	CMPQ 112(DI), $6
	JLT  fnext
	ADDQ 104(DI), AX
	FSTORE(Y10, Y11)

fnext:
	ADDQ $64, DX
	ADDQ $64, SI
	DECQ 96(DI)
	JNZ  fpanel
	VZEROUPPER
	RET

// func fgemmFMA1(args *fgemmArgs): one row of A (a batch-1 FULLY_CONNECTED, a convolution of one
// position), for any float kernel with 16-column panels. The 6-row kernel would compute six
// copies of the row; here two depths per step go to two pairs of accumulators, added at the end.
TEXT ·fgemmFMA1(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	MOVQ 0(DI), R8
	MOVQ 64(DI), BX
	MOVQ 72(DI), DX
	MOVQ 80(DI), SI
	MOVQ 88(DI), R15
	SHLQ $2, R15
	MOVQ R15, R14
	ANDQ $-8, R14

f1panel:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	XORQ   CX, CX

f1pair:
	CMPQ         CX, R14
	JGE          f1tail
	VBROADCASTSS (R8)(CX*1), Y12
	VBROADCASTSS 4(R8)(CX*1), Y13
	VFMADD231PS  (BX), Y12, Y0
	VFMADD231PS  32(BX), Y12, Y1
	VFMADD231PS  64(BX), Y13, Y2
	VFMADD231PS  96(BX), Y13, Y3
	ADDQ         $128, BX
	ADDQ         $8, CX
	JMP          f1pair

f1tail:
	CMPQ         CX, R15
	JGE          f1store
	VBROADCASTSS (R8)(CX*1), Y12
	VFMADD231PS  (BX), Y12, Y0
	VFMADD231PS  32(BX), Y12, Y1
	ADDQ         $64, BX

f1store:
	VADDPS       Y2, Y0, Y0
	VADDPS       Y3, Y1, Y1
	FSTAGE
	FSTORE(Y0, Y1)
	ADDQ         $64, DX
	ADDQ         $64, SI
	DECQ         96(DI)
	JNZ          f1panel
	VZEROUPPER
	RET

// Element-wise float32 (see ewArgs): 8 values per step, clamped as FSTORE does.
#define EWSTORE \
	VMAXPS  Y0, Y14, Y0; \
	VMINPS  Y0, Y15, Y0; \
	VMOVUPS Y0, (DX); \
	ADDQ    $32, SI; \
	ADDQ    $32, BX; \
	ADDQ    $32, DX; \
	DECQ    CX

// EWCONST broadcasts the 32-bit constant C into all lanes of Y.
#define EWCONST(C, Y) \
	MOVL         C, AX; \
	MOVQ         AX, X0; \
	VPBROADCASTD X0, Y

// func ewF32AVX2(args *ewArgs)
TEXT ·ewF32AVX2(SB), NOSPLIT, $0-8
	MOVQ         args+0(FP), DI
	MOVQ         0(DI), DX
	MOVQ         8(DI), SI
	MOVQ         16(DI), BX
	MOVQ         24(DI), CX
	MOVQ         32(DI), AX
	VBROADCASTSS 40(DI), Y14
	VBROADCASTSS 44(DI), Y15
	SHRQ         $3, CX
	JZ           ewdone
	CMPQ         AX, $0
	JEQ          ewadd
	CMPQ         AX, $1
	JEQ          ewsub
	CMPQ         AX, $2
	JEQ          ewmul
	CMPQ         AX, $4
	JEQ          ewlogistic
	CMPQ         AX, $5
	JEQ          ewexp

ewclamp:
	VMOVUPS (SI), Y0
	EWSTORE
	JNZ     ewclamp
	JMP     ewdone

ewadd:
	VMOVUPS (SI), Y0
	VADDPS  (BX), Y0, Y0
	EWSTORE
	JNZ     ewadd
	JMP     ewdone

ewsub:
	VMOVUPS (SI), Y0
	VSUBPS  (BX), Y0, Y0
	EWSTORE
	JNZ     ewsub
	JMP     ewdone

ewmul:
	VMOVUPS (SI), Y0
	VMULPS  (BX), Y0, Y0
	EWSTORE
	JNZ     ewmul

	JMP     ewdone

// LOGISTIC (ewLogistic): with z = -|x| (at least -87, where 2^n is still normal),
// e^z = 2^n·e^t for n = round(z·log2 e) and t = z - n·ln 2 (ln 2 in two parts), e^t by its
// Taylor polynomial of degree 6 (|t| <= ln2/2: error under 4e-8), then e^z/(1+e^z), or 1 minus
// it for x >= 0. NaN stays NaN.
ewlogistic:
	EWCONST($0x80000000, Y6)
	EWCONST($0xc2ae0000, Y7)  // -87
	EWCONST($0x3fb8aa3b, Y8)  // log2 e
	EWCONST($0x3f317200, Y9)  // ln 2, high part
	EWCONST($0x35bfbe8e, Y10) // ln 2, low part
	EWCONST($0x3f800000, Y11) // 1
	EWCONST($0x3ab60b61, Y12) // 1/720
	EWCONST($0x3c088889, Y13) // 1/120
	EWCONST($0x3d2aaaab, Y14) // 1/24
	EWCONST($0x3e2aaaab, Y15) // 1/6

ewlogloop:
	VMOVUPS      (SI), Y0
	VORPS        Y6, Y0, Y1
	VMAXPS       Y1, Y7, Y1
	VMULPS       Y8, Y1, Y2
	VROUNDPS     $0, Y2, Y2
	VMOVAPS      Y1, Y3
	VFNMADD231PS Y9, Y2, Y3
	VFNMADD231PS Y10, Y2, Y3
	VMOVAPS      Y12, Y4
	VFMADD213PS  Y13, Y3, Y4
	VFMADD213PS  Y14, Y3, Y4
	VFMADD213PS  Y15, Y3, Y4
	MOVL         $0x3f000000, AX // 1/2
	MOVQ         AX, X5
	VPBROADCASTD X5, Y5
	VFMADD213PS  Y5, Y3, Y4
	VFMADD213PS  Y11, Y3, Y4
	VFMADD213PS  Y11, Y3, Y4
	VCVTPS2DQ    Y2, Y2
	VPSLLD       $23, Y2, Y2
	VPADDD       Y11, Y2, Y2     // 2^n: n added to the exponent of 1
	VMULPS       Y2, Y4, Y4
	VADDPS       Y11, Y4, Y5
	VDIVPS       Y5, Y4, Y4
	VSUBPS       Y4, Y11, Y5
	VBLENDVPS    Y0, Y4, Y5, Y0  // x's sign set: e^z/(1+e^z), else 1 minus it
	VMOVUPS      Y0, (DX)
	ADDQ         $32, SI
	ADDQ         $32, DX
	DECQ         CX
	JNZ          ewlogloop
	JMP          ewdone

// EXP (ewExp): e^z for z = (a - lo)·hi at most 0 (SOFTMAX's exponentials: lo the row's
// maximum, hi beta), as LOGISTIC computes e^z, and 0 where z is below -87 (e^z is then under
// float32's smallest normal). NaN stays NaN.
ewexp:
	EWCONST($0xc2ae0000, Y6)  // -87
	EWCONST($0x3fb8aa3b, Y7)  // log2 e
	EWCONST($0x3f317200, Y8)  // ln 2, high part
	EWCONST($0x35bfbe8e, Y9)  // ln 2, low part
	EWCONST($0x3f800000, Y10) // 1
	EWCONST($0x3ab60b61, Y11) // 1/720
	EWCONST($0x3c088889, Y12) // 1/120
	EWCONST($0x3d2aaaab, Y13) // 1/24
	EWCONST($0x3e2aaaab, Y14) // 1/6
	EWCONST($0x3f000000, Y15) // 1/2

ewexploop:
	VMOVUPS      (SI), Y0
	VBROADCASTSS 40(DI), Y2
	VSUBPS       Y2, Y0, Y0
	VBROADCASTSS 44(DI), Y2
	VMULPS       Y2, Y0, Y0
	VCMPPS       $1, Y6, Y0, Y5 // z < -87
	VMAXPS       Y0, Y6, Y1
	VMULPS       Y7, Y1, Y2
	VROUNDPS     $0, Y2, Y2
	VMOVAPS      Y1, Y3
	VFNMADD231PS Y8, Y2, Y3
	VFNMADD231PS Y9, Y2, Y3
	VMOVAPS      Y11, Y4
	VFMADD213PS  Y12, Y3, Y4
	VFMADD213PS  Y13, Y3, Y4
	VFMADD213PS  Y14, Y3, Y4
	VFMADD213PS  Y15, Y3, Y4
	VFMADD213PS  Y10, Y3, Y4
	VFMADD213PS  Y10, Y3, Y4
	VCVTPS2DQ    Y2, Y2
	VPSLLD       $23, Y2, Y2
	VPADDD       Y10, Y2, Y2
	VMULPS       Y2, Y4, Y4
	VANDNPS      Y4, Y5, Y4
	VMOVUPS      Y4, (DX)
	ADDQ         $32, SI
	ADDQ         $32, DX
	DECQ         CX
	JNZ          ewexploop

ewdone:
	VZEROUPPER
	RET

// float32 with AVX-512: 8 rows x 16 columns in Z0-Z7, one FMA per row and depth with the A
// value broadcast from memory (embedded broadcast), the B row of the panel in Z8.

#define ZROW(AR, ACC) \
	VFMADD231PS.BCST (AR)(CX*1), Z8, ACC

// ZSTORE adds the bias (Z9), clamps to [lo, hi] (Z10, Z11) as FSTORE does, stores the columns
// of K1 (fgemmArgs.mask: all 16 but in a last, partial panel) at R8.
#define ZSTORE(ACC) \
	VADDPS  Z9, ACC, ACC; \
	VMAXPS  ACC, Z10, ACC; \
	VMINPS  ACC, Z11, ACC; \
	VMOVUPS ACC, K1, (R8)

// func fgemmAVX512(args *fgemmArgs)
TEXT ·fgemmAVX512(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	KMOVW 160(DI), K1
	MOVQ 64(DI), BX
	MOVQ 72(DI), DX
	MOVQ 80(DI), SI
	MOVQ 88(DI), R15
	SHLQ $2, R15

zpanel:
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	SEGSTART

zseg:
	MOVQ   152(DI), CX
	MOVQ   0(CX), R8
	MOVQ   8(CX), R9
	MOVQ   16(CX), R10
	MOVQ   24(CX), R11
	MOVQ   32(CX), R12
	MOVQ   40(CX), R13
	MOVQ   48(CX), R14
	MOVQ   56(CX), AX
	ADDQ   $64, 152(DI)
	XORQ   CX, CX

zloop:
	VMOVUPS (BX), Z8
	ZROW(R8, Z0)
	ZROW(R9, Z1)
	ZROW(R10, Z2)
	ZROW(R11, Z3)
	ZROW(R12, Z4)
	ZROW(R13, Z5)
	ZROW(R14, Z6)
	ZROW(AX, Z7)
	ADDQ $64, BX
	ADDQ $4, CX
	CMPQ CX, R15
	JLT  zloop
	DECQ 144(DI)
	JNZ  zseg

	VBROADCASTSS 120(DI), Z10
	VBROADCASTSS 124(DI), Z11
	VMOVUPS      (SI), Z9
	MOVQ         DX, R8
	ZSTORE(Z0)
	CMPQ 112(DI), $2
	JLT  znext
	ADDQ 104(DI), R8
	ZSTORE(Z1)
	CMPQ 112(DI), $3
	JLT  znext
	ADDQ 104(DI), R8
	ZSTORE(Z2)
	CMPQ 112(DI), $4
	JLT  znext
	ADDQ 104(DI), R8
	ZSTORE(Z3)
	CMPQ 112(DI), $5
	JLT  znext
	ADDQ 104(DI), R8
	ZSTORE(Z4)
	CMPQ 112(DI), $6
	JLT  znext
	ADDQ 104(DI), R8
	ZSTORE(Z5)
	CMPQ 112(DI), $7
	JLT  znext
	ADDQ 104(DI), R8
	ZSTORE(Z6)
	CMPQ 112(DI), $8
	JLT  znext
	ADDQ 104(DI), R8
	ZSTORE(Z7)

znext:
	ADDQ $64, DX
	ADDQ $64, SI
	DECQ 96(DI)
	JNZ  zpanel
	VZEROUPPER
	RET

// fgemmAVX512Y is fgemmAVX512 on the first 8 columns of each panel, in Y registers: for a last
// panel of at most 8 columns (MobileNet's first layer has 8, BlazeFace's 24 = 16 + 8). A ZMM
// FMA does no more work per cycle than two YMM ones where the 512-bit units are split in two
// (AMD Zen 4), so the Z kernel spent half its time on columns it masked off. The panel layout
// and the strides are the Z kernel's: B rows 16 floats apart, the bias and C panels 16 columns.

#define YROW(AR, ACC) \
	VFMADD231PS.BCST (AR)(CX*1), Y8, ACC

#define YSTORE(ACC) \
	VADDPS  Y9, ACC, ACC; \
	VMAXPS  ACC, Y10, ACC; \
	VMINPS  ACC, Y11, ACC; \
	VMOVUPS ACC, K1, (R8)

// func fgemmAVX512Y(args *fgemmArgs)
TEXT ·fgemmAVX512Y(SB), NOSPLIT, $0-8
	MOVQ args+0(FP), DI
	KMOVW 160(DI), K1
	MOVQ 64(DI), BX
	MOVQ 72(DI), DX
	MOVQ 80(DI), SI
	MOVQ 88(DI), R15
	SHLQ $2, R15

hpanel:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	SEGSTART

hseg:
	MOVQ   152(DI), CX
	MOVQ   0(CX), R8
	MOVQ   8(CX), R9
	MOVQ   16(CX), R10
	MOVQ   24(CX), R11
	MOVQ   32(CX), R12
	MOVQ   40(CX), R13
	MOVQ   48(CX), R14
	MOVQ   56(CX), AX
	ADDQ   $64, 152(DI)
	XORQ   CX, CX

hloop:
	VMOVUPS (BX), Y8
	YROW(R8, Y0)
	YROW(R9, Y1)
	YROW(R10, Y2)
	YROW(R11, Y3)
	YROW(R12, Y4)
	YROW(R13, Y5)
	YROW(R14, Y6)
	YROW(AX, Y7)
	ADDQ $64, BX
	ADDQ $4, CX
	CMPQ CX, R15
	JLT  hloop
	DECQ 144(DI)
	JNZ  hseg

	VBROADCASTSS 120(DI), Y10
	VBROADCASTSS 124(DI), Y11
	VMOVUPS      (SI), Y9
	MOVQ         DX, R8
	YSTORE(Y0)
	CMPQ 112(DI), $2
	JLT  hnext
	ADDQ 104(DI), R8
	YSTORE(Y1)
	CMPQ 112(DI), $3
	JLT  hnext
	ADDQ 104(DI), R8
	YSTORE(Y2)
	CMPQ 112(DI), $4
	JLT  hnext
	ADDQ 104(DI), R8
	YSTORE(Y3)
	CMPQ 112(DI), $5
	JLT  hnext
	ADDQ 104(DI), R8
	YSTORE(Y4)
	CMPQ 112(DI), $6
	JLT  hnext
	ADDQ 104(DI), R8
	YSTORE(Y5)
	CMPQ 112(DI), $7
	JLT  hnext
	ADDQ 104(DI), R8
	YSTORE(Y6)
	CMPQ 112(DI), $8
	JLT  hnext
	ADDQ 104(DI), R8
	YSTORE(Y7)

hnext:
	ADDQ $64, DX
	ADDQ $64, SI
	DECQ 96(DI)
	JNZ  hpanel
	VZEROUPPER
	RET

// Widening 8-bit rows of A into the int16 tiles (setRow, tilePut): 16 values a step,
// VPMOVZXBW or VPMOVSXBW, and their sum by VPMADDWD with ones into 8 int32 lanes. n is a
// positive multiple of 16.
#define WIDEN(name, MOVX) \
TEXT name(SB), NOSPLIT, $0-28 \
	MOVQ dst+0(FP), DI \
	MOVQ src+8(FP), SI \
	MOVQ n+16(FP), CX \
	VPXOR Y2, Y2, Y2 \
	MOVL $0x00010001, AX \
	MOVQ AX, X3 \
	VPBROADCASTD X3, Y3 \
widenloop: \
	MOVX (SI), Y0 \
	VMOVDQU Y0, (DI) \
	VPMADDWD Y3, Y0, Y1 \
	VPADDD Y1, Y2, Y2 \
	ADDQ $16, SI \
	ADDQ $32, DI \
	SUBQ $16, CX \
	JNZ widenloop \
	VEXTRACTI128 $1, Y2, X1 \
	VPADDD X1, X2, X2 \
	VPSHUFD $0x4e, X2, X1 \
	VPADDD X1, X2, X2 \
	VPSHUFD $0xb1, X2, X1 \
	VPADDD X1, X2, X2 \
	MOVQ X2, AX \
	MOVL AX, ret+24(FP) \
	VZEROUPPER \
	RET

// func widenU8AVX2(dst *int16, src unsafe.Pointer, n int) int32
WIDEN(·widenU8AVX2, VPMOVZXBW)

// func widenS8AVX2(dst *int16, src unsafe.Pointer, n int) int32
WIDEN(·widenS8AVX2, VPMOVSXBW)

// The vertical lerp of the 8-bit RESIZE_BILINEAR (bilinear8), eight outputs a step:
// d = (t<<11 + (b-t)·av + 1<<21) >> 22 on int32 lanes, packed to 16 and then 8 bits with
// saturation, which changes nothing: every result is a value of the 8-bit type. n is a positive
// multiple of 8.
#define LERPV(name, PACK) \
TEXT name(SB), NOSPLIT, $0-36 \
	MOVQ dst+0(FP), DI \
	MOVQ top+8(FP), SI \
	MOVQ bot+16(FP), DX \
	MOVQ n+24(FP), CX \
	MOVL av+32(FP), AX \
	MOVQ AX, X3 \
	VPBROADCASTD X3, Y3 \
	MOVL $0x200000, AX \
	MOVQ AX, X4 \
	VPBROADCASTD X4, Y4 \
lerpvloop: \
	VMOVDQU (SI), Y0 \
	VMOVDQU (DX), Y1 \
	VPSUBD Y0, Y1, Y1 \
	VPMULLD Y3, Y1, Y1 \
	VPSLLD $11, Y0, Y0 \
	VPADDD Y1, Y0, Y0 \
	VPADDD Y4, Y0, Y0 \
	VPSRAD $22, Y0, Y0 \
	VEXTRACTI128 $1, Y0, X1 \
	VPACKSSDW X1, X0, X0 \
	PACK X0, X0, X0 \
	MOVQ X0, (DI) \
	ADDQ $32, SI \
	ADDQ $32, DX \
	ADDQ $8, DI \
	SUBQ $8, CX \
	JNZ lerpvloop \
	VZEROUPPER \
	RET

// func lerpVU8AVX2(dst unsafe.Pointer, top, bot *int32, n int, av int32)
LERPV(·lerpVU8AVX2, VPACKUSWB)

// func lerpVS8AVX2(dst unsafe.Pointer, top, bot *int32, n int, av int32)
LERPV(·lerpVS8AVX2, VPACKSSWB)
