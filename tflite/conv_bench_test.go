package tflite

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Benchmarks on layer shapes from MobileNet v1 (0.25 and 1.0 width, 224x224). MACs/op is the
// number of multiply-adds per eval, so ns/op / MACs/op is the cost of one multiply-add. Each runs
// with this CPU's SIMD kernels (kernels=simd) and with the portable Go ones (kernels=go, what
// the purego build and 32-bit ARM run), side by side.

type benchLayer struct {
	name         string
	in           []int // NHWC
	outC, fH, fW int
	stride       int
	depthwise    bool
}

var benchLayers = []benchLayer{
	{"first3x3s2", []int{1, 224, 224, 3}, 8, 3, 3, 2, false},
	{"pointwise56x56x64", []int{1, 56, 56, 64}, 64, 1, 1, 1, false},
	{"pointwise14x14x256", []int{1, 14, 14, 256}, 256, 1, 1, 1, false},
	{"3x3x32", []int{1, 28, 28, 32}, 32, 3, 3, 1, false},
	{"pointwise28x28x32", []int{1, 28, 28, 32}, 32, 1, 1, 1, false}, // small enough to count under qemu
}

// kernelChoices runs f once per kernel set: the SIMD kernels (when the CPU has them) and Go's.
func kernelChoices(b *testing.B, f func(b *testing.B)) {
	if simdQ != nil || simdF != nil || simdDW != nil {
		b.Run("kernels=simd", f)
	}
	b.Run("kernels=go", func(b *testing.B) { withPortableKernels(func() { f(b) }) })
}

func benchConvLayer(b *testing.B, l benchLayer, typ DataType, threads int) {
	fShape := []int{l.outC, l.fH, l.fW, l.in[3]}
	axis := 0
	f := newConv2D
	opts := mapOptions{convOptStrideW: int32(l.stride), convOptStrideH: int32(l.stride), convOptAct: int8(actRelu6)}
	if l.depthwise {
		fShape, axis, f = []int{1, l.fH, l.fW, l.outC}, 3, newDepthwiseConv2D
		opts = mapOptions{dwOptStrideW: int32(l.stride), dwOptStrideH: int32(l.stride), dwOptAct: int8(actRelu6)}
	}
	pr, out := prepareBench(b, rand.New(rand.NewPCG(1, 1)), "CONV", f, opts, typ, threads, l.in, fShape, axis)
	macs := out.NumElements() * l.fH * l.fW
	if !l.depthwise {
		macs *= l.in[3]
	}
	runBench(b, pr)
	b.ReportMetric(float64(macs), "MACs/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(macs)*1000, "ps/MAC")
}

// prepareBench prepares op on random operands (the filter's channels on axis), with a constant
// filter as in a model, and returns the prepared node and its output.
func prepareBench(b *testing.B, r *rand.Rand, op string, f kernelFactory, opts mapOptions, typ DataType, threads int,
	inShape, fShape []int, axis int) (*prepared, *Tensor) {
	inputs, out := randConvOperands(r, typ, inShape, fShape, axis)
	inputs[1].constant = true
	pr, err := prepareOp(b, op, f, opts, poolFor(b, threads), inputs, []*Tensor{out})
	if err != nil {
		b.Fatal(err)
	}
	return pr, out
}

// runBench times b.N evals of pr, reporting allocations.
func runBench(b *testing.B, pr *prepared) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := pr.k.eval(pr.n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConv2D(b *testing.B) {
	for _, l := range benchLayers {
		for _, typ := range []DataType{Float32, UInt8, Int8} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%v/threads=%d", l.name, typ, threads), func(b *testing.B) {
					kernelChoices(b, func(b *testing.B) { benchConvLayer(b, l, typ, threads) })
				})
			}
		}
	}
}

func BenchmarkDepthwiseConv2D(b *testing.B) {
	for _, l := range []benchLayer{
		{"3x3s1_112x112x32", []int{1, 112, 112, 32}, 32, 3, 3, 1, true},
		{"3x3s2_56x56x64", []int{1, 56, 56, 64}, 64, 3, 3, 2, true},
		{"3x3s1_28x28x32", []int{1, 28, 28, 32}, 32, 3, 3, 1, true},
	} {
		for _, typ := range []DataType{Float32, UInt8, Int8} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%v/threads=%d", l.name, typ, threads), func(b *testing.B) {
					kernelChoices(b, func(b *testing.B) { benchConvLayer(b, l, typ, threads) })
				})
			}
		}
	}
}

func BenchmarkFullyConnected(b *testing.B) {
	for _, typ := range []DataType{Float32, UInt8, Int8} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("1024x1001/%v/threads=%d", typ, threads), func(b *testing.B) {
				kernelChoices(b, func(b *testing.B) {
					pr, _ := prepareBench(b, rand.New(rand.NewPCG(2, 2)), "FULLY_CONNECTED", newFullyConnected, nil,
						typ, threads, []int{1, 1024}, []int{1001, 1024}, 0)
					runBench(b, pr)
				})
			})
		}
	}
}

func BenchmarkPool2D(b *testing.B) {
	for _, typ := range []DataType{Float32, UInt8} {
		for _, average := range []bool{true, false} {
			b.Run(fmt.Sprintf("%v/average=%v", typ, average), func(b *testing.B) {
				var in, out *Tensor
				if typ == Float32 {
					in, out = newTensor("in", Float32, []int{1, 56, 56, 64}, nil), newTensor("out", Float32, nil, nil)
				} else {
					in = qtensor(typ, []int{1, 56, 56, 64}, []float32{0.1}, []int64{0}, 0)
					out = qtensor(typ, nil, []float32{0.1}, []int64{0}, 0)
				}
				f := newMaxPool2D
				if average {
					f = newAveragePool2D
				}
				opts := mapOptions{poolOptFilterW: int32(3), poolOptFilterH: int32(3), poolOptStrideW: int32(2), poolOptStrideH: int32(2)}
				pr, err := prepareOp(b, "POOL_2D", f, opts, nil, []*Tensor{in}, []*Tensor{out})
				if err != nil {
					b.Fatal(err)
				}
				runBench(b, pr)
			})
		}
	}
}
