package tflite

import (
	"math/rand/v2"
	"testing"
)

// refMirror maps padded index i of a dimension of size dim to the input index.
func refMirror(i, before, dim int, symmetric bool) int {
	j := i - before
	for j < 0 || j >= dim {
		if j < 0 {
			j = -j
			if symmetric {
				j--
			}
		} else {
			j = 2*dim - j - 2
			if symmetric {
				j++
			}
		}
	}
	return j
}

func TestMirrorPad(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, c := range []struct {
		shape []int
		pads  []int32
	}{
		{[]int{4}, []int32{3, 2}},
		{[]int{1, 3, 4, 2}, []int32{0, 0, 2, 1, 1, 3, 0, 0}},
		{[]int{3, 4}, []int32{0, 0, 0, 0}},
		{[]int{2, 2}, []int32{1, 1, 1, 1}},
	} {
		for _, mode := range []int8{mirrorReflect, mirrorSymmetric} {
			for _, typ := range []DataType{Float32, UInt8, Int64} {
				in := randTensor(r, typ, c.shape)
				pads := constI32([]int{len(c.shape), 2}, c.pads...)
				out := run1(t, "MIRROR_PAD", newMirrorPad, mapOptions{0: mode}, newTensor("o", typ, nil, nil), in, pads)
				shape := make([]int, len(c.shape))
				for d := range shape {
					shape[d] = c.shape[d] + int(c.pads[2*d]+c.pads[2*d+1])
				}
				checkShape(t, out, shape, "MIRROR_PAD")
				src := rawValues(in)
				want := make([]float64, numElements(shape))
				for o := range want {
					oi := unravel(o, shape)
					for d := range oi {
						oi[d] = refMirror(oi[d], int(c.pads[2*d]), c.shape[d], mode == mirrorSymmetric)
					}
					want[o] = src[ravel(oi, c.shape)]
				}
				checkValues(t, out, want, "MIRROR_PAD")
			}
		}
	}
	in := tensorOf(Float32, []int{3})
	for _, c := range []struct {
		mode int8
		pads []int32
	}{{mirrorReflect, []int32{3, 0}}, {mirrorSymmetric, []int32{0, 4}}, {mirrorReflect, []int32{-1, 0}}} {
		if err := runOp(t, "MIRROR_PAD", newMirrorPad, mapOptions{0: c.mode}, []*Tensor{in, constI32([]int{1, 2}, c.pads...)}, []*Tensor{tensorOf(Float32, nil)}); err == nil {
			t.Errorf("mode %d pads %v accepted", c.mode, c.pads)
		}
	}
	if _, err := newMirrorPad(&node{inputs: []*Tensor{in, in}, outputs: []*Tensor{in}, opts: mapOptions{0: int8(2)}}); err == nil {
		t.Error("mode 2 accepted")
	}
}

func TestPadV2(t *testing.T) {
	in := tensorOf(Float32, []int{2, 2}, 1, 2, 3, 4)
	out := run1(t, "PADV2", newPadV2, nil, tensorOf(Float32, nil), in, constI32([]int{2, 2}, 1, 0, 0, 1), constOf(Float32, []int{}, -7.5))
	checkValues(t, out, []float64{-7.5, -7.5, -7.5, 1, 2, -7.5, 3, 4, -7.5}, "PADV2 float")
	// 8-bit: the constant's raw value; without it, the zero point.
	q := quant8(UInt8, []int{1, 2}, 0.1, 7, 10, 20)
	out = run1(t, "PADV2", newPadV2, nil, qOut(UInt8, 0.1, 7), q, constI32([]int{2, 2}, 0, 0, 1, 1), withQuant(constOf(UInt8, []int{}, 200), 0.1, 7))
	checkValues(t, out, []float64{200, 10, 20, 200}, "PADV2 u8")
	out = run1(t, "PADV2", newPadV2, nil, qOut(UInt8, 0.1, 7), q, constI32([]int{2, 2}, 0, 0, 2, 0))
	checkValues(t, out, []float64{7, 7, 10, 20}, "PADV2 u8 without constant")
	// int64 elements.
	l := tensorOf(Int64, []int{2}, 5, 6)
	out = run1(t, "PADV2", newPadV2, nil, newTensor("o", Int64, nil, nil), l, constI32([]int{1, 2}, 1, 2), constOf(Int64, []int{1}, 1<<40))
	checkValues(t, out, []float64{1 << 40, 5, 6, 1 << 40, 1 << 40}, "PADV2 int64")
	for name, cv := range map[string]*Tensor{
		"type":         constOf(Int32, []int{}, 1),
		"two values":   constOf(Float32, []int{2}, 1, 2),
		"quantization": withQuant(constOf(UInt8, []int{}, 1), 0.2, 7),
	} {
		src, o := in, tensorOf(Float32, nil)
		if cv.typ == UInt8 {
			src, o = q, qOut(UInt8, 0.1, 7)
		}
		if err := runOp(t, "PADV2", newPadV2, nil, []*Tensor{src, constI32([]int{2, 2}, 0, 0, 1, 1), cv}, []*Tensor{o}); err == nil {
			t.Errorf("constant_values %s accepted", name)
		}
	}
}
