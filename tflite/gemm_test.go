package tflite

import (
	"math/rand/v2"
	"testing"
)

// TestKernelQExtremes drives the paired-lane 8-bit micro-kernels with the largest products at
// the deepest allowed dot product, where a lane sum reaches its int32 limit, and with mixed
// signs, and compares the accumulators with plain int64 sums.
func TestKernelQExtremes(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, k := range []int{1, 7, 1000, maxQuantDepth} {
		for pattern := 0; pattern < 4; pattern++ {
			const n = 6 // two panels, the second one partly padding
			a := make([]uint8, gemmMR*k)
			b := make([]uint8, n*k)
			for i := range a {
				switch pattern {
				case 0, 1:
					a[i] = 255
				default:
					a[i] = uint8(r.IntN(256))
				}
			}
			for i := range b {
				switch pattern {
				case 0:
					b[i] = 0 // b - zp = -255
				case 1:
					b[i] = 255 // b - zp = 0 for zp 255
				case 2:
					b[i] = uint8(255 * (i % 2))
				default:
					b[i] = uint8(r.IntN(256))
				}
			}
			zp := []int32{255}
			if pattern >= 2 {
				zp = []int32{int32(r.IntN(256))}
			}
			var p packedQ
			packQ(&p, b, n, k, zp)
			for panel := 0; panel < panels(n); panel++ {
				var acc [gemmMR * gemmNR]int32
				bp := p.data[panel*2*k : (panel+1)*2*k]
				kernelQx4(a[:k], a[k:2*k], a[2*k:3*k], a[3*k:], bp, &acc)
				var acc1 [gemmMR * gemmNR]int32
				kernelQx1(a[2*k:3*k], bp, &acc1)
				for i := 0; i < gemmMR; i++ {
					for j := 0; j < gemmNR; j++ {
						col := panel*gemmNR + j
						var want int64
						if col < n {
							for x := 0; x < k; x++ {
								want += int64(a[i*k+x]) * int64(int32(b[col*k+x])-zp[0])
							}
						}
						if int64(acc[i*gemmNR+j]) != want {
							t.Fatalf("k=%d pattern %d: acc[%d][%d] = %d, want %d", k, pattern, i, col, acc[i*gemmNR+j], want)
						}
						if i == 2 && int64(acc1[j]) != want {
							t.Fatalf("k=%d pattern %d: single-row acc[%d] = %d, want %d", k, pattern, col, acc1[j], want)
						}
					}
				}
			}
			// The column sums used for the input zero point.
			for j := 0; j < n; j++ {
				var want int64
				for x := 0; x < k; x++ {
					want += int64(int32(b[j*k+x]) - zp[0])
				}
				if int64(p.sum[j]) != want {
					t.Fatalf("k=%d pattern %d: sum[%d] = %d, want %d", k, pattern, j, p.sum[j], want)
				}
			}
		}
	}
}

func TestQuantDepthLimit(t *testing.T) {
	in := qtensor(UInt8, []int{1, 1, 1, maxQuantDepth + 1}, []float32{0.1}, []int64{0}, 0)
	f := qtensor(UInt8, []int{1, 1, 1, maxQuantDepth + 1}, []float32{0.1}, []int64{0}, 0)
	out := qtensor(UInt8, nil, []float32{0.1}, []int64{0}, 0)
	if err := runOp(t, "CONV_2D", newConv2D, nil, []*Tensor{in, f}, []*Tensor{out}); err == nil {
		t.Error("CONV_2D: no error for a dot product too deep for int32 accumulators")
	}
	in2 := qtensor(UInt8, []int{1, maxQuantDepth + 1}, []float32{0.1}, []int64{0}, 0)
	f2 := qtensor(UInt8, []int{1, maxQuantDepth + 1}, []float32{0.1}, []int64{0}, 0)
	if err := runOp(t, "FULLY_CONNECTED", newFullyConnected, nil, []*Tensor{in2, f2}, []*Tensor{out}); err == nil {
		t.Error("FULLY_CONNECTED: no error for a dot product too deep for int32 accumulators")
	}
}
