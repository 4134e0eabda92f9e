package tflite

import (
	"math"
	"testing"
)

func TestCast(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	cases := []struct {
		from, to DataType
		in, want []float64
	}{
		// Truncation toward zero; saturation and NaN as the ARM and WASM builds do.
		{Float32, Int32, []float64{1.9, -1.9, 0.5, -0.5, 3e9, -3e9, inf, nan}, []float64{1, -1, 0, 0, math.MaxInt32, math.MinInt32, math.MaxInt32, 0}},
		{Float32, Int64, []float64{-7.99, 1e19, -1e19}, []float64{-7, math.MaxInt64, math.MinInt64}},
		{Float32, UInt8, []float64{255.9, -3, 300}, []float64{255, 0, 255}},
		{Float32, Int8, []float64{-128.5, 127.9, -200}, []float64{-128, 127, -128}},
		{Float32, Bool, []float64{0, -0.0, 0.001, nan}, []float64{0, 0, 1, 1}},
		// Integers keep their low bits when narrowed.
		{Int32, UInt8, []float64{256, 257, -1}, []float64{0, 1, 255}},
		{Int32, Int8, []float64{200, -129}, []float64{-56, 127}},
		{Int64, Int32, []float64{1 << 33, -(1 << 33) - 5}, []float64{0, -5}},
		{Int32, Float32, []float64{16777217, -3}, []float64{16777216, -3}},
		{UInt8, Float32, []float64{0, 255}, []float64{0, 255}},
		{Int8, Int32, []float64{-128, 127}, []float64{-128, 127}},
		{Int16, Float32, []float64{-32768}, []float64{-32768}},
		{Bool, Int32, []float64{1, 0}, []float64{1, 0}},
		{Int32, Bool, []float64{0, -5, 7}, []float64{0, 1, 1}},
		{Float64, Float32, []float64{1.0000000001}, []float64{1}},
	}
	for _, c := range cases {
		in := tensorOf(c.from, []int{len(c.in)}, c.in...)
		out := run1(t, "CAST", newCast, nil, newTensor("o", c.to, nil, nil), in)
		checkValues(t, out, c.want, c.from.String()+" to "+c.to.String())
	}
	// float16 input.
	h := newTensor("h", Float16, []int{3}, nil)
	copy(viewAs[uint16](h.data), []uint16{0x3c00, 0xc000, 0x7e00}) // 1, -2, NaN
	checkValues(t, run1(t, "CAST", newCast, nil, newTensor("o", Int32, nil, nil), h), []float64{1, -2, 0}, "float16")
	checkValues(t, run1(t, "CAST", newCast, nil, newTensor("o", Bool, nil, nil), h), []float64{1, 1, 1}, "float16 to bool")
}

func TestCastErrors(t *testing.T) {
	for _, c := range [][2]DataType{{String, Int32}, {Float32, Float16}, {Float32, String}} {
		err := runOp(t, "CAST", newCast, nil, []*Tensor{newTensor("i", c[0], []int{2}, nil)}, []*Tensor{newTensor("o", c[1], nil, nil)})
		wantErr(t, err, true)
	}
}
