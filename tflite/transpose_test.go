package tflite

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTranspose(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, typ := range []DataType{Float32, UInt8, Int8, Int32, Int64} {
		for rank := 1; rank <= 6; rank++ {
			shape := make([]int, rank)
			for d := range shape {
				shape[d] = 1 + r.IntN(4)
			}
			perm := r.Perm(rank)
			p32 := make([]int32, rank)
			for i, p := range perm {
				p32[i] = int32(p)
			}
			if rank > 1 {
				p32[0] -= int32(rank) // negative entries count from the end
			}
			in := newTensor("in", typ, shape, &Quantization{Scale: []float32{1}, ZeroPoint: []int64{0}})
			for i := range in.data {
				in.data[i] = byte(r.Uint32())
			}
			out := newTensor("out", typ, nil, in.quant)
			if err := runOp(t, "TRANSPOSE", newTranspose, nil, []*Tensor{in, constI32([]int{rank}, p32...)}, []*Tensor{out}); err != nil {
				t.Fatal(err)
			}
			want := make([]int, rank)
			for i, p := range perm {
				want[i] = shape[p]
			}
			if !slices.Equal(out.shape, want) {
				t.Fatalf("%v perm %v: shape %v, want %v", shape, perm, out.shape, want)
			}
			size := typ.Size()
			for i := range numElements(want) {
				oi := unravel(i, want)
				ii := make([]int, rank)
				for d, p := range perm {
					ii[p] = oi[d]
				}
				src := 0
				for d := range shape {
					src = src*shape[d] + ii[d]
				}
				if !slices.Equal(out.data[i*size:(i+1)*size], in.data[src*size:(src+1)*size]) {
					t.Fatalf("%v %v perm %v: element %v differs", typ, shape, perm, oi)
				}
			}
		}
	}
	// Hand-computed 2x3 transpose.
	out := tensorF32(nil)
	if err := runOp(t, "TRANSPOSE", newTranspose, nil, []*Tensor{tensorF32([]int{2, 3}, 1, 2, 3, 4, 5, 6), constI32([]int{2}, 1, 0)}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.Float32s(), []float32{1, 4, 2, 5, 3, 6}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestTransposeErrors(t *testing.T) {
	in := tensorF32([]int{2, 3, 4})
	for _, perm := range [][]int32{{0, 1}, {0, 1, 1}, {0, 1, 3}, {0, 1, -4}} {
		wantErr(t, runOp(t, "TRANSPOSE", newTranspose, nil, []*Tensor{in, constI32([]int{len(perm)}, perm...)}, []*Tensor{tensorF32(nil)}), false)
	}
	wantErr(t, runOp(t, "TRANSPOSE", newTranspose, nil, []*Tensor{tensorF32(make([]int, 7)), constI32([]int{7}, 0, 1, 2, 3, 4, 5, 6)}, []*Tensor{tensorF32(nil)}), true)
	wantErr(t, runOp(t, "TRANSPOSE", newTranspose, nil, []*Tensor{in, constI32([]int{3}, 0, 1, 2)}, []*Tensor{constI32(nil)}), true)
}
