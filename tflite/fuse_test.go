package tflite

import (
	"math/rand"
	"slices"
	"testing"
)

// withoutFusion keeps every operator of the model (fuse.go), for comparisons.
func withoutFusion() Option { return func(c *config) { c.noFusion = true } }

// reluModel is t = x + c, then act(t) = y, with the graph outputs named by outs: tensor 0 is
// x [6], 1 c, 2 t, 3 y, and with extra set, z = t + t (tensor 4) reads t as well.
func reluModel(act int32, extra bool, outs ...int32) []byte {
	tensors := []fbt{
		tTensor("x", Float32, []int32{6}, 0),
		tTensor("c", Float32, []int32{6}, 1),
		tTensor("t", Float32, []int32{6}, 0),
		tTensor("y", Float32, []int32{6}, 0),
		tTensor("z", Float32, []int32{6}, 0),
	}
	opcodes := []fbt{tOpcode(opAdd), tOpcode(act)}
	ops := []fbt{
		tOp(0, []int32{0, 1}, []int32{2}, optAdd, fbt{}),
		tOp(1, []int32{2}, []int32{3}, 0, nil),
	}
	if extra {
		ops = append(ops, tOp(0, []int32{2, 2}, []int32{4}, optAdd, fbt{}))
	}
	buffers := []fbt{tBuffer(nil), tBuffer(float32Bytes(0, 0, 0, 0, 0, 0))}
	return encodeFB(tModel(opcodes, []fbt{tSubgraph(tensors, []int32{0}, outs, ops)}, buffers), "TFL3")
}

func fusedCount(ip *Interpreter) int {
	n := 0
	for _, k := range ip.kernels {
		if _, ok := k.(fusedKernel); ok {
			n++
		}
	}
	return n
}

// TestFuseActivations: a RELU, RELU6 or RELU_N1_TO_1 whose input nothing else reads becomes the
// ADD's fused activation and gives the same values; one whose input is also a graph output or
// read by another operator stays, and that input keeps its unclamped values.
func TestFuseActivations(t *testing.T) {
	x := []float32{-3, -1, -0.5, 0.5, 2, 7}
	for _, c := range []struct {
		name  string
		act   int32
		extra bool
		outs  []int32
		fused int
		want  map[int][]float32 // output index -> values
	}{
		{"relu", opRelu, false, []int32{3}, 1, map[int][]float32{0: {0, 0, 0, 0.5, 2, 7}}},
		{"relu6", opRelu6, false, []int32{3}, 1, map[int][]float32{0: {0, 0, 0, 0.5, 2, 6}}},
		{"relu_n1_to_1", opReluN1To1, false, []int32{3}, 1, map[int][]float32{0: {-1, -1, -0.5, 0.5, 1, 1}}},
		{"input is a graph output", opRelu, false, []int32{3, 2}, 0, map[int][]float32{0: {0, 0, 0, 0.5, 2, 7}, 1: x}},
		{"input read by another op", opRelu6, true, []int32{3, 4}, 0,
			map[int][]float32{0: {0, 0, 0, 0.5, 2, 6}, 1: {-6, -2, -1, 1, 4, 14}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Load(reluModel(c.act, c.extra, c.outs...))
			if err != nil {
				t.Fatal(err)
			}
			ip, err := NewInterpreter(m)
			if err != nil {
				t.Fatal(err)
			}
			defer ip.Close()
			if got := fusedCount(ip); got != c.fused {
				t.Errorf("%d operators fused, want %d", got, c.fused)
			}
			copy(ip.Input(0).Float32s(), x)
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
			for i, want := range c.want {
				if got := ip.Output(i).Float32s(); !slices.Equal(got, want) {
					t.Errorf("output %d = %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestFuseActivationsBlazeFace: BlazeFace's RELUs (after its first convolution and after every
// residual ADD) are all fused, the outputs are the unfused interpreter's bit for bit (a clamp in
// the producer's store is the RELU's max), and the arena is no larger.
func TestFuseActivationsBlazeFace(t *testing.T) {
	m, err := LoadFile("testdata/blazeface/face_detection_short_range.tflite")
	if err != nil {
		t.Fatal(err)
	}
	fused, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer fused.Close()
	plain, err := NewInterpreter(m, withoutFusion())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	relus := 0
	for _, n := range plain.nodes {
		if n.op == "RELU" {
			relus++
		}
	}
	if got := fusedCount(fused); relus == 0 || got != relus || fusedCount(plain) != 0 {
		t.Fatalf("%d RELUs, %d fused (%d without fusion)", relus, got, fusedCount(plain))
	}
	if fused.ArenaSize() > plain.ArenaSize() {
		t.Errorf("arena %d bytes fused, %d not", fused.ArenaSize(), plain.ArenaSize())
	}
	r := rand.New(rand.NewSource(1))
	for i := range fused.Input(0).Float32s() {
		v := r.Float32()*2 - 1
		fused.Input(0).Float32s()[i], plain.Input(0).Float32s()[i] = v, v
	}
	if err := fused.Invoke(); err != nil {
		t.Fatal(err)
	}
	if err := plain.Invoke(); err != nil {
		t.Fatal(err)
	}
	for o := range fused.OutputCount() {
		got, want := fused.Output(o).Float32s(), plain.Output(o).Float32s()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("output %d [%d] = %v fused, %v not", o, i, got[i], want[i])
			}
		}
	}
}
