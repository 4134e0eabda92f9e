package tflite

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
)

// fuzzSeeds adds every shipped model and the test-built graphs to the corpus.
func fuzzSeeds(f *testing.F) {
	for _, path := range realModels(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(reshapeModel())
	f.Add(dynamicModel())
	f.Add(chainOfReshapes(3))
	f.Add(newChain().bytes())
	f.Add(shapeArithmeticModel())
	f.Add(runtimeShapeModel())
	f.Add(sparseModel([]int32{4, 4}, fbt{[]int32{0, 1, 2, 3}, []int32{0, 1}, []fbt{
		sparseDimT(2, nil, nil, false), sparseDimT(0, []int32{0, 1, 2}, []int32{0, 1}, false),
		sparseDimT(2, nil, nil, false), sparseDimT(2, nil, nil, true),
	}}, []float32{1, 2, 3, 4, 5, 6, 7, 8}, true))
}

// FuzzLoadModel loads arbitrary bytes as a model, builds an interpreter and, when the model is
// cheap to run, invokes it: nothing may panic or hang, and every load error is classified.
func FuzzLoadModel(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzLoadBody(t, b) })
}

// fuzzLoadBody is FuzzLoadModel's check of one input.
func fuzzLoadBody(t *testing.T, b []byte) {
	m, err := Load(b)
	if err != nil {
		if m != nil {
			t.Fatal("Load returned a model and an error")
		}
		if !errors.Is(err, ErrInvalidModel) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Load error wraps no sentinel: %v", err)
		}
		return
	}
	_ = m.OpCounts()
	_, _ = m.Inputs(), m.Outputs()
	_, _ = m.Metadata()
	_, _ = m.Labels(), m.Signatures()
	if len(b) > 1<<18 {
		// Building an interpreter for the large shipped models copies and prepares megabytes of
		// weights under coverage instrumentation, which would starve the fuzzer; their mutations
		// are still loaded and validated above.
		return
	}
	ip, err := NewInterpreter(m, WithMemoryLimit(4<<20))
	if err != nil {
		return
	}
	defer ip.Close()
	if invokeCost(ip) <= 1<<24 {
		_ = ip.Invoke()
	}
	for i := 0; i < ip.InputCount(); i++ {
		sig := ip.Input(i).ShapeSignature()
		for d := range sig {
			if sig[d] == -1 {
				sig[d] = 2
			}
		}
		if ip.ResizeInput(i, sig) == nil && invokeCost(ip) <= 1<<24 {
			_ = ip.Invoke()
		}
	}
}

// invokeCost is a rough upper bound of the work of one Invoke: for each operator, its output
// elements times its input elements. It keeps the fuzzer from running a hostile graph whose
// convolutions would take minutes.
func invokeCost(ip *Interpreter) int64 {
	var cost int64
	for _, n := range ip.nodes {
		in := int64(1)
		for _, t := range n.inputs {
			if t != nil {
				in += int64(t.NumElements())
			}
		}
		for _, t := range n.outputs {
			cost += int64(t.NumElements()) * in
			if cost > 1<<40 {
				return cost
			}
		}
	}
	return cost
}

// FuzzGraph builds well-formed models from the fuzz input (tensors of the supported types with
// small shapes, constants, quantization, and a chain of supported builtin ops with options) so
// that the kernels' factories, prepare and eval meet hostile graphs the byte-level fuzzer rarely
// reaches: nothing may panic or hang.
func FuzzGraph(f *testing.F) {
	f.Add([]byte{4, 0, 2, 1, 3, 0, 1, 2, 3, 1, 2, 0, 0, 1, 1, 0, 1})
	f.Add([]byte{6, 1, 4, 1, 8, 8, 3, 2, 0, 3, 3, 3, 8, 1, 1, 1, 2, 0, 9, 9, 9})
	f.Add([]byte("a graph of mixed ops with constants and quantization parameters 0123456789"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzLoadBody(t, graphFromBytes(data))
	})
}

// graphFromBytes turns fuzz bytes into a model: every choice reads the next byte (0 once the
// input is exhausted). Each op gets inputs of the kinds its kernel expects (activations from
// earlier ops, constant weights, small int32 parameter tensors), so most graphs get past binding
// and reach prepare and eval.
func graphFromBytes(data []byte) []byte {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	codes := make([]int32, 0, len(builtinKernels))
	for c := range builtinKernels {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	types := []DataType{Float32, UInt8, Int8, Int32, Int64, Bool}
	graphType := types[next()%4]

	var tensors []fbt
	buffers := []fbt{tBuffer(nil)}
	shapes := [][]int32{}
	kinds := []DataType{}
	randShape := func(minRank int) []int32 {
		shape := make([]int32, minRank+next()%(5-minRank))
		for d := range shape {
			shape[d] = int32(1 + next()%4)
			if next()%32 == 0 {
				shape[d] = 0 // empty tensors are legal
			}
		}
		return shape
	}
	quant := func(typ DataType, shape []int32) fbt {
		if typ == Float32 || (typ == Int32 && next()%2 == 0) {
			return nil
		}
		zp := int64(next())
		if typ != UInt8 {
			zp -= 128
		}
		if typ == Int32 {
			zp = 0
		}
		if len(shape) > 0 && next()%4 == 0 {
			// Per-channel along the last or the first dimension.
			axis := len(shape) - 1
			if next()%2 == 0 {
				axis = 0
			}
			n := int(shape[axis])
			scales, zps := make([]float32, n), make([]int64, n)
			for k := range scales {
				scales[k] = float32(1+next()) / 128
			}
			return fbt{nil, nil, scales, zps, nil, nil, int32(axis)}
		}
		return fbt{nil, nil, []float32{float32(1+next()) / 64}, []int64{zp}}
	}
	add := func(typ DataType, shape []int32, raw []byte) int32 {
		tt := fbt{shape, int8(typ), uint32(0), fmt.Sprintf("t%d", len(tensors)), quant(typ, shape)}
		if raw != nil {
			buffers = append(buffers, tBuffer(raw))
			tt[2] = uint32(len(buffers) - 1)
		}
		tensors = append(tensors, tt)
		shapes = append(shapes, shape)
		kinds = append(kinds, typ)
		return int32(len(tensors) - 1)
	}
	constant := func(typ DataType, shape []int32) int32 {
		elems := 1
		for _, d := range shape {
			elems *= int(d)
		}
		raw := make([]byte, elems*typ.Size())
		for k := range raw {
			raw[k] = byte(next())
		}
		return add(typ, shape, raw)
	}
	// params is a small int32 constant vector (axes, paddings, sizes, begin/end/strides).
	params := func(shape ...int32) int32 {
		elems := 1
		for _, d := range shape {
			elems *= int(d)
		}
		vals := make([]int32, elems)
		for k := range vals {
			vals[k] = int32(next()%6) - 1
		}
		return add(Int32, shape, int32Bytes(vals...))
	}

	available := []int32{add(graphType, randShape(1), nil)}
	var ops, opcodes []fbt
	for nops := 1 + next()%4; len(ops) < nops; {
		code := codes[next()%len(codes)]
		a := available[next()%len(available)]
		rank := int32(len(shapes[a]))
		typ := kinds[a]
		in := []int32{a}
		switch code {
		case opAdd, opSub, opMul, opConcatenation, opDiv, opFloorDiv, opMaximum, opMinimum, opSquaredDifference,
			opLess, opLessEqual, opGreater, opGreaterEqual, opEqual, opNotEqual, opLogicalAnd, opLogicalOr, opPrelu, opPack:
			if next()%2 == 0 {
				in = append(in, available[next()%len(available)])
			} else {
				in = append(in, constant(typ, randShape(0)))
			}
		case opConv2D, opDepthwiseConv2D:
			wt := typ
			if typ == UInt8 || typ == Int8 {
				wt = types[1+next()%2]
			}
			in = append(in, constant(wt, randShape(4)[:4]))
			bt := Float32
			if typ != Float32 {
				bt = Int32
			}
			in = append(in, constant(bt, []int32{int32(1 + next()%4)}))
		case opFullyConnected:
			in = append(in, constant(typ, randShape(2)[:2]))
			if next()%2 == 0 {
				in = append(in, -1)
			}
		case opPad:
			in = append(in, params(rank, 2))
		case opMean:
			in = append(in, params(int32(1+next()%2)))
		case opTranspose:
			in = append(in, params(rank))
		case opStridedSlice:
			in = append(in, params(rank), params(rank), params(rank))
		case opResizeBilinear, opResizeNearestNeighbor:
			in = append(in, params(2))
		case opReshape:
			if next()%2 == 0 {
				in = append(in, params(int32(next()%4)))
			}
		case opArgMax, opArgMin, opExpandDims:
			in = append(in, params(int32(next()%2)))
		case opSum, opReduceMax, opReduceMin, opReduceProd:
			in = append(in, params(int32(next()%3)))
		case opGather:
			in = append(in, params(randShape(0)...))
		case opGatherND:
			in = append(in, params(int32(1+next()%3), int32(1+next()%3)))
		case opSplit:
			in = []int32{params(), a}
		case opSplitV:
			in = append(in, params(int32(1+next()%3)), params())
		case opSlice:
			in = append(in, params(rank), params(rank))
		case opTile:
			in = append(in, params(rank))
		case opMirrorPad:
			in = append(in, params(rank, 2))
		case opPadV2:
			in = append(in, params(rank, 2), constant(typ, nil))
		case opSpaceToBatchND, opBatchToSpaceND:
			m := int32(1 + next()%2)
			in = append(in, params(m), params(m, 2))
		case opTransposeConv:
			in = []int32{params(4), constant(typ, randShape(4)[:4]), a}
			if next()%2 == 0 {
				bt := Float32
				if typ != Float32 {
					bt = Int32
				}
				in = append(in, constant(bt, []int32{int32(1 + next()%4)}))
			}
		case opSelect, opSelectV2:
			in = []int32{constant(Bool, randShape(0)), a, available[next()%len(available)]}
		}
		otyp := typ
		if code == opQuantize || code == opDequantize || next()%8 == 0 {
			otyp = types[next()%len(types)]
		}
		if code == opArgMax || code == opArgMin || code == opShape {
			otyp = []DataType{Int32, Int64}[next()%2]
		}
		switch code {
		case opLess, opLessEqual, opGreater, opGreaterEqual, opEqual, opNotEqual:
			otyp = Bool
		}
		outs := []int32{add(otyp, randShape(0), nil)}
		if code == opUnpack || code == opSplit || code == opSplitV {
			for range next() % 3 {
				outs = append(outs, add(otyp, randShape(0), nil))
			}
		}
		var opts fbt
		if optsType := builtinKernels[code].opts; optsType != 0 {
			for slot := 0; slot < 7; slot++ {
				switch next() % 4 {
				case 0:
					opts = append(opts, nil)
				case 1:
					opts = append(opts, int8(next()%6))
				case 2:
					opts = append(opts, int32(int8(next())))
				case 3:
					opts = append(opts, int32(1+next()%3))
				}
			}
			if code == opReshape || code == opSqueeze {
				v := make([]int32, next()%5)
				for k := range v {
					v[k] = int32(next()%6) - 1
				}
				opts[0] = v
			}
		}
		switch code {
		case opPack, opUnpack, opSplit, opSplitV:
			// The count option must match the tensors for the kernel to go on to prepare.
			n := len(in)
			if code != opPack {
				n = len(outs)
			}
			if len(opts) > 0 && next()%4 != 0 {
				opts[0] = int32(n)
			}
		}
		opcodes = append(opcodes, tOpcode(code))
		ops = append(ops, tOp(uint32(len(opcodes)-1), in, outs, builtinKernels[code].opts, opts))
		available = append(available, outs...)
	}
	last := available[len(available)-1]
	return encodeFB(tModel(opcodes, []fbt{tSubgraph(tensors, []int32{0}, []int32{last}, ops)}, buffers), "TFL3")
}
