package tflite

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refBilinear resizes an NHWC float64 image following TensorFlow's definition: source
// coordinate (v+0.5)*scale-0.5 with half-pixel centers, v*scale otherwise, lower index clamped
// at 0 and upper at size-1.
func refBilinear(img []float64, shape []int, oh, ow int, align, half bool) []float64 {
	b, h, w, c := shape[0], shape[1], shape[2], shape[3]
	coord := func(v, in, out int) (int, int, float64) {
		scale := float64(in) / float64(out)
		if align && out > 1 {
			scale = float64(in-1) / float64(out-1)
		}
		src := float64(v) * scale
		if half {
			src = (float64(v)+0.5)*scale - 0.5
		}
		lo := int(math.Max(math.Floor(src), 0))
		hi := int(math.Min(math.Ceil(src), float64(in-1)))
		return lo, hi, src - float64(lo)
	}
	out := make([]float64, b*oh*ow*c)
	at := func(n, y, x, ch int) float64 { return img[((n*h+y)*w+x)*c+ch] }
	for n := range b {
		for y := range oh {
			y0, y1, dy := coord(y, h, oh)
			for x := range ow {
				x0, x1, dx := coord(x, w, ow)
				for ch := range c {
					top := at(n, y0, x0, ch)*(1-dx) + at(n, y0, x1, ch)*dx
					bot := at(n, y1, x0, ch)*(1-dx) + at(n, y1, x1, ch)*dx
					out[((n*oh+y)*ow+x)*c+ch] = top*(1-dy) + bot*dy
				}
			}
		}
	}
	return out
}

func runResize(t *testing.T, f kernelFactory, opts mapOptions, in *Tensor, oh, ow int, out *Tensor) {
	t.Helper()
	if err := runOp(t, "RESIZE", f, opts, []*Tensor{in, constI32([]int{2}, int32(oh), int32(ow))}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if want := []int{in.shape[0], oh, ow, in.shape[3]}; !slices.Equal(out.shape, want) {
		t.Fatalf("shape %v, want %v", out.shape, want)
	}
}

func bilinearOpts(align, half bool) mapOptions { return mapOptions{2: align, 3: half} }

func TestResizeBilinearHand(t *testing.T) {
	// Upscale 2x2 -> 3x3 without flags (NNAPI's example).
	out := tensorF32(nil)
	runResize(t, newResizeBilinear, nil, tensorF32([]int{1, 2, 2, 2}, 3, 4, 6, 10, 9, 10, 12, 16), 3, 3, out)
	checkClose(t, out.Float32s(), []float64{3, 4, 5, 8, 6, 10, 7, 8, 9, 12, 10, 14, 9, 10, 11, 14, 12, 16}, "plain")
	img := tensorF32([]int{1, 2, 2, 1}, 0, 4, 8, 12)
	runResize(t, newResizeBilinear, bilinearOpts(true, false), img, 3, 3, out)
	checkClose(t, out.Float32s(), []float64{0, 2, 4, 4, 6, 8, 8, 10, 12}, "align_corners")
	// Half-pixel 2x2 -> 4x4: source rows -0.25 (clamped to row 0), 0.25, 0.75, 1.25 (row 1).
	runResize(t, newResizeBilinear, bilinearOpts(false, true), img, 4, 4, out)
	checkClose(t, out.Float32s(), []float64{0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12}, "half_pixel_centers")

	// 8-bit rounds to nearest: 1x2 -> 1x3 gives 0, 1365/2048 (-> 1), 1.
	qo := qOut(UInt8, 0.1, 0)
	runResize(t, newResizeBilinear, nil, tensorQ(UInt8, []int{1, 1, 2, 1}, 0.1, 0, 0, 1), 1, 3, qo)
	if got := qValues(qo); !slices.Equal(got, []int32{0, 1, 1}) {
		t.Errorf("uint8 = %v, want [0 1 1]", got)
	}
	// int8: -1 at weight 1365/2048 -> -0.67 -> -1.
	qo = qOut(Int8, 0.1, 0)
	runResize(t, newResizeBilinear, nil, tensorQ(Int8, []int{1, 1, 2, 1}, 0.1, 0, 0, -1), 1, 3, qo)
	if got := qValues(qo); !slices.Equal(got, []int32{0, -1, -1}) {
		t.Errorf("int8 = %v, want [0 -1 -1]", got)
	}
}

func TestResizeBilinear(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	sizes := [][4]int{{4, 5, 7, 9}, {6, 6, 3, 2}, {1, 3, 5, 1}, {5, 3, 5, 3}, {2, 2, 1, 1}}
	for _, s := range sizes {
		shape := []int{2, s[0], s[1], 3}
		v := randF32(r, numElements(shape), 10)
		for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}} {
			out := tensorF32(nil)
			runResize(t, newResizeBilinear, bilinearOpts(flags[0], flags[1]), tensorF32(shape, v...), s[2], s[3], out)
			checkClose(t, out.Float32s(), refBilinear(toF64(v), shape, s[2], s[3], flags[0], flags[1]), "bilinear")

			for _, typ := range []DataType{UInt8, Int8} {
				q := randQ(r, typ, numElements(shape))
				in := tensorQ(typ, shape, 0.1, 3, q...)
				qo := qOut(typ, 0.1, 3)
				runResize(t, newResizeBilinear, bilinearOpts(flags[0], flags[1]), in, s[2], s[3], qo)
				ref := refBilinear(toF64(q), shape, s[2], s[3], flags[0], flags[1])
				want := make([]int32, len(ref))
				for i, x := range ref {
					want[i] = int32(math.Round(x))
				}
				checkWithinOne(t, qValues(qo), want, "bilinear "+typ.String())
			}
		}
	}
}

// refNearest is TensorFlow's nearest-neighbour source index, in float64.
func refNearest(v, in, out int, align, half bool) int {
	scale := float64(in) / float64(out)
	if align && out > 1 {
		scale = float64(in-1) / float64(out-1)
	}
	off := 0.0
	if half {
		off = 0.5
	}
	var s int
	if align {
		s = int(math.Round((float64(v) + off) * scale))
	} else {
		s = int(math.Floor((float64(v) + off) * scale))
	}
	return max(min(s, in-1), 0)
}

func TestResizeNearestNeighbor(t *testing.T) {
	img := tensorF32([]int{1, 2, 2, 1}, 1, 2, 3, 4)
	for _, c := range []struct {
		align, half bool
		want        []float64
	}{
		{false, false, []float64{1, 1, 2, 1, 1, 2, 3, 3, 4}},
		{true, false, []float64{1, 2, 2, 3, 4, 4, 3, 4, 4}},
		{false, true, []float64{1, 2, 2, 3, 4, 4, 3, 4, 4}},
	} {
		out := tensorF32(nil)
		runResize(t, newResizeNearestNeighbor, mapOptions{0: c.align, 1: c.half}, img, 3, 3, out)
		checkClose(t, out.Float32s(), c.want, "nearest hand")
	}
	// Sizes chosen so that no source coordinate falls exactly on a rounding boundary.
	r := rand.New(rand.NewPCG(83, 84))
	for _, s := range [][4]int{{5, 5, 7, 7}, {7, 7, 3, 3}, {5, 7, 7, 3}} {
		for _, typ := range []DataType{Float32, UInt8, Int8, Int32} {
			shape := []int{2, s[0], s[1], 2}
			in := newTensor("in", typ, shape, &Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{1}})
			for i := range in.data {
				in.data[i] = byte(r.Uint32())
			}
			for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}} {
				out := newTensor("out", typ, nil, in.quant)
				runResize(t, newResizeNearestNeighbor, mapOptions{0: flags[0], 1: flags[1]}, in, s[2], s[3], out)
				size := typ.Size() * 2
				for b := range 2 {
					for y := range s[2] {
						sy := refNearest(y, s[0], s[2], flags[0], flags[1])
						for x := range s[3] {
							sx := refNearest(x, s[1], s[3], flags[0], flags[1])
							o := ((b*s[2]+y)*s[3] + x) * size
							i := ((b*s[0]+sy)*s[1] + sx) * size
							if !slices.Equal(out.data[o:o+size], in.data[i:i+size]) {
								t.Fatalf("%v %v flags %v: output (%d,%d) is not input (%d,%d)", typ, s, flags, y, x, sy, sx)
							}
						}
					}
				}
			}
		}
	}
}

func TestResizeErrors(t *testing.T) {
	img := tensorF32([]int{1, 2, 2, 1})
	size := func(v ...int32) *Tensor { return constI32([]int{len(v)}, v...) }
	wantErr(t, runOp(t, "RESIZE", newResizeBilinear, nil, []*Tensor{img, size(0, 3)}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "RESIZE", newResizeBilinear, nil, []*Tensor{img, size(1<<30, 3)}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "RESIZE", newResizeBilinear, nil, []*Tensor{img, size(3)}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "RESIZE", newResizeBilinear, nil, []*Tensor{tensorF32([]int{2, 2, 1}), size(3, 3)}, []*Tensor{tensorF32(nil)}), false)
	notConst := size(3, 3)
	notConst.constant = false
	wantDynamic(t, runOp(t, "RESIZE", newResizeNearestNeighbor, nil, []*Tensor{img, notConst}, []*Tensor{tensorF32(nil)}))
	wantErr(t, runOp(t, "RESIZE", newResizeBilinear, bilinearOpts(true, true), []*Tensor{img, size(3, 3)}, []*Tensor{tensorF32(nil)}), false)
	wantErr(t, runOp(t, "RESIZE", newResizeBilinear, nil, []*Tensor{constI32([]int{1, 2, 2, 1}), size(3, 3)}, []*Tensor{constI32(nil)}), true)
}

// TestResizePool checks that splitting output rows over worker goroutines gives the reference
// result.
func TestResizePool(t *testing.T) {
	r := rand.New(rand.NewPCG(85, 86))
	shape := []int{2, 40, 40, 8}
	v := randF32(r, numElements(shape), 5)
	p := newPool(2)
	defer p.close()
	for _, bilinear := range []bool{true, false} {
		out := tensorF32(nil)
		in := tensorF32(shape, v...)
		n := &node{op: "RESIZE", inputs: []*Tensor{in, constI32([]int{2}, 64, 48)}, outputs: []*Tensor{out}, opts: mapOptions{3: true, 1: true}, pool: p}
		k, err := newResize(n, bilinear)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.prepare(n); err != nil {
			t.Fatal(err)
		}
		out.data = alignedBytes(out.ByteSize())
		if err := k.eval(n); err != nil {
			t.Fatal(err)
		}
		if bilinear {
			checkClose(t, out.Float32s(), refBilinear(toF64(v), shape, 64, 48, false, true), "pooled bilinear")
			continue
		}
		got := out.Float32s()
		for i := range got {
			idx := unravel(i, []int{2, 64, 48, 8})
			sy, sx := refNearest(idx[1], 40, 64, false, true), refNearest(idx[2], 40, 48, false, true)
			if want := v[((idx[0]*40+sy)*40+sx)*8+idx[3]]; got[i] != want {
				t.Fatalf("pooled nearest %v = %v, want %v", idx, got[i], want)
			}
		}
	}
}

// TestResizeBilinear8Exact checks the 8-bit bilinear resize, which lerps each source row pair
// horizontally once and reuses it, against the per-element Q11 formula on the kernel's own
// source spans: up, down and mixed scaling, each flag, one and two threads, bit for bit.
func TestResizeBilinear8Exact(t *testing.T) {
	r := rand.New(rand.NewPCG(87, 88))
	cases := []struct{ in, out [2]int }{{[2]int{5, 7}, [2]int{13, 11}}, {[2]int{33, 33}, [2]int{129, 97}}, {[2]int{20, 20}, [2]int{7, 9}}, {[2]int{6, 9}, [2]int{17, 4}}}
	for _, c := range cases {
		for _, flags := range [][2]bool{{false, false}, {true, false}, {false, true}} {
			for _, typ := range []DataType{UInt8, Int8} {
				for _, threads := range []int{1, 2} {
					shape := []int{2, c.in[0], c.in[1], 5}
					in := tensorQ(typ, shape, 0.1, 3, randQ(r, typ, numElements(shape))...)
					out := qOut(typ, 0.1, 3)
					pr, err := prepareOp(t, "RESIZE", newResizeBilinear, bilinearOpts(flags[0], flags[1]), poolFor(t, threads),
						[]*Tensor{in, constI32([]int{2}, int32(c.out[0]), int32(c.out[1]))}, []*Tensor{out})
					if err != nil {
						t.Fatal(err)
					}
					if err := pr.k.eval(pr.n); err != nil {
						t.Fatal(err)
					}
					k := pr.k.(*resizeKernel)
					src := qValues(in)
					at := func(b, y, x, ch int) int32 { return src[((b*c.in[0]+y)*c.in[1]+x)*5+ch] }
					got := qValues(out)
					for i, g := range got {
						idx := unravel(i, out.shape)
						y, x := k.ys[idx[1]], k.xs[idx[2]]
						b, ch := idx[0], idx[3]
						top := at(b, y.lo, x.lo, ch)<<11 + (at(b, y.lo, x.hi, ch)-at(b, y.lo, x.lo, ch))*x.frac11
						bot := at(b, y.hi, x.lo, ch)<<11 + (at(b, y.hi, x.hi, ch)-at(b, y.hi, x.lo, ch))*x.frac11
						if want := (top<<11 + (bot-top)*y.frac11 + 1<<21) >> 22; g != want {
							t.Fatalf("%v -> %v %v flags %v threads=%d: %v = %d, want %d", c.in, c.out, typ, flags, threads, idx, g, want)
						}
					}
				}
			}
		}
	}
}
