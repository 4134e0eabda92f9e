package tflite

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// In these cases convCase.outC is the depth multiplier.
var depthwiseCases = []convCase{
	{"3x3 same", 1, 7, 6, 3, 1, 3, 3, 1, 1, 1, 1, paddingSame, actNone, false},
	{"3x3 same stride 2 odd padding", 2, 8, 7, 4, 1, 3, 3, 2, 2, 1, 1, paddingSame, actRelu6, false},
	{"multiplier 2", 1, 6, 7, 3, 2, 3, 3, 1, 1, 1, 1, paddingSame, actRelu, false},
	{"multiplier 3 valid strided", 1, 9, 8, 2, 3, 2, 3, 2, 1, 1, 1, paddingValid, actNone, true},
	{"dilated same", 1, 9, 9, 5, 1, 3, 3, 1, 1, 2, 2, paddingSame, actNone, false},
	{"dilated multiplier 2", 2, 10, 9, 2, 2, 3, 2, 1, 2, 2, 3, paddingSame, actReluN1To1, false},
	{"dilated valid", 1, 11, 10, 3, 1, 3, 3, 2, 1, 3, 2, paddingValid, actRelu, true},
	{"filter larger than input", 1, 2, 3, 4, 1, 5, 5, 1, 1, 1, 1, paddingSame, actNone, false},
	{"many rows for the pool", 1, 20, 12, 8, 1, 3, 3, 1, 1, 1, 1, paddingSame, actRelu6, false},
}

// refDepthwise computes the accumulators (without bias) of input values in (NHWC) and filter
// values w ([1, H, W, C*M]), both already offset by their zero points.
func refDepthwise(c convCase, in, w []float64) (out []float64, outH, outW int) {
	outH, outW, padT, padL := c.refGeometry()
	outC := c.inC * c.outC
	out = make([]float64, c.batch*outH*outW*outC)
	for b := 0; b < c.batch; b++ {
		for oy := 0; oy < outH; oy++ {
			for ox := 0; ox < outW; ox++ {
				for oc := 0; oc < outC; oc++ {
					ic := oc / c.outC
					var s float64
					for fy := 0; fy < c.fH; fy++ {
						for fx := 0; fx < c.fW; fx++ {
							iy := oy*c.strideH - padT + fy*c.dilH
							ix := ox*c.strideW - padL + fx*c.dilW
							if iy < 0 || iy >= c.inH || ix < 0 || ix >= c.inW {
								continue
							}
							s += in[((b*c.inH+iy)*c.inW+ix)*c.inC+ic] * w[(fy*c.fW+fx)*outC+oc]
						}
					}
					out[((b*outH+oy)*outW+ox)*outC+oc] = s
				}
			}
		}
	}
	return out, outH, outW
}

func depthwiseOpts(c convCase) mapOptions {
	return mapOptions{dwOptPadding: c.padding, dwOptStrideW: int32(c.strideW), dwOptStrideH: int32(c.strideH),
		dwOptDepthMul: int32(c.outC), dwOptAct: c.act, dwOptDilationW: int32(c.dilW), dwOptDilationH: int32(c.dilH)}
}

func TestDepthwiseConv2DFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range depthwiseCases {
		outC := c.inC * c.outC
		for _, threads := range []int{1, 2} {
			in := newTensor("in", Float32, []int{c.batch, c.inH, c.inW, c.inC}, nil)
			filter := newTensor("filter", Float32, []int{1, c.fH, c.fW, outC}, nil)
			bias := newTensor("bias", Float32, []int{outC}, nil)
			inV, fV, bV := randFloats(r, in), randFloats(r, filter), randFloats(r, bias)
			inputs := []*Tensor{in, filter, bias}
			if c.noBias {
				inputs = inputs[:2]
			}
			out := newTensor("out", Float32, nil, nil)
			if err := runOpPool(t, "DEPTHWISE_CONV_2D", newDepthwiseConv2D, depthwiseOpts(c), poolFor(t, threads), inputs, []*Tensor{out}); err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			want, outH, outW := refDepthwise(c, toFloat64s(inV), toFloat64s(fV))
			if !sameShape(out.shape, []int{c.batch, outH, outW, outC}) {
				t.Fatalf("%v: output shape %v, want %v", c, out.shape, []int{c.batch, outH, outW, outC})
			}
			checkFloatOutputs(t, fmt.Sprintf("%v threads %d", c, threads), out, want, bV, outC, c.act, !c.noBias)
		}
	}
}

func TestDepthwiseConv2DQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, c := range depthwiseCases {
		outC := c.inC * c.outC
		for _, v := range []quantVariant{{UInt8, false, 1}, {UInt8, false, 2}, {Int8, true, 1}, {Int8, true, 2}, {Int8, false, 1}} {
			name := fmt.Sprintf("%v/%v perChannel=%v threads=%d", c, v.typ, v.perChannel, v.threads)
			s, out := runQuantConv(t, r, name, "DEPTHWISE_CONV_2D", newDepthwiseConv2D, depthwiseOpts(c), v,
				[]int{c.batch, c.inH, c.inW, c.inC}, []int{1, c.fH, c.fW, outC}, 3, c.noBias)
			acc, outH, outW := refDepthwise(c, s.offsetIn(), s.offsetFilter(func(i int) int { return i % outC }))
			if !sameShape(out.shape, []int{c.batch, outH, outW, outC}) {
				t.Fatalf("%s: output shape %v", name, out.shape)
			}
			s.check(t, name, out, acc, outC, c.act, !c.noBias)
		}
	}
}

// TestDepthwiseConv2DHandComputed: two channels, depth multiplier 2, a 2x2 input and a 2x2
// filter with VALID padding, so each output is one dot product.
func TestDepthwiseConv2DHandComputed(t *testing.T) {
	// Input pixels (c0, c1): (1, 10) (2, 20) / (3, 30) (4, 40).
	in := tensorF32([]int{1, 2, 2, 2}, 1, 10, 2, 20, 3, 30, 4, 40)
	// Filter taps, output channels (c0*m0, c0*m1, c1*m0, c1*m1).
	filter := tensorF32([]int{1, 2, 2, 4},
		1, 0, 1, 0,
		1, 0, 0, 1,
		1, 1, 0, 0,
		1, 0, 0, 0)
	out := newTensor("out", Float32, nil, nil)
	opts := mapOptions{dwOptPadding: int8(paddingValid), dwOptStrideW: int32(1), dwOptStrideH: int32(1), dwOptDepthMul: int32(2)}
	if err := runOp(t, "DEPTHWISE_CONV_2D", newDepthwiseConv2D, opts, []*Tensor{in, filter}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	want := []float32{1 + 2 + 3 + 4, 3, 10, 20}
	if !sameShape(out.shape, []int{1, 1, 1, 4}) {
		t.Fatalf("shape %v", out.shape)
	}
	for i, w := range want {
		if g := out.Float32s()[i]; g != w {
			t.Errorf("output[%d] = %v, want %v", i, g, w)
		}
	}
}

func TestDepthwiseConv2DErrors(t *testing.T) {
	f32 := func(shape ...int) *Tensor { return newTensor("t", Float32, shape, nil) }
	i8 := func(shape ...int) *Tensor { return qtensor(Int8, shape, []float32{0.1}, []int64{0}, 0) }
	wrongAxis := qtensor(Int8, []int{1, 3, 3, 2}, []float32{0.1, 0.2}, []int64{0, 0}, 0)
	checkOpErrors(t, "DEPTHWISE_CONV_2D", newDepthwiseConv2D, []opErrorCase{
		{"filter not a multiple", nil, []*Tensor{f32(1, 4, 4, 2), f32(1, 3, 3, 3)}, false},
		{"filter first dim", nil, []*Tensor{f32(1, 4, 4, 2), f32(2, 3, 3, 2)}, false},
		{"rank", nil, []*Tensor{f32(4, 4, 2), f32(1, 3, 3, 2)}, false},
		{"bias size", nil, []*Tensor{f32(1, 4, 4, 2), f32(1, 3, 3, 2), f32(3)}, false},
		{"per-channel axis", nil, []*Tensor{i8(1, 4, 4, 2), wrongAxis}, false},
		{"hybrid", nil, []*Tensor{f32(1, 4, 4, 2), i8(1, 3, 3, 2)}, true},
		{"zero stride", mapOptions{dwOptStrideH: int32(0)}, []*Tensor{f32(1, 4, 4, 2), f32(1, 3, 3, 2)}, false},
		{"negative dilation", mapOptions{dwOptDilationW: int32(-1)}, []*Tensor{f32(1, 4, 4, 2), f32(1, 3, 3, 2)}, false},
		{"sign bit activation", mapOptions{dwOptAct: int8(actSignBit)}, []*Tensor{f32(1, 4, 4, 2), f32(1, 3, 3, 2)}, true},
	})
}

func TestDepthwiseConv2DEvalDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	c := convCase{"alloc", 1, 16, 16, 8, 2, 3, 3, 1, 1, 1, 1, paddingSame, actRelu6, false}
	checkEvalNoAllocs(t, r, "DEPTHWISE_CONV_2D", newDepthwiseConv2D, depthwiseOpts(c), []int{1, 16, 16, 8}, []int{1, 3, 3, 16}, 3)
}
