package tflite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The 8-bit ADD, SUB and MUL kernel against the Go loops (its tables, or for large ops the
// table of results): the same bytes on random quantizations (scales from 1e-4 to 10, so both
// inputs' shifts and the output's vary, zero points over the whole type), every activation,
// rows of 8 to 1000 values with a tail, and the broadcasts it takes (a scalar on either side, a
// row against rows, a value per row), with the types' extremes among the values, on one thread
// and two.
func TestArithQuantizedSIMD(t *testing.T) {
	if !arithQKernel {
		t.Skip("no 8-bit ADD kernel in this build or on this CPU")
	}
	r := rand.New(rand.NewPCG(61, 62))
	shapes := [][2][]int{
		{{1, 16}, {1, 16}}, {{1, 17}, {1, 17}}, {{2, 131}, {2, 131}}, {{1, 1000}, {1, 1000}},
		{{3, 40}, {}}, {{}, {3, 40}}, {{4, 24}, {1, 24}}, {{1, 24}, {5, 24}}, {{3, 40}, {3, 1}},
		{{130, 130}, {130, 130}}, // large enough for the table of results without the kernel
	}
	ops := []struct {
		name string
		f    kernelFactory
	}{{"ADD", newAdd}, {"SUB", newSub}, {"MUL", newMul}}
	scale := func() float32 { return float32(math.Pow(10, -4+5*r.Float64())) }
	for _, typ := range []DataType{UInt8, Int8} {
		lo, hi := typeRange(typ)
		for i := 0; i < 60; i++ {
			zp := func() int64 { return int64(lo + r.Int32N(hi-lo+1)) }
			sa, sb, so := scale(), scale(), scale()
			za, zb, zo := zp(), zp(), zp()
			op := ops[i%3]
			act := []int8{actNone, actRelu, actRelu6, actReluN1To1}[r.IntN(4)]
			if op.name == "MUL" {
				so = sa * sb * float32(1+r.IntN(300)) // a multiplier below one, as TFLite requires
			}
			sh := shapes[i%len(shapes)]
			vals := func(shape []int) []int32 {
				v := randQ(r, typ, numElements(shape))
				for j := range v {
					switch r.IntN(8) {
					case 0:
						v[j] = lo
					case 1:
						v[j] = hi
					}
				}
				return v
			}
			av, bv := vals(sh[0]), vals(sh[1])
			run := func() (*Tensor, bool) {
				a := tensorQ(typ, sh[0], sa, za, av...)
				b := tensorQ(typ, sh[1], sb, zb, bv...)
				out := qOut(typ, so, zo)
				n := &node{op: op.name, inputs: []*Tensor{a, b}, outputs: []*Tensor{out}, opts: mapOptions{0: act}, pool: poolFor(t, 1+i%2)}
				k, err := op.f(n)
				if err == nil {
					err = k.prepare(n)
				}
				if err != nil {
					t.Fatal(err)
				}
				out.data = alignedBytes(out.ByteSize())
				if err := k.eval(n); err != nil {
					t.Fatal(err)
				}
				return out, k.(*arithKernel).simd
			}
			name := fmt.Sprintf("%s %v %v x %v scales %v %v %v zps %d %d %d act %d", op.name, typ, sh[0], sh[1], sa, sb, so, za, zb, zo, act)
			var want *Tensor
			withPortableKernels(func() { want, _ = run() })
			got, used := run()
			if !used {
				t.Fatalf("%s: the kernel did not run", name)
			}
			if !slices.Equal(got.data, want.data) {
				for j := range got.data {
					if got.data[j] != want.data[j] {
						t.Fatalf("%s: output %d = %d, Go loops %d", name, j, got.data[j], want.data[j])
					}
				}
			}
		}
	}
}
