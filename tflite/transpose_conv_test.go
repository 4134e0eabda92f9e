package tflite

import (
	"math/rand/v2"
	"testing"
)

// refTransposeConv is TFLite's reference TRANSPOSE_CONV: every input pixel scatters its filter
// window into the output (the kernel gathers instead, so this is an independent formulation).
func refTransposeConv(in, w []float64, n, h, wd, inC, outC, fh, fw, oh, ow, sy, sx, py, px int) []float64 {
	out := make([]float64, n*oh*ow*outC)
	for b := range n {
		for iy := range h {
			for ix := range wd {
				for ic := range inC {
					v := in[((b*h+iy)*wd+ix)*inC+ic]
					for fy := range fh {
						for fx := range fw {
							oy, ox := iy*sy-py+fy, ix*sx-px+fx
							if oy < 0 || oy >= oh || ox < 0 || ox >= ow {
								continue
							}
							for oc := range outC {
								out[((b*oh+oy)*ow+ox)*outC+oc] += v * w[((oc*fh+fy)*fw+fx)*inC+ic]
							}
						}
					}
				}
			}
		}
	}
	return out
}

func TestTransposeConv(t *testing.T) {
	r := rand.New(rand.NewPCG(121, 122))
	cases := []struct {
		in, filter, out []int // [N,H,W,C], [O,fH,fW,C], output_shape
		padding         int8
		sy, sx          int
	}{
		{[]int{1, 4, 3, 3}, []int{4, 3, 3, 3}, []int{1, 8, 6, 4}, paddingSame, 2, 2},
		{[]int{1, 3, 3, 2}, []int{2, 3, 3, 2}, []int{1, 5, 7, 2}, paddingValid, 1, 2},
		{[]int{2, 5, 5, 1}, []int{3, 1, 1, 1}, []int{2, 5, 5, 3}, paddingSame, 1, 1},
		{[]int{1, 2, 2, 4}, []int{2, 4, 4, 4}, []int{1, 4, 4, 2}, paddingSame, 2, 2},
		{[]int{1, 3, 4, 2}, []int{5, 2, 3, 2}, []int{1, 9, 12, 5}, paddingSame, 3, 3},
	}
	for _, c := range cases {
		for _, withBias := range []bool{false, true} {
			for _, act := range []int8{actNone, actRelu6} {
				opts := mapOptions{0: c.padding, 1: int32(c.sx), 2: int32(c.sy), 3: act}
				wy, _ := newWindow(c.padding, c.out[1], c.filter[1], c.sy, 1)
				wx, _ := newWindow(c.padding, c.out[2], c.filter[2], c.sx, 1)
				in, w := randTensor(r, Float32, c.in), randTensor(r, Float32, c.filter)
				w.constant = true
				shape := constI32([]int{4}, int32(c.out[0]), int32(c.out[1]), int32(c.out[2]), int32(c.out[3]))
				inputs := []*Tensor{shape, w, in}
				bias := make([]float64, c.filter[0])
				if withBias {
					bt := randTensor(r, Float32, []int{c.filter[0]})
					bias = rawValues(bt)
					inputs = append(inputs, bt)
				}
				out := run1(t, "TRANSPOSE_CONV", newTransposeConv, opts, tensorOf(Float32, nil), inputs...)
				checkShape(t, out, c.out, "TRANSPOSE_CONV")
				want := refTransposeConv(rawValues(in), rawValues(w), c.in[0], c.in[1], c.in[2], c.in[3], c.filter[0], c.filter[1], c.filter[2],
					c.out[1], c.out[2], c.sy, c.sx, wy.pad, wx.pad)
				for i := range want {
					want[i] = refActFloat(act, want[i]+bias[i%c.filter[0]])
				}
				checkClose(t, out.Float32s(), want, "TRANSPOSE_CONV")

				// 8-bit: the real-valued reference, quantized.
				for _, typ := range []DataType{UInt8, Int8} {
					lo, _ := typeRange(typ)
					qin := tensorQ(typ, c.in, 0.05, int64(lo)+128, randQ(r, typ, numElements(c.in))...)
					fzp := int64(0)
					if typ == UInt8 {
						fzp = 120
					}
					qw := tensorQ(typ, c.filter, 0.02, fzp, randQ(r, typ, numElements(c.filter))...)
					qw.constant = true
					qinputs := []*Tensor{shape, qw, qin}
					qbias := make([]float64, c.filter[0])
					if withBias {
						bt := newTensor("b", Int32, []int{c.filter[0]}, nil)
						for i := range bt.Int32s() {
							bt.Int32s()[i] = r.Int32N(2001) - 1000
							qbias[i] = float64(bt.Int32s()[i]) * 0.05 * 0.02
						}
						qinputs = append(qinputs, bt)
					}
					zo := int64(lo) + 100
					qout := run1(t, "TRANSPOSE_CONV", newTransposeConv, opts, qOut(typ, 0.1, zo), qinputs...)
					real := refTransposeConv(realValues(qin), realValues(qw), c.in[0], c.in[1], c.in[2], c.in[3], c.filter[0], c.filter[1], c.filter[2],
						c.out[1], c.out[2], c.sy, c.sx, wy.pad, wx.pad)
					qlo, qhi := activationRangeQuantized(act, 0.1, int32(zo), lo, lo+255)
					ref := make([]int32, len(real))
					for i, v := range real {
						ref[i] = min(max(refQuantize(typ, v+qbias[i%c.filter[0]], 0.1, zo), qlo), qhi)
					}
					checkWithinOne(t, qValues(qout), ref, "TRANSPOSE_CONV "+typ.String())
				}
			}
		}
	}
}

func TestTransposeConvErrors(t *testing.T) {
	in, w := tensorOf(Float32, []int{1, 2, 2, 3}), tensorOf(Float32, []int{4, 3, 3, 3})
	for name, c := range map[string]struct {
		shape *Tensor
		w     *Tensor
		opts  mapOptions
	}{
		"output batch":    {constI32([]int{4}, 2, 4, 4, 4), w, nil},
		"output channels": {constI32([]int{4}, 1, 4, 4, 3), w, nil},
		"output rank":     {constI32([]int{3}, 1, 4, 4), w, nil},
		"filter channels": {constI32([]int{4}, 1, 4, 4, 4), tensorOf(Float32, []int{4, 3, 3, 2}), nil},
		"stride":          {constI32([]int{4}, 1, 4, 4, 4), w, mapOptions{1: int32(0)}},
		"padding":         {constI32([]int{4}, 1, 4, 4, 4), w, mapOptions{0: int8(5)}},
	} {
		if err := runOp(t, "TRANSPOSE_CONV", newTransposeConv, c.opts, []*Tensor{c.shape, c.w, in}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := newTransposeConv(&node{inputs: []*Tensor{in, w, in}, outputs: []*Tensor{in}, opts: mapOptions{3: int8(actTanh)}}); err == nil {
		t.Error("tanh activation accepted")
	}
}
