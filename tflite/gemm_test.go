package tflite

import (
	"bytes"
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

// TestPatch3x3RGBBytes checks the word-wise copy of a 3x3 RGB patch into a 32-byte tile row
// against the byte-by-byte one: the same 27 values, 5 zeros and sum, for uint8 and int8, with
// random and extreme bytes, and the words left as they were around the row.
func TestPatch3x3RGBBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	check := func(t *testing.T, name string, in []byte, p, dy int, got, want func(d *[32]byte) int32) {
		t.Helper()
		var tile [34]byte
		for i := range tile {
			tile[i] = 0xa5
		}
		var ref [32]byte
		ws := want(&ref)
		gs := got((*[32]byte)(tile[1:33]))
		if gs != ws || !bytes.Equal(tile[1:33], ref[:]) || tile[0] != 0xa5 || tile[33] != 0xa5 {
			t.Fatalf("%s p=%d dy=%d: sum %d, row %v; want %d, %v", name, p, dy, gs, tile, ws, ref)
		}
	}
	for trial := range 2000 {
		w := 3 + r.IntN(20)
		dy := w * 3
		in := make([]byte, dy*4)
		for i := range in {
			switch trial % 4 {
			case 0:
				in[i] = 255
			case 1:
				in[i] = 0
			case 2:
				in[i] = 128
			default:
				in[i] = byte(r.Uint32())
			}
		}
		p := r.IntN(len(in) - 2*dy - 8)
		check(t, "uint8", in, p, dy,
			func(d *[32]byte) int32 { return patch3x3RGBBytes(d, in, p, dy) },
			func(d *[32]byte) int32 { return patch3x3RGB(d[:27], in, p, dy) })
		s := viewAs[int8](in)
		check(t, "int8", in, p, dy,
			func(d *[32]byte) int32 { return patch3x3RGBBytes(d, s, p, dy) },
			func(d *[32]byte) int32 { return patch3x3RGB(d[:27], s, p, dy) })
	}
}
