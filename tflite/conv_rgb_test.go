package tflite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// withRGB runs f with the direct kernel of conv_rgb.go on or off.
func withRGB(on bool, f func()) {
	old := rgbKernel
	rgbKernel = on
	defer func() { rgbKernel = old }()
	f()
}

// sameBits fails unless got and want hold the same float32 bits.
func sameBits(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: output[%d] = %v, the table path gives %v", name, i, got[i], want[i])
		}
	}
}

// The direct kernel for 3-channel, stride-2 first layers against the GEMM kernel reading its
// input through the address table: the same sums in the same order, so the same bits, and
// within rounding of the portable kernels. The shapes have borders on every side (both
// paddings, filters of 1 to 5), rows that are not a multiple of the kernel's 14 positions,
// rows split between two slots, dilated rows, 1 to 4 panels of 8 channels, batches and every
// fused activation.
func TestRGBConvMatchesTablePath(t *testing.T) {
	if !rgbKernel {
		t.Skip("no direct RGB kernel in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(61, 62))
	for i := range 160 {
		c := convCase{
			name: fmt.Sprintf("rgb%d", i), batch: 1 + r.IntN(2), inH: 1 + r.IntN(12), inW: 31 + r.IntN(60), inC: 3,
			outC: 8 * (1 + r.IntN(4)), fH: 1 + r.IntN(5), fW: 1 + r.IntN(5), strideH: 1 + r.IntN(2), strideW: 2,
			dilH: 1 + r.IntN(2), dilW: 1, padding: int8(r.IntN(2)),
			act: []int8{actNone, actRelu, actRelu6, actReluN1To1}[r.IntN(4)], noBias: r.IntN(4) == 0,
		}
		if c.padding == paddingValid && c.inH < (c.fH-1)*c.dilH+1 {
			c.inH = (c.fH-1)*c.dilH + 1
		}
		threads := 1 + i%2
		inputs, outT := floatOperands(r, []int{c.batch, c.inH, c.inW, c.inC}, []int{c.outC, c.fH, c.fW, c.inC}, c.outC, c.noBias)
		inputs[1].constant = true
		run := func() (*Tensor, bool) {
			out := *outT
			out.shape = nil
			pr, err := prepareOp(t, "CONV_2D", newConv2D, convOpts(c), poolFor(t, threads), cloneOperands(inputs), []*Tensor{&out})
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			if err := pr.k.eval(pr.n); err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			return &out, pr.k.(*conv2D).rgb
		}
		var got, want, portable *Tensor
		var used, usedOff bool
		withRGB(true, func() { got, used = run() })
		withRGB(false, func() { want, usedOff = run() })
		withPortableKernels(func() { portable, _ = run() })
		if !used || usedOff {
			t.Fatalf("%v: direct kernel taken %v with it on, %v with it off", c, used, usedOff)
		}
		sameBits(t, c.String(), got.Float32s(), want.Float32s())
		compareOutputs(t, c.String(), got, portable)
	}
}

// The float models' first layers take the direct kernel, and the models' outputs keep their
// bits.
func TestRGBConvModels(t *testing.T) {
	if !rgbKernel {
		t.Skip("no direct RGB kernel in this build or on this CPU")
	}
	for _, path := range []string{modelClassifyFloat, "testdata/blazeface/face_detection_short_range.tflite"} {
		m, err := LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var outs [2][][]float32
		for i, on := range []bool{true, false} {
			withRGB(on, func() {
				it, err := NewInterpreter(m, WithThreads(2))
				if err != nil {
					t.Fatal(err)
				}
				defer it.Close()
				first := slices.IndexFunc(it.kernels, func(k kernel) bool { _, ok := k.(*conv2D); return ok })
				if first < 0 || it.kernels[first].(*conv2D).rgb != on {
					t.Fatalf("%s: the first convolution (node %d) takes the direct kernel: %v, want %v", path, first, !on, on)
				}
				FillProbe(it.Input(0))
				if err := it.Invoke(); err != nil {
					t.Fatal(err)
				}
				for o := range it.OutputCount() {
					outs[i] = append(outs[i], append([]float32(nil), it.Output(o).Float32s()...))
				}
			})
		}
		for o := range outs[0] {
			sameBits(t, fmt.Sprintf("%s output %d", path, o), outs[0][o], outs[1][o])
		}
	}
}
