package tflite

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantizeFloat(t *testing.T) {
	// scale 0.5: 0.25 is exactly half a step and rounds away from zero.
	in := tensorF32([]int{8}, 0, 0.25, -0.25, 0.74, 1000, -1000, float32(math.NaN()), 63.75)
	out := qOut(UInt8, 0.5, 128)
	if err := runOp(t, "QUANTIZE", newQuantize, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := qValues(out), []int32{128, 129, 127, 129, 255, 0, 0, 255}; !slices.Equal(got, want) {
		t.Errorf("uint8 = %v, want %v", got, want)
	}
	out = qOut(Int8, 0.5, -1)
	if err := runOp(t, "QUANTIZE", newQuantize, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := qValues(out), []int32{-1, 0, -2, 0, 127, -128, -128, 127}; !slices.Equal(got, want) {
		t.Errorf("int8 = %v, want %v", got, want)
	}
	r := rand.New(rand.NewPCG(31, 32))
	v := randF32(r, 500, 10)
	out = qOut(Int8, 0.07, 5)
	if err := runOp(t, "QUANTIZE", newQuantize, nil, []*Tensor{tensorF32([]int{500}, v...)}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	want := make([]int32, len(v))
	for i, x := range v {
		want[i] = refQuantize(Int8, float64(x), 0.07, 5)
	}
	checkWithinOne(t, qValues(out), want, "random int8")
}

func TestQuantizeRequantize(t *testing.T) {
	all := make([]int32, 256)
	for i := range all {
		all[i] = int32(i)
	}
	for _, c := range []struct {
		outTyp DataType
		scale  float32
		zp     int64
	}{
		{Int8, 0.1, 0},    // uint8 -> int8, same scale, zero point shifted by 128
		{Int8, 0.3, -20},  // different scale
		{UInt8, 0.05, 10}, // uint8 -> uint8
	} {
		in := tensorQ(UInt8, []int{256}, 0.1, 128, all...)
		out := qOut(c.outTyp, c.scale, c.zp)
		if err := runOp(t, "QUANTIZE", newQuantize, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
			t.Fatal(err)
		}
		want := make([]int32, 256)
		for i := range want {
			want[i] = refQuantize(c.outTyp, 0.1*float64(i-128), c.scale, c.zp)
		}
		if c.scale == 0.1 {
			for i := range want {
				if got := qValues(out)[i]; got != int32(i-128) {
					t.Fatalf("uint8 %d -> int8 %d, want %d", i, got, i-128)
				}
			}
		}
		checkWithinOne(t, qValues(out), want, "requantize")
	}
}

func TestDequantize(t *testing.T) {
	in := tensorQ(Int8, []int{2, 2}, 0.25, -3, -128, -3, 0, 127)
	out := tensorF32(nil)
	if err := runOp(t, "DEQUANTIZE", newDequantize, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.Float32s(), []float32{-31.25, 0, 0.75, 32.5}; !slices.Equal(got, want) {
		t.Errorf("int8 = %v, want %v", got, want)
	}
	in = tensorQ(UInt8, []int{3}, 0.5, 128, 0, 128, 255)
	if err := runOp(t, "DEQUANTIZE", newDequantize, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	if got, want := out.Float32s(), []float32{-64, 0, 63.5}; !slices.Equal(got, want) {
		t.Errorf("uint8 = %v, want %v", got, want)
	}
	// float16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), +Inf, 0.333251953125 (0x3555).
	h := newTensor("h", Float16, []int{6}, nil)
	copy(viewAs[uint16](h.data), []uint16{0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x3555})
	if err := runOp(t, "DEQUANTIZE", newDequantize, nil, []*Tensor{h}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	want := []float32{1, -2, 65504, float32(math.Ldexp(1, -24)), float32(math.Inf(1)), 0.333251953125}
	if got := out.Float32s(); !slices.Equal(got, want) {
		t.Errorf("float16 = %v, want %v", got, want)
	}
}

func TestQuantizeErrors(t *testing.T) {
	wantErr(t, runOp(t, "QUANTIZE", newQuantize, nil, []*Tensor{tensorF32([]int{2})}, []*Tensor{tensorF32(nil)}), true)
	wantErr(t, runOp(t, "QUANTIZE", newQuantize, nil, []*Tensor{tensorF32([]int{2})}, []*Tensor{qOut(UInt8, 0, 0)}), false)
	wantErr(t, runOp(t, "QUANTIZE", newQuantize, nil, []*Tensor{tensorF32([]int{2})}, []*Tensor{qOut(UInt8, float32(math.Inf(1)), 0)}), false)
	wantErr(t, runOp(t, "DEQUANTIZE", newDequantize, nil, []*Tensor{newTensor("i", Int32, []int{2}, nil)}, []*Tensor{tensorF32(nil)}), true)
	badAxis := newTensor("p", Int8, []int{2, 3}, &Quantization{Scale: []float32{1, 2}, ZeroPoint: []int64{0, 0}, Axis: 1})
	wantErr(t, runOp(t, "DEQUANTIZE", newDequantize, nil, []*Tensor{badAxis}, []*Tensor{tensorF32(nil)}), false)
	badScale := newTensor("p", Int8, []int{2}, &Quantization{Scale: []float32{1, -2}, ZeroPoint: []int64{0, 0}})
	wantErr(t, runOp(t, "DEQUANTIZE", newDequantize, nil, []*Tensor{badScale}, []*Tensor{tensorF32(nil)}), false)
}

func TestDequantizePerChannel(t *testing.T) {
	// Shape [2, 3, 2] quantized along dimension 1 (three channels).
	q := &Quantization{Scale: []float32{0.5, 0.25, 2}, ZeroPoint: []int64{0, 1, -1}, Axis: 1}
	in := newTensor("w", Int8, []int{2, 3, 2}, q)
	vals := []int8{1, -1, 1, 5, 0, -1, 2, 4, -128, 1, 127, 3}
	for i, v := range vals {
		in.data[i] = byte(v)
	}
	out := tensorF32(nil)
	if err := runOp(t, "DEQUANTIZE", newDequantize, nil, []*Tensor{in}, []*Tensor{out}); err != nil {
		t.Fatal(err)
	}
	want := make([]float32, len(vals))
	for i, v := range vals {
		c := (i / 2) % 3
		want[i] = q.Scale[c] * float32(int64(v)-q.ZeroPoint[c])
	}
	if got := out.Float32s(); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
