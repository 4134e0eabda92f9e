package tflite

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

type fcCase struct {
	name        string
	inShape     []int
	units       int
	depth       int
	keepNumDims bool
	act         int8
	noBias      bool
}

var fcCases = []fcCase{
	{"vector", []int{1, 10}, 7, 10, false, actNone, false},
	{"flattened 4d", []int{1, 2, 2, 3}, 5, 12, false, actRelu, false},
	{"batch 3", []int{3, 9}, 13, 9, false, actRelu6, true},
	{"batch from flattening", []int{2, 3, 8}, 4, 8, false, actNone, false},
	{"keep num dims", []int{2, 3, 8}, 6, 8, true, actReluN1To1, false},
	{"large batch split by rows", []int{70, 17}, 9, 17, false, actNone, false},
	{"many units split by panels", []int{1, 33}, 130, 33, false, actRelu, false},
	{"rank 1 input", []int{6}, 3, 6, false, actNone, true},
}

func (c fcCase) String() string {
	return fmt.Sprintf("%s/%v_u%d_d%d_k%v_a%d_nb%v", c.name, c.inShape, c.units, c.depth, c.keepNumDims, c.act, c.noBias)
}

func (c fcCase) wantShape() []int {
	if c.keepNumDims {
		s := append([]int(nil), c.inShape...)
		s[len(s)-1] = c.units
		return s
	}
	return []int{numElements(c.inShape) / c.depth, c.units}
}

// refFC computes the products (without bias) of input rows and weight rows.
func refFC(c fcCase, in, w []float64) []float64 {
	batch := len(in) / c.depth
	out := make([]float64, batch*c.units)
	for b := 0; b < batch; b++ {
		for u := 0; u < c.units; u++ {
			var s float64
			for i := 0; i < c.depth; i++ {
				s += in[b*c.depth+i] * w[u*c.depth+i]
			}
			out[b*c.units+u] = s
		}
	}
	return out
}

func fcOpts(c fcCase) mapOptions {
	return mapOptions{fcOptAct: c.act, fcOptKeepNumDims: c.keepNumDims}
}

func TestFullyConnectedFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, c := range fcCases {
		for _, threads := range []int{1, 2} {
			in := newTensor("in", Float32, c.inShape, nil)
			w := newTensor("w", Float32, []int{c.units, c.depth}, nil)
			w.constant = threads == 1
			bias := newTensor("bias", Float32, []int{c.units}, nil)
			inV, wV, bV := randFloats(r, in), randFloats(r, w), randFloats(r, bias)
			inputs := []*Tensor{in, w, bias}
			if c.noBias {
				inputs[2] = nil // an optional input given as -1
			}
			out := newTensor("out", Float32, nil, nil)
			if err := runOpPool(t, "FULLY_CONNECTED", newFullyConnected, fcOpts(c), poolFor(t, threads), inputs, []*Tensor{out}); err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			if !sameShape(out.shape, c.wantShape()) {
				t.Fatalf("%v: output shape %v, want %v", c, out.shape, c.wantShape())
			}
			want := refFC(c, toFloat64s(inV), toFloat64s(wV))
			checkFloatOutputs(t, fmt.Sprintf("%v threads %d", c, threads), out, want, bV, c.units, c.act, !c.noBias)
		}
	}
}

func TestFullyConnectedQuantized(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, c := range fcCases {
		for _, v := range []quantVariant{{UInt8, false, 1}, {UInt8, false, 2}, {Int8, false, 1}, {Int8, true, 2}, {Int8, true, 1}} {
			name := fmt.Sprintf("%v/%v perChannel=%v threads=%d", c, v.typ, v.perChannel, v.threads)
			s, out := runQuantConv(t, r, name, "FULLY_CONNECTED", newFullyConnected, fcOpts(c), v,
				c.inShape, []int{c.units, c.depth}, 0, c.noBias)
			if !sameShape(out.shape, c.wantShape()) {
				t.Fatalf("%s: output shape %v, want %v", name, out.shape, c.wantShape())
			}
			acc := refFC(c, s.offsetIn(), s.offsetFilter(func(i int) int { return i / c.depth }))
			s.check(t, name, out, acc, c.units, c.act, !c.noBias)
		}
	}
}

// TestFullyConnectedHandComputed: two rows times a 3x2 weight matrix, with a bias and RELU.
func TestFullyConnectedHandComputed(t *testing.T) {
	in := tensorF32([]int{2, 2}, 1, 2, 3, 4)
	w := tensorF32([]int{3, 2}, 1, 0, 0, 1, 1, -1)
	bias := tensorF32([]int{3}, 0, 0.5, 0)
	out := newTensor("out", Float32, nil, nil)
	if err := runOp(t, "FULLY_CONNECTED", newFullyConnected, mapOptions{fcOptAct: int8(actRelu)}, []*Tensor{in, w, bias}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 2.5, 0, 3, 4.5, 0}
	for i, v := range want {
		if g := out.Float32s()[i]; g != v {
			t.Errorf("output[%d] = %v, want %v", i, g, v)
		}
	}
	// uint8, input (scale 0.5, zp 128), weights (scale 0.25, zp 100), output (scale 1, zp 0):
	// input 130,126 is 1,-1; weights 104,96 are 1,-1; the product 1*1 + -1*-1 = 2.
	qin := qtensor(UInt8, []int{1, 2}, []float32{0.5}, []int64{128}, 0)
	setInts(qin, []int32{130, 126})
	qw := qtensor(UInt8, []int{1, 2}, []float32{0.25}, []int64{100}, 0)
	setInts(qw, []int32{104, 96})
	qout := qtensor(UInt8, nil, []float32{1}, []int64{0}, 0)
	if err := runOp(t, "FULLY_CONNECTED", newFullyConnected, nil, []*Tensor{qin, qw}, []*Tensor{qout}); err != nil {
		t.Fatal(err)
	}
	if g := ints(qout)[0]; g != 2 {
		t.Errorf("uint8 output = %d, want 2", g)
	}
}

func TestFullyConnectedErrors(t *testing.T) {
	f32 := func(shape ...int) *Tensor { return newTensor("t", Float32, shape, nil) }
	i8 := func(shape ...int) *Tensor { return qtensor(Int8, shape, []float32{0.1}, []int64{0}, 0) }
	u8pc := qtensor(UInt8, []int{2, 3}, []float32{0.1, 0.2}, []int64{0, 0}, 0)
	u8 := func(shape ...int) *Tensor { return qtensor(UInt8, shape, []float32{0.1}, []int64{0}, 0) }
	badBias := newTensor("bias", Int32, []int{2}, &Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{0}})
	checkOpErrors(t, "FULLY_CONNECTED", newFullyConnected, []opErrorCase{
		{"weights rank", nil, []*Tensor{f32(1, 6), f32(6)}, false},
		{"input not rows of depth", nil, []*Tensor{f32(1, 7), f32(2, 3)}, false},
		{"keep num dims last dim", mapOptions{fcOptKeepNumDims: true}, []*Tensor{f32(2, 3, 2), f32(2, 6)}, false},
		{"bias size", nil, []*Tensor{f32(1, 3), f32(2, 3), f32(3)}, false},
		{"hybrid", nil, []*Tensor{f32(1, 3), i8(2, 3)}, true},
		{"per-channel uint8", nil, []*Tensor{u8(1, 3), u8pc}, true},
		{"bias scale mismatch", nil, []*Tensor{u8(1, 3), u8(2, 3), badBias}, false},
		{"shuffled weights", mapOptions{fcOptWeightsFormat: int8(1)}, []*Tensor{u8(1, 3), u8(2, 3)}, true},
	})
}

func TestFullyConnectedEvalDoesNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	// Batch 64 splits the work over rows, batch 1 over unit panels.
	for _, batch := range []int{1, 64} {
		checkEvalNoAllocs(t, r, "FULLY_CONNECTED", newFullyConnected, nil, []int{batch, 40}, []int{100, 40}, 0)
	}
}
