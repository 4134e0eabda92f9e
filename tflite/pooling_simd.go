package tflite

import (
	"math"
	"unsafe"
)

// The SIMD path of float32 MAX_POOL_2D and AVERAGE_POOL_2D: over every channel 8 at a time,
// with the pointers of a pixel's taps inside the image (a 2x2 max pool, BlazeFace's, has 4);
// one call of the kernel takes a run of pixels whose windows are whole, stepping the pointers. The kernel gives the portable loop's result: the same
// start value (-MaxFloat32 or 0), the taps in the same order, the average divided by the count,
// NaNs kept; only a zero's sign may differ on amd64, as in the element-wise kernels.

// poolMaxTaps is the largest window the SIMD path takes (a 7x7 average pool has 49 taps); larger
// ones stay on the portable loop.
const poolMaxTaps = 64

// poolArgs is what a pooling kernel reads (the assembly relies on this layout).
type poolArgs struct {
	dst   unsafe.Pointer  // the output pixel's channels
	taps  *unsafe.Pointer // ntaps pointers to input pixels
	ntaps int             // at least 1
	c     int             // channels, at least 8; a last partial block of 8 overlaps the one before
	avg   int             // 1: average (sum, then divide by count); 0: max
	lo    float32         // activation clamp
	hi    float32
	count float32
	// npix pixels in a row: pixel i reads taps[t] + i*pixStep and writes dst + i*dstStep.
	npix             int
	pixStep, dstStep uintptr
}

// simdPoolF32 reports whether rowsF32SIMD can compute this pool.
func (k *pool2D) simdPoolF32() bool {
	return simdEW != nil && k.c >= 8 && k.filterH*k.filterW <= poolMaxTaps
}

// rowsF32SIMD is rowsF32 with the SIMD kernel: one call per run of output pixels whose windows
// are whole inside the image (the kernel steps their tap addresses), one per pixel elsewhere.
func (k *pool2D) rowsF32SIMD(in, out []float32, r0, r1 int) {
	var tp [poolMaxTaps]unsafe.Pointer
	args := poolArgs{taps: &tp[0], c: k.c, lo: k.lo, hi: k.hi,
		pixStep: uintptr(k.wx.stride * k.c * 4), dstStep: uintptr(k.c * 4)}
	if k.average {
		args.avg = 1
	}
	for r := r0; r < r1; r++ {
		b, oy := r/k.wy.out, r%k.wy.out
		fy0, fy1 := taps(&k.wy, oy)
		iy0 := oy*k.wy.stride - k.wy.pad
		for ox := 0; ox < k.wx.out; {
			fx0, fx1 := taps(&k.wx, ox)
			npix := 1
			if fx0 == 0 && fx1 == k.filterW {
				for ox+npix < k.wx.out {
					if f0, f1 := taps(&k.wx, ox+npix); f0 != 0 || f1 != k.filterW {
						break
					}
					npix++
				}
			}
			ix0 := ox*k.wx.stride - k.wx.pad
			nt := 0
			for fy := fy0; fy < fy1; fy++ {
				row := ((b*k.inH+iy0+fy)*k.inW + ix0) * k.c
				for fx := fx0; fx < fx1; fx++ {
					tp[nt] = unsafe.Pointer(&in[row+fx*k.c : row+(fx+1)*k.c][0])
					nt++
				}
			}
			dst := out[((b*k.wy.out+oy)*k.wx.out+ox)*k.c:][:npix*k.c]
			if nt == 0 { // no tap inside the image: the start value, clamped
				v := float32(-math.MaxFloat32)
				if k.average {
					v = 0
				}
				fill(dst, min(max(v, k.lo), k.hi))
			} else {
				args.dst, args.ntaps, args.count, args.npix = unsafe.Pointer(&dst[0]), nt, float32(nt), npix
				runPool(&args)
			}
			ox += npix
		}
	}
}
