package tflite

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Single-op golden tests against the official TensorFlow Lite runtime. Each case in
// kernelGoldens is a one-operator model; testdata/kernels/<case>/ holds the model, its inputs
// (input<i>.bin) and the official runtime's outputs (want.json). They are made by
//
//	go test -tags goldengen -run TestGenerateKernelGoldens ./tflite/ && tflite/testdata/kernels/make.sh
//
// (the first step writes the models and inputs, the second runs LiteRT.js, or for cases marked
// native the official C library, on them). The test
// below runs each model through this package's interpreter: quantized outputs must be within one
// step of the official ones (the number of differing elements is logged), float outputs within
// 1e-4 absolute + 1e-3 relative.

const kernelGoldenDir = "testdata/kernels"

// gTensor describes one tensor of a golden model. Tensors with data are constants.
type gTensor struct {
	typ   DataType
	shape []int32
	scale float32 // 0: not quantized
	zp    int64
	data  []byte
	// gen says how the generator fills an input: "" random (floats in ±6, integers in ±20,
	// bools 0 or 1, 8-bit bytes any value), "pos" positive values, "small" 8-bit values near the
	// zero point (±20).
	gen string
}

// with returns g with input generator gen.
func (g gTensor) with(gen string) gTensor { g.gen = gen; return g }

type kernelGolden struct {
	// native runs the case on the official C library (shared/tfnative) instead of LiteRT.js, for
	// ops LiteRT.js gets wrong: its XNNPACK int8 SUM, and SHAPE outputs, which it does not copy
	// out.
	native   bool
	name     string
	op       int32
	optsType uint8 // BuiltinOptions union type, 0 for none
	opts     fbt
	tensors  []gTensor
	inputs   []int32 // tensor indices; the non-constant ones are the model inputs
	outputs  []int32
}

func gq(typ DataType, shape []int32, scale float32, zp int64) gTensor {
	return gTensor{typ: typ, shape: shape, scale: scale, zp: zp}
}

func gf(shape ...int32) gTensor { return gTensor{typ: Float32, shape: shape} }

func gi32(v ...int32) gTensor {
	return gTensor{typ: Int32, shape: []int32{int32(len(v))}, data: int32Bytes(v...)}
}

// gc is a constant of the given type and shape with raw bytes data.
func gc(typ DataType, shape []int32, data []byte) gTensor {
	return gTensor{typ: typ, shape: shape, data: data}
}

// gcq is a quantized 8-bit constant.
func gcq(typ DataType, shape []int32, scale float32, zp int64, data []byte) gTensor {
	return gTensor{typ: typ, shape: shape, scale: scale, zp: zp, data: data}
}

// gt is an activation of any type.
func gt(typ DataType, shape ...int32) gTensor { return gTensor{typ: typ, shape: shape} }

// gout is an output of the given type whose shape the generator infers.
func gout(typ DataType) gTensor { return gTensor{typ: typ} }

// binaryGolden is in0 (op) in1 -> out.
func binaryGolden(name string, op int32, optsType uint8, act int8, a, b, out gTensor) kernelGolden {
	var opts fbt
	if optsType != 0 {
		opts = fbt{act}
	}
	return kernelGolden{name: name, op: op, optsType: optsType, opts: opts,
		tensors: []gTensor{a, b, out}, inputs: []int32{0, 1}, outputs: []int32{2}}
}

// unaryGolden is op(in0) -> out, with optional constant extra inputs.
func unaryGolden(name string, op int32, optsType uint8, opts fbt, in, out gTensor, consts ...gTensor) kernelGolden {
	ts := append([]gTensor{in}, consts...)
	ins := []int32{0}
	for i := range consts {
		ins = append(ins, int32(1+i))
	}
	ts = append(ts, out)
	return kernelGolden{name: name, op: op, optsType: optsType, opts: opts, tensors: ts, inputs: ins, outputs: []int32{int32(len(ts) - 1)}}
}

// kernelGoldens are the cases of the first ops (coreGoldens) and of the ops added after them
// (opGoldens, in kernels_golden_ops_test.go).
var kernelGoldens = slices.Concat(coreGoldens, opGoldens)

var coreGoldens = []kernelGolden{
	binaryGolden("add_u8_bcast", opAdd, optAdd, actNone, gq(UInt8, []int32{1, 4, 4, 8}, 0.05, 120), gq(UInt8, []int32{8}, 0.07, 130), gq(UInt8, nil, 0.1, 128)),
	binaryGolden("add_i8_relu6", opAdd, optAdd, actRelu6, gq(Int8, []int32{2, 3, 8}, 0.03, -5), gq(Int8, []int32{1, 3, 1}, 0.02, 7), gq(Int8, nil, 0.04, -20)),
	binaryGolden("add_f32_relu", opAdd, optAdd, actRelu, gf(2, 1, 4), gf(3, 1), gf()),
	binaryGolden("sub_u8", opSub, optSub, actNone, gq(UInt8, []int32{1, 5, 5, 4}, 0.1, 128), gq(UInt8, []int32{1, 1, 1, 4}, 0.05, 100), gq(UInt8, nil, 0.12, 140)),
	binaryGolden("sub_i8", opSub, optSub, actNone, gq(Int8, []int32{4, 16}, 0.02, 10), gq(Int8, []int32{4, 16}, 0.02, -3), gq(Int8, nil, 0.03, 0)),
	binaryGolden("mul_u8_relu", opMul, optMul, actRelu, gq(UInt8, []int32{1, 4, 4, 8}, 0.05, 128), gq(UInt8, []int32{1}, 0.02, 0), gq(UInt8, nil, 0.01, 100)),
	binaryGolden("mul_i8", opMul, optMul, actNone, gq(Int8, []int32{2, 8}, 0.05, 3), gq(Int8, []int32{2, 8}, 0.04, -7), gq(Int8, nil, 0.08, 2)),
	unaryGolden("logistic_u8", opLogistic, 0, nil, gq(UInt8, []int32{1, 256}, 0.0625, 128), gq(UInt8, nil, 1.0/256, 0)),
	unaryGolden("logistic_i8", opLogistic, 0, nil, gq(Int8, []int32{1, 256}, 0.05, -10), gq(Int8, nil, 1.0/256, -128)),
	unaryGolden("logistic_f32", opLogistic, 0, nil, gf(4, 64), gf()),
	unaryGolden("tanh_u8", opTanh, 0, nil, gq(UInt8, []int32{1, 256}, 0.03, 128), gq(UInt8, nil, 1.0/128, 128)),
	unaryGolden("tanh_i8", opTanh, 0, nil, gq(Int8, []int32{1, 256}, 0.03, 0), gq(Int8, nil, 1.0/128, 0)),
	unaryGolden("tanh_f32", opTanh, 0, nil, gf(4, 64), gf()),
	unaryGolden("hard_swish_u8", opHardSwish, 0, nil, gq(UInt8, []int32{1, 256}, 0.05, 100), gq(UInt8, nil, 0.03, 20)),
	unaryGolden("hard_swish_i8", opHardSwish, 0, nil, gq(Int8, []int32{1, 256}, 0.04, 0), gq(Int8, nil, 0.025, -90)),
	unaryGolden("hard_swish_f32", opHardSwish, 0, nil, gf(4, 64), gf()),
	unaryGolden("relu_u8", opRelu, 0, nil, gq(UInt8, []int32{1, 256}, 0.1, 128), gq(UInt8, nil, 0.05, 0)),
	unaryGolden("relu6_i8", opRelu6, 0, nil, gq(Int8, []int32{1, 256}, 0.05, 0), gq(Int8, nil, 0.03, -128)),
	unaryGolden("relu_n1_to_1_u8", opReluN1To1, 0, nil, gq(UInt8, []int32{1, 256}, 0.02, 128), gq(UInt8, nil, 1.0/128, 128)),
	unaryGolden("softmax_u8", opSoftmax, optSoftmax, fbt{float32(1)}, gq(UInt8, []int32{2, 1001}, 0.1, 128), gq(UInt8, nil, 1.0/256, 0)),
	unaryGolden("softmax_i8", opSoftmax, optSoftmax, fbt{float32(1)}, gq(Int8, []int32{3, 10}, 0.2, 0), gq(Int8, nil, 1.0/256, -128)),
	unaryGolden("softmax_f32", opSoftmax, optSoftmax, fbt{float32(0.5)}, gf(3, 50), gf()),
	{name: "concat_u8_requant", op: opConcatenation, optsType: optConcatenation, opts: fbt{int32(1)},
		tensors: []gTensor{gq(UInt8, []int32{1, 3, 4}, 0.1, 128), gq(UInt8, []int32{1, 5, 4}, 0.05, 100), gq(UInt8, []int32{1, 2, 4}, 0.1, 128), gq(UInt8, nil, 0.1, 128)},
		inputs:  []int32{0, 1, 2}, outputs: []int32{3}},
	{name: "concat_f32", op: opConcatenation, optsType: optConcatenation, opts: fbt{int32(-1)},
		tensors: []gTensor{gf(2, 3, 2), gf(2, 3, 5), gf()}, inputs: []int32{0, 1}, outputs: []int32{2}},
	unaryGolden("mean_u8_spatial", opMean, optReducer, fbt{true}, gq(UInt8, []int32{1, 7, 7, 16}, 0.1, 128), gq(UInt8, nil, 0.05, 100), gi32(1, 2)),
	unaryGolden("mean_u8_same", opMean, optReducer, fbt{true}, gq(UInt8, []int32{1, 5, 5, 8}, 0.1, 128), gq(UInt8, nil, 0.1, 128), gi32(1, 2)),
	unaryGolden("mean_i8_spatial", opMean, optReducer, fbt{false}, gq(Int8, []int32{1, 5, 5, 8}, 0.04, -3), gq(Int8, nil, 0.02, 5), gi32(1, 2)),
	unaryGolden("mean_f32_last", opMean, optReducer, fbt{false}, gf(2, 3, 10), gf(), gi32(-1)),
	unaryGolden("resize_bilinear_u8", opResizeBilinear, optResizeBilinear, fbt{nil, nil, false, false}, gq(UInt8, []int32{1, 5, 7, 3}, 0.1, 0), gq(UInt8, nil, 0.1, 0), gi32(9, 11)),
	unaryGolden("resize_bilinear_u8_align", opResizeBilinear, optResizeBilinear, fbt{nil, nil, true, false}, gq(UInt8, []int32{1, 5, 7, 3}, 0.1, 0), gq(UInt8, nil, 0.1, 0), gi32(9, 11)),
	unaryGolden("resize_bilinear_u8_half", opResizeBilinear, optResizeBilinear, fbt{nil, nil, false, true}, gq(UInt8, []int32{1, 5, 7, 3}, 0.1, 0), gq(UInt8, nil, 0.1, 0), gi32(9, 11)),
	unaryGolden("resize_bilinear_i8_half", opResizeBilinear, optResizeBilinear, fbt{nil, nil, false, true}, gq(Int8, []int32{1, 6, 6, 2}, 0.1, 0), gq(Int8, nil, 0.1, 0), gi32(4, 9)),
	unaryGolden("resize_bilinear_f32_half", opResizeBilinear, optResizeBilinear, fbt{nil, nil, false, true}, gf(1, 5, 7, 3), gf(), gi32(9, 4)),
	unaryGolden("resize_bilinear_f32_align", opResizeBilinear, optResizeBilinear, fbt{nil, nil, true, false}, gf(1, 5, 7, 3), gf(), gi32(9, 4)),
	unaryGolden("resize_nearest_u8", opResizeNearestNeighbor, optResizeNearest, fbt{false, false}, gq(UInt8, []int32{1, 5, 7, 3}, 0.1, 0), gq(UInt8, nil, 0.1, 0), gi32(9, 11)),
	unaryGolden("resize_nearest_u8_align", opResizeNearestNeighbor, optResizeNearest, fbt{true, false}, gq(UInt8, []int32{1, 5, 7, 3}, 0.1, 0), gq(UInt8, nil, 0.1, 0), gi32(9, 11)),
	unaryGolden("resize_nearest_f32_half", opResizeNearestNeighbor, optResizeNearest, fbt{false, true}, gf(1, 5, 7, 3), gf(), gi32(9, 4)),
	unaryGolden("quantize_f32_u8", opQuantize, 0, nil, gf(4, 64), gq(UInt8, nil, 0.05, 128)),
	unaryGolden("quantize_f32_i8", opQuantize, 0, nil, gf(4, 64), gq(Int8, nil, 0.03, -4)),
	unaryGolden("quantize_u8_i8", opQuantize, 0, nil, gq(UInt8, []int32{1, 256}, 0.05, 128), gq(Int8, nil, 0.07, -10)),
	unaryGolden("quantize_i8_u8", opQuantize, 0, nil, gq(Int8, []int32{1, 256}, 0.05, 0), gq(UInt8, nil, 0.05, 128)),
	unaryGolden("dequantize_u8", opDequantize, 0, nil, gq(UInt8, []int32{1, 256}, 0.05, 128), gf()),
	unaryGolden("dequantize_i8", opDequantize, 0, nil, gq(Int8, []int32{1, 256}, 0.03, -7), gf()),
	unaryGolden("pad_u8", opPad, optPad, nil, gq(UInt8, []int32{1, 3, 3, 2}, 0.1, 100), gq(UInt8, nil, 0.1, 100),
		gTensor{typ: Int32, shape: []int32{4, 2}, data: int32Bytes(0, 0, 1, 2, 2, 1, 0, 0)}),
	unaryGolden("pad_f32", opPad, optPad, nil, gf(2, 3), gf(), gTensor{typ: Int32, shape: []int32{2, 2}, data: int32Bytes(1, 1, 0, 2)}),
	unaryGolden("transpose_i8", opTranspose, optTranspose, nil, gq(Int8, []int32{2, 3, 4, 5}, 0.1, 0), gq(Int8, nil, 0.1, 0), gi32(2, 0, 3, 1)),
	unaryGolden("transpose_f32", opTranspose, optTranspose, nil, gf(3, 4, 5), gf(), gi32(1, 2, 0)),
	unaryGolden("strided_slice_f32", opStridedSlice, optStridedSlice, fbt{int32(1), int32(0), int32(0), int32(0), int32(0)}, gf(4, 6, 5), gf(),
		gi32(0, 5, 1), gi32(3, 0, -1), gi32(2, -2, 1)),
	unaryGolden("strided_slice_u8_shrink", opStridedSlice, optStridedSlice, fbt{int32(0), int32(2), int32(0), int32(0), int32(1)}, gq(UInt8, []int32{3, 4, 5}, 0.1, 0), gq(UInt8, nil, 0.1, 0),
		gi32(-1, 1, 0), gi32(0, 0, 5), gi32(1, 1, 2)),
	// x[newaxis, ..., 1:3]
	unaryGolden("strided_slice_f32_ellipsis_newaxis", opStridedSlice, optStridedSlice, fbt{int32(0), int32(0), int32(2), int32(1), int32(0)}, gf(2, 3, 4), gf(),
		gi32(0, 0, 1), gi32(0, 0, 3), gi32(1, 1, 1)),
	// end relative to begin: rows 2:5, columns 3:1:-1.
	unaryGolden("strided_slice_f32_offset", opStridedSlice, optStridedSlice, fbt{int32(0), int32(0), int32(0), int32(0), int32(0), true}, gf(10, 4), gf(),
		gi32(2, 3), gi32(3, -2), gi32(1, -1)),
}

type kernelGoldenOutput struct {
	DType string    `json:"dtype"`
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

func TestKernelGoldens(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(kernelGoldenDir, "*", "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	var found, names []string
	for _, d := range dirs {
		found = append(found, filepath.Base(filepath.Dir(d)))
	}
	for _, c := range kernelGoldens {
		names = append(names, c.name)
	}
	slices.Sort(found)
	slices.Sort(names)
	if !slices.Equal(found, names) {
		t.Fatalf("golden cases on disk %v, want %v", found, names)
	}
	for _, c := range kernelGoldens {
		t.Run(c.name, func(t *testing.T) { runKernelGolden(t, filepath.Join(kernelGoldenDir, c.name)) })
	}
}

func runKernelGolden(t *testing.T, dir string) {
	m, err := LoadFile(filepath.Join(dir, "model.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	for i := range ip.InputCount() {
		b, err := os.ReadFile(filepath.Join(dir, "input"+string(rune('0'+i))+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		if err := ip.Input(i).CopyFrom(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		OK      *bool                `json:"ok"` // LiteRT.js writes it; tfnative writes only on success
		Outputs []kernelGoldenOutput `json:"outputs"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if want.OK != nil && !*want.OK || len(want.Outputs) != ip.OutputCount() {
		t.Fatalf("want.json: ok=%v with %d outputs, model has %d", want.OK != nil && *want.OK, len(want.Outputs), ip.OutputCount())
	}
	for o, w := range want.Outputs {
		got := ip.Output(o)
		if !slices.Equal(got.shape, w.Shape) && !(len(w.Shape) == 0 && got.NumElements() == len(w.Data)) {
			t.Fatalf("output %d shape %v, want %v", o, got.shape, w.Shape)
		}
		if got.NumElements() != len(w.Data) {
			t.Fatalf("output %d has %d elements, want %d", o, got.NumElements(), len(w.Data))
		}
		if exact := exactValues(got); exact != nil {
			for i, v := range exact {
				if v != w.Data[i] {
					t.Fatalf("output %d [%d] = %v, want %v", o, i, v, w.Data[i])
				}
			}
			continue
		}
		if got.typ == Float32 {
			for i, v := range got.Float32s() {
				if d := math.Abs(float64(v) - w.Data[i]); d > 1e-4+1e-3*math.Abs(w.Data[i]) {
					t.Fatalf("output %d [%d] = %v, want %v", o, i, v, w.Data[i])
				}
			}
			continue
		}
		diff := 0
		for i, q := range qValues(got) {
			d := float64(q) - w.Data[i]
			if math.Abs(d) > 1 {
				t.Fatalf("output %d [%d] = %d, want %v (more than one step)", o, i, q, w.Data[i])
			}
			if d != 0 {
				diff++
			}
		}
		t.Logf("output %d: %d of %d elements one step off the official runtime", o, diff, len(w.Data))
	}
}

// exactValues returns the values of an integer or bool tensor that is not quantized, which must
// equal the official runtime's; nil for float and quantized tensors.
func exactValues(t *Tensor) []float64 {
	if is8bit(t.typ) && t.quant != nil {
		return nil
	}
	switch t.typ {
	case Int32:
		return toF64(t.Int32s())
	case Int64:
		return toF64(t.Int64s())
	case Int16:
		return toF64(toI32(viewAs[int16](t.data)))
	case Bool, UInt8:
		return toF64(toI32(t.data))
	case Int8:
		return toF64(toI32(t.Int8s()))
	}
	return nil
}

func toI32[T int8 | uint8 | int16](v []T) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

// intBytes encodes integer values as the little-endian elements of type typ.
func intBytes(typ DataType, vals []int64) []byte {
	b := make([]byte, 0, len(vals)*typ.Size())
	for _, v := range vals {
		switch typ.Size() {
		case 1:
			b = append(b, byte(v))
		case 2:
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		case 4:
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		default:
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	}
	return b
}
