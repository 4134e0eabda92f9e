package tflite

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type poolCase struct {
	name               string
	batch, inH, inW, c int
	filterH, filterW   int
	strideH, strideW   int
	padding            int8
	act                int8
}

var poolCases = []poolCase{
	{"2x2 stride 2 valid", 1, 8, 6, 3, 2, 2, 2, 2, paddingValid, actNone},
	{"3x3 stride 2 same odd padding", 2, 8, 7, 4, 3, 3, 2, 2, paddingSame, actNone},
	{"3x3 stride 1 same", 1, 5, 6, 2, 3, 3, 1, 1, paddingSame, actRelu},
	{"global average", 1, 7, 7, 16, 7, 7, 2, 2, paddingValid, actNone},
	{"filter larger than input", 1, 3, 2, 3, 5, 4, 1, 1, paddingSame, actRelu6},
	{"rectangular", 2, 9, 10, 5, 2, 3, 3, 2, paddingSame, actReluN1To1},
	{"many rows for the pool", 1, 30, 9, 6, 3, 3, 1, 1, paddingSame, actNone},
}

func (c poolCase) String() string {
	return fmt.Sprintf("%s/b%d_%dx%dx%d_f%dx%d_s%dx%d_p%d_a%d", c.name, c.batch, c.inH, c.inW, c.c,
		c.filterH, c.filterW, c.strideH, c.strideW, c.padding, c.act)
}

func poolOpts(c poolCase) mapOptions {
	return mapOptions{poolOptPadding: c.padding, poolOptStrideW: int32(c.strideW), poolOptStrideH: int32(c.strideH),
		poolOptFilterW: int32(c.filterW), poolOptFilterH: int32(c.filterH), poolOptAct: c.act}
}

// refPool returns, per output element, the sum, count and maximum of the in-bounds window.
func refPool(c poolCase, in []float64) (sum, count, maxv []float64, outH, outW int) {
	outH = refOutSize(c.padding, c.inH, c.filterH, c.strideH, 1)
	outW = refOutSize(c.padding, c.inW, c.filterW, c.strideW, 1)
	padT := refPadTop(c.inH, c.filterH, c.strideH, 1, outH)
	padL := refPadTop(c.inW, c.filterW, c.strideW, 1, outW)
	size := c.batch * outH * outW * c.c
	sum, count, maxv = make([]float64, size), make([]float64, size), make([]float64, size)
	for b := 0; b < c.batch; b++ {
		for oy := 0; oy < outH; oy++ {
			for ox := 0; ox < outW; ox++ {
				for ch := 0; ch < c.c; ch++ {
					o := ((b*outH+oy)*outW+ox)*c.c + ch
					maxv[o] = math.Inf(-1)
					for fy := 0; fy < c.filterH; fy++ {
						for fx := 0; fx < c.filterW; fx++ {
							iy, ix := oy*c.strideH-padT+fy, ox*c.strideW-padL+fx
							if iy < 0 || iy >= c.inH || ix < 0 || ix >= c.inW {
								continue
							}
							v := in[((b*c.inH+iy)*c.inW+ix)*c.c+ch]
							sum[o] += v
							count[o]++
							maxv[o] = max(maxv[o], v)
						}
					}
				}
			}
		}
	}
	return sum, count, maxv, outH, outW
}

func TestPool2DFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, c := range poolCases {
		for _, average := range []bool{true, false} {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("%v average=%v threads=%d", c, average, threads)
				in := newTensor("in", Float32, []int{c.batch, c.inH, c.inW, c.c}, nil)
				inV := randFloats(r, in)
				out := newTensor("out", Float32, nil, nil)
				f := newMaxPool2D
				if average {
					f = newAveragePool2D
				}
				var p *pool
				if threads > 1 {
					p = testPool(t)
				}
				if err := runOpPool(t, "POOL_2D", f, poolOpts(c), p, []*Tensor{in}, []*Tensor{out}); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				sum, count, maxv, outH, outW := refPool(c, toFloat64s(inV))
				if !sameShape(out.shape, []int{c.batch, outH, outW, c.c}) {
					t.Fatalf("%s: output shape %v", name, out.shape)
				}
				for i := range sum {
					want := maxv[i]
					if average {
						want = sum[i] / count[i]
					}
					want = refActFloat(c.act, want)
					if g := float64(out.Float32s()[i]); !closeFloat(g, want) {
						t.Fatalf("%s: output[%d] = %v, want %v", name, i, g, want)
					}
				}
			}
		}
	}
}

func TestPool2DQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range poolCases {
		for _, typ := range []DataType{UInt8, Int8} {
			for _, average := range []bool{true, false} {
				for _, threads := range []int{1, 2} {
					name := fmt.Sprintf("%v %v average=%v threads=%d", c, typ, average, threads)
					scale := float32(0.01 + r.Float64()*0.1)
					lo, hi := typeRange(typ)
					zp := lo + int32(r.IntN(int(hi-lo+1)))
					in := qtensor(typ, []int{c.batch, c.inH, c.inW, c.c}, []float32{scale}, []int64{int64(zp)}, 0)
					inV := randInts(r, in, lo, hi)
					out := qtensor(typ, nil, []float32{scale}, []int64{int64(zp)}, 0)
					f := newMaxPool2D
					if average {
						f = newAveragePool2D
					}
					var p *pool
					if threads > 1 {
						p = testPool(t)
					}
					if err := runOpPool(t, "POOL_2D", f, poolOpts(c), p, []*Tensor{in}, []*Tensor{out}); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					vals := make([]float64, len(inV))
					for i, v := range inV {
						vals[i] = float64(v)
					}
					sum, count, maxv, _, _ := refPool(c, vals)
					alo, ahi := refActRange(c.act, typ, scale, zp)
					got := ints(out)
					for i := range sum {
						want := maxv[i]
						if average {
							want = math.Round(sum[i] / count[i]) // half away from zero
						}
						want = min(max(want, float64(alo)), float64(ahi))
						if float64(got[i]) != want {
							t.Fatalf("%s: output[%d] = %d, want %v", name, i, got[i], want)
						}
					}
				}
			}
		}
	}
}

// TestAveragePool2DRounding checks TFLite's rounding of 8-bit averages on hand-picked sums,
// including negative halves for int8.
func TestAveragePool2DRounding(t *testing.T) {
	cases := []struct {
		typ  DataType
		in   []int32 // a 1x2x2x1 input averaged over a 2x2 window
		want int32
	}{
		{UInt8, []int32{1, 2, 2, 1}, 2}, // 1.5 rounds up
		{UInt8, []int32{1, 1, 1, 2}, 1}, // 1.25
		{UInt8, []int32{255, 255, 255, 254}, 255},
		{Int8, []int32{-1, -2, -2, -1}, -2}, // -1.5 rounds away from zero
		{Int8, []int32{-1, -1, -1, -2}, -1}, // -1.25
		{Int8, []int32{-1, 0, 0, -1}, -1},   // -0.5
		{Int8, []int32{1, 0, 0, 1}, 1},      // 0.5
		{Int8, []int32{-128, -128, -128, -127}, -128},
	}
	for _, c := range cases {
		in := qtensor(c.typ, []int{1, 2, 2, 1}, []float32{0.5}, []int64{0}, 0)
		setInts(in, c.in)
		out := qtensor(c.typ, nil, []float32{0.5}, []int64{0}, 0)
		opts := mapOptions{poolOptPadding: int8(paddingValid), poolOptStrideW: int32(1), poolOptStrideH: int32(1),
			poolOptFilterW: int32(2), poolOptFilterH: int32(2)}
		if err := runOp(t, "AVERAGE_POOL_2D", newAveragePool2D, opts, []*Tensor{in}, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		if g := ints(out)[0]; g != c.want {
			t.Errorf("%v average of %v = %d, want %d", c.typ, c.in, g, c.want)
		}
	}
}

// TestPool2DHandComputed: SAME 2x2 pooling with stride 2 of a 3x3 image puts the odd padding
// after; padded positions are left out of the average.
func TestPool2DHandComputed(t *testing.T) {
	opts := mapOptions{poolOptPadding: int8(paddingSame), poolOptStrideW: int32(2), poolOptStrideH: int32(2),
		poolOptFilterW: int32(2), poolOptFilterH: int32(2)}
	for _, c := range []struct {
		f    kernelFactory
		want []float32
	}{
		{newAveragePool2D, []float32{3, 4.5, 7.5, 9}},
		{newMaxPool2D, []float32{5, 6, 8, 9}},
	} {
		in := tensorF32([]int{1, 3, 3, 1}, 1, 2, 3, 4, 5, 6, 7, 8, 9)
		out := newTensor("out", Float32, nil, nil)
		if err := runOp(t, "POOL_2D", c.f, opts, []*Tensor{in}, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		if !sameShape(out.shape, []int{1, 2, 2, 1}) {
			t.Fatalf("shape %v", out.shape)
		}
		for i, w := range c.want {
			if g := out.Float32s()[i]; g != w {
				t.Errorf("output[%d] = %v, want %v", i, g, w)
			}
		}
	}
}

func TestPool2DErrors(t *testing.T) {
	f32 := func(shape ...int) *Tensor { return newTensor("t", Float32, shape, nil) }
	u8 := func(scale float32, zp int64) *Tensor {
		return qtensor(UInt8, []int{1, 4, 4, 2}, []float32{scale}, []int64{zp}, 0)
	}
	base := mapOptions{poolOptFilterW: int32(2), poolOptFilterH: int32(2), poolOptStrideW: int32(1), poolOptStrideH: int32(1)}
	with := func(slot int, v any) mapOptions {
		m := mapOptions{}
		for k, x := range base {
			m[k] = x
		}
		m[slot] = v
		return m
	}
	cases := []struct {
		name        string
		opts        mapOptions
		in, out     *Tensor
		unsupported bool
	}{
		{"rank", base, f32(4, 4, 2), f32(), false},
		{"zero filter", with(poolOptFilterW, int32(0)), f32(1, 4, 4, 2), f32(), false},
		{"zero stride", with(poolOptStrideH, int32(0)), f32(1, 4, 4, 2), f32(), false},
		{"valid too small", with(poolOptPadding, int8(paddingValid)), f32(1, 1, 4, 2), f32(), false},
		{"output type", base, f32(1, 4, 4, 2), u8(0.1, 0), false},
		{"requantizing", base, u8(0.1, 3), u8(0.2, 3), true},
		{"zero point change", base, u8(0.1, 3), u8(0.1, 4), true},
		{"int32", base, newTensor("t", Int32, []int{1, 4, 4, 2}, nil), newTensor("t", Int32, nil, nil), true},
		{"tanh", with(poolOptAct, int8(actTanh)), f32(1, 4, 4, 2), f32(), true},
	}
	for _, c := range cases {
		for _, f := range []kernelFactory{newAveragePool2D, newMaxPool2D} {
			err := runOp(t, "POOL_2D", f, c.opts, []*Tensor{c.in}, []*Tensor{c.out})
			if err == nil {
				t.Errorf("%s: no error", c.name)
				continue
			}
			if errors.Is(err, errUnsupported) != c.unsupported {
				t.Errorf("%s: errors.Is(err, errUnsupported) = %v: %v", c.name, !c.unsupported, err)
			}
		}
	}
}

func TestPool2DEvalDoesNotAllocate(t *testing.T) {
	c := poolCases[1]
	for _, typ := range []DataType{Float32, UInt8, Int8} {
		for _, f := range []kernelFactory{newAveragePool2D, newMaxPool2D} {
			for _, p := range []*pool{nil, testPool(t)} {
				var in, out *Tensor
				if typ == Float32 {
					in, out = newTensor("in", Float32, []int{c.batch, c.inH, c.inW, c.c}, nil), newTensor("out", Float32, nil, nil)
				} else {
					in = qtensor(typ, []int{c.batch, c.inH, c.inW, c.c}, []float32{0.1}, []int64{0}, 0)
					out = qtensor(typ, nil, []float32{0.1}, []int64{0}, 0)
				}
				pr, err := prepareOp(t, "POOL_2D", f, poolOpts(c), p, []*Tensor{in}, []*Tensor{out})
				if err != nil {
					t.Fatal(err)
				}
				if a := testing.AllocsPerRun(20, func() { _ = pr.k.eval(pr.n) }); a != 0 {
					t.Errorf("%v pool=%v: %v allocations per eval", typ, p != nil, a)
				}
			}
		}
	}
}

// TestPool2DRandomConfigs runs random small pooling configurations against the reference.
func TestPool2DRandomConfigs(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	for i := 0; i < 150; i++ {
		c := poolCase{name: fmt.Sprintf("random%d", i), batch: 1 + r.IntN(2), inH: 1 + r.IntN(8), inW: 1 + r.IntN(8), c: 1 + r.IntN(5),
			filterH: 1 + r.IntN(4), filterW: 1 + r.IntN(4), strideH: 1 + r.IntN(3), strideW: 1 + r.IntN(3),
			padding: int8(r.IntN(2)), act: []int8{actNone, actRelu, actRelu6, actReluN1To1}[r.IntN(4)]}
		average := r.IntN(2) == 0
		typ := []DataType{Float32, UInt8, Int8}[r.IntN(3)]
		f := newMaxPool2D
		if average {
			f = newAveragePool2D
		}
		name := fmt.Sprintf("%v %v average=%v", c, typ, average)
		shape := []int{c.batch, c.inH, c.inW, c.c}
		var in, out *Tensor
		var vals []float64
		scale, zp := float32(0.05), int32(0)
		if typ == Float32 {
			in, out = newTensor("in", Float32, shape, nil), newTensor("out", Float32, nil, nil)
			vals = toFloat64s(randFloats(r, in))
		} else {
			lo, hi := typeRange(typ)
			zp = lo + int32(r.IntN(int(hi-lo+1)))
			in = qtensor(typ, shape, []float32{scale}, []int64{int64(zp)}, 0)
			out = qtensor(typ, nil, []float32{scale}, []int64{int64(zp)}, 0)
			for _, v := range randInts(r, in, lo, hi) {
				vals = append(vals, float64(v))
			}
		}
		err := runOpPool(t, "POOL_2D", f, poolOpts(c), nil, []*Tensor{in}, []*Tensor{out})
		if c.padding == paddingValid && (c.inH < c.filterH || c.inW < c.filterW) {
			if err == nil {
				t.Fatalf("%s: no error for a VALID window larger than the input", name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sum, count, maxv, _, _ := refPool(c, vals)
		for j := range sum {
			want := maxv[j]
			if average {
				want = sum[j] / count[j]
			}
			if typ == Float32 {
				want = refActFloat(c.act, want)
				if g := float64(out.Float32s()[j]); !closeFloat(g, want) {
					t.Fatalf("%s: output[%d] = %v, want %v", name, j, g, want)
				}
				continue
			}
			want = math.Round(want)
			alo, ahi := refActRange(c.act, typ, scale, zp)
			want = min(max(want, float64(alo)), float64(ahi))
			if g := ints(out)[j]; float64(g) != want {
				t.Fatalf("%s: output[%d] = %d, want %v", name, j, g, want)
			}
		}
	}
}

// TestPool2DEmpty: zero channels or batches give an empty output, not a division by zero.
func TestPool2DEmpty(t *testing.T) {
	for _, shape := range [][]int{{1, 4, 4, 0}, {0, 4, 4, 3}} {
		for _, f := range []kernelFactory{newAveragePool2D, newMaxPool2D} {
			in, out := newTensor("in", Float32, shape, nil), newTensor("out", Float32, nil, nil)
			opts := mapOptions{poolOptFilterW: int32(2), poolOptFilterH: int32(2), poolOptStrideW: int32(2), poolOptStrideH: int32(2)}
			if err := runOpPool(t, "POOL_2D", f, opts, testPool(t), []*Tensor{in}, []*Tensor{out}); err != nil {
				t.Fatalf("%v: %v", shape, err)
			}
			if out.NumElements() != 0 {
				t.Errorf("%v: output shape %v, want empty", shape, out.shape)
			}
		}
	}
}
