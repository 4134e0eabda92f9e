package tflite

import (
	"math/rand/v2"
	"testing"
)

func TestPackUnpack(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, shape := range [][]int{{}, {4}, {2, 3}, {17, 2}, {1, 2, 3, 2}} {
		for _, typ := range []DataType{Float32, Int8, Int32, Int64} {
			for count := 1; count <= 3; count++ {
				for axis := -len(shape) - 1; axis <= len(shape); axis++ {
					ins := make([]*Tensor, count)
					for i := range ins {
						ins[i] = randTensor(r, typ, shape)
						if typ == Int8 {
							withQuant(ins[i], 0.2, -9)
						}
					}
					out := newTensor("o", typ, nil, nil)
					if typ == Int8 {
						withQuant(out, 0.2, -9)
					}
					if err := runOp(t, "PACK", newPack, mapOptions{0: int32(count), 1: int32(axis)}, ins, []*Tensor{out}); err != nil {
						t.Fatal(err)
					}
					a := axis
					if a < 0 {
						a += len(shape) + 1
					}
					wantShape := append(append(append([]int{}, shape[:a]...), count), shape[a:]...)
					checkShape(t, out, wantShape, "PACK")
					got := rawValues(out)
					for o := range got {
						oi := unravel(o, wantShape)
						src := append(append([]int{}, oi[:a]...), oi[a+1:]...)
						if want := rawValues(ins[oi[a]])[ravel(src, shape)]; got[o] != want {
							t.Fatalf("PACK %v axis %d: [%v] = %v, want %v", shape, axis, oi, got[o], want)
						}
					}
					// UNPACK along the same axis gives the inputs back.
					if len(wantShape) == 0 {
						continue
					}
					outs := make([]*Tensor, count)
					for i := range outs {
						outs[i] = newTensor("u", typ, nil, out.quant)
					}
					if err := runOp(t, "UNPACK", newUnpack, mapOptions{0: int32(count), 1: int32(axis)}, []*Tensor{out}, outs); err != nil {
						t.Fatal(err)
					}
					for i, u := range outs {
						checkShape(t, u, shape, "UNPACK")
						checkValues(t, u, rawValues(ins[i]), "UNPACK")
					}
				}
			}
		}
	}
}

func TestPackErrors(t *testing.T) {
	a, b := tensorOf(Float32, []int{2}), tensorOf(Float32, []int{3})
	cases := []struct {
		name string
		opts mapOptions
		ins  []*Tensor
		out  *Tensor
	}{
		{"count mismatch", mapOptions{0: int32(3)}, []*Tensor{a, a}, tensorOf(Float32, nil)},
		{"shapes differ", mapOptions{0: int32(2)}, []*Tensor{a, b}, tensorOf(Float32, nil)},
		{"axis", mapOptions{0: int32(2), 1: int32(3)}, []*Tensor{a, a}, tensorOf(Float32, nil)},
		{"types differ", mapOptions{0: int32(2)}, []*Tensor{a, tensorOf(Int32, []int{2})}, tensorOf(Float32, nil)},
		{"quantization differs", mapOptions{0: int32(2)}, []*Tensor{quant8(Int8, []int{2}, 0.1, 0), quant8(Int8, []int{2}, 0.2, 0)}, qOut(Int8, 0.1, 0)},
	}
	for _, c := range cases {
		if err := runOp(t, "PACK", newPack, c.opts, c.ins, []*Tensor{c.out}); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	in := tensorOf(Float32, []int{2, 3})
	for name, c := range map[string]struct {
		opts mapOptions
		outs int
	}{
		"num is not the dimension": {mapOptions{0: int32(3), 1: int32(0)}, 3},
		"num is not the outputs":   {mapOptions{0: int32(2), 1: int32(0)}, 3},
		"axis":                     {mapOptions{0: int32(2), 1: int32(2)}, 2},
	} {
		outs := make([]*Tensor, c.outs)
		for i := range outs {
			outs[i] = tensorOf(Float32, nil)
		}
		if err := runOp(t, "UNPACK", newUnpack, c.opts, []*Tensor{in}, outs); err == nil {
			t.Errorf("UNPACK %s: no error", name)
		}
	}
}
