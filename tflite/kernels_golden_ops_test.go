package tflite

// Single-op golden cases of the ops added for pose, segmentation and other vision models (see
// kernels_golden_test.go for how they are made and checked). They pick edge cases: ties for
// ARG_MAX, negative indices for the layout ops, broadcasting, quantized inputs of different
// scales, activations, strides and padding.

func gi64(v ...int64) gTensor {
	return gTensor{typ: Int64, shape: []int32{int32(len(v))}, data: intBytes(Int64, v)}
}

// gscalar is an int32 scalar constant.
func gscalar(v int32) gTensor { return gTensor{typ: Int32, shape: []int32{}, data: int32Bytes(v)} }

// gshaped is an int32 constant of the given shape.
func gshaped(shape []int32, v ...int32) gTensor {
	return gTensor{typ: Int32, shape: shape, data: int32Bytes(v...)}
}

func native(c kernelGolden) kernelGolden { c.native = true; return c }

// multiGolden is op(inputs...) -> outputs, with the tensors listed inputs first.
func multiGolden(name string, op int32, optsType uint8, opts fbt, ins []gTensor, outs ...gTensor) kernelGolden {
	c := kernelGolden{name: name, op: op, optsType: optsType, opts: opts, tensors: append(append([]gTensor{}, ins...), outs...)}
	for i := range ins {
		c.inputs = append(c.inputs, int32(i))
	}
	for i := range outs {
		c.outputs = append(c.outputs, int32(len(ins)+i))
	}
	return c
}

// seqBytes returns n bytes counting from start (wrapping), for deterministic constants.
func seqBytes(n int, start, step int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(start + i*step)
	}
	return b
}

func seqF32(n int, start, step float32) []byte {
	v := make([]float32, n)
	for i := range v {
		v[i] = start + float32(i)*step
	}
	return float32Bytes(v...)
}

var opGoldens = []kernelGolden{
	// ARG_MAX / ARG_MIN: ties (values near the zero point repeat) keep the first index.
	unaryGolden("arg_max_f32_last", opArgMax, optArgMax, fbt{int8(Int32)}, gf(3, 4, 7), gout(Int32), gscalar(-1)),
	unaryGolden("arg_max_u8_ties", opArgMax, optArgMax, fbt{int8(Int64)}, gq(UInt8, []int32{1, 6, 5, 21}, 0.2, 30).with("small"), gout(Int64), gscalar(3)),
	unaryGolden("arg_min_i8_axis1", opArgMin, optArgMin, fbt{int8(Int32)}, gq(Int8, []int32{2, 9, 4}, 0.1, 0).with("small"), gout(Int32), gscalar(1)),
	unaryGolden("arg_max_i32_axis0", opArgMax, optArgMax, fbt{int8(Int32)}, gt(Int32, 5, 6), gout(Int32), gi64(0)),
	// CAST: truncation toward zero, int to float, bool both ways.
	unaryGolden("cast_f32_i32", opCast, 0, nil, gf(4, 16), gout(Int32)),
	unaryGolden("cast_u8_f32", opCast, 0, nil, gt(UInt8, 1, 256), gout(Float32)),
	unaryGolden("cast_i32_f32", opCast, 0, nil, gt(Int32, 3, 7), gout(Float32)),
	unaryGolden("cast_f32_i64", opCast, 0, nil, gf(2, 9), gout(Int64)),
	unaryGolden("cast_i32_bool", opCast, 0, nil, gt(Int32, 2, 20), gout(Bool)),
	unaryGolden("cast_bool_f32", opCast, 0, nil, gt(Bool, 3, 5), gout(Float32)),
	unaryGolden("cast_i8_i32", opCast, 0, nil, gt(Int8, 1, 256), gout(Int32)),
	// GATHER: repeated indices, a middle axis, batch_dims, int64 indices.
	unaryGolden("gather_f32_axis0", opGather, optGather, fbt{int32(0)}, gf(5, 3), gout(Float32), gi32(4, 0, 0, 2, 3)),
	unaryGolden("gather_i8_axis1", opGather, optGather, fbt{int32(1)}, gq(Int8, []int32{2, 6, 3}, 0.1, 3), gq(Int8, nil, 0.1, 3),
		gshaped([]int32{2, 2}, 5, 0, 1, 1)),
	unaryGolden("gather_f32_batch_dims", opGather, optGather, fbt{int32(1), int32(1)}, gf(2, 4, 3), gout(Float32),
		gTensor{typ: Int64, shape: []int32{2, 3}, data: intBytes(Int64, []int64{3, 0, 1, 2, 2, 0})}),
	unaryGolden("gather_i32_negative_axis", opGather, optGather, fbt{int32(-1)}, gt(Int32, 3, 4), gout(Int32), gi32(3, 1)),
	// GATHER_ND: full indices (elements) and partial ones (slices), as MoveNet uses them.
	unaryGolden("gather_nd_i8_pixels", opGatherND, optGatherND, nil, gq(Int8, []int32{1, 4, 4, 3}, 0.2, -9), gq(Int8, nil, 0.2, -9),
		gshaped([]int32{5, 3}, 0, 0, 0, 0, 3, 3, 0, 1, 2, 0, 2, 1, 0, 3, 0)),
	unaryGolden("gather_nd_f32_elements", opGatherND, optGatherND, nil, gf(3, 4, 2), gout(Float32),
		gshaped([]int32{2, 2, 3}, 0, 0, 0, 2, 3, 1, 1, 2, 1, 0, 3, 0)),
	unaryGolden("gather_nd_i32_rows", opGatherND, optGatherND, nil, gt(Int32, 4, 5), gout(Int32), gshaped([]int32{3, 1}, 3, 0, 3)),
	// PACK / UNPACK.
	multiGolden("pack_i32_axis0", opPack, optPack, fbt{int32(3), int32(0)}, []gTensor{gt(Int32, 4), gt(Int32, 4), gt(Int32, 4)}, gout(Int32)),
	multiGolden("pack_i8_last", opPack, optPack, fbt{int32(2), int32(-1)}, []gTensor{gq(Int8, []int32{1, 5}, 0.2, -128), gq(Int8, []int32{1, 5}, 0.2, -128)},
		gq(Int8, nil, 0.2, -128)),
	multiGolden("pack_f32_middle", opPack, optPack, fbt{int32(2), int32(1)}, []gTensor{gf(2, 3), gf(2, 3)}, gout(Float32)),
	multiGolden("unpack_i8_axis1", opUnpack, optUnpack, fbt{int32(2), int32(1)}, []gTensor{gq(Int8, []int32{17, 2}, 0.7, -21)},
		gq(Int8, nil, 0.7, -21), gq(Int8, nil, 0.7, -21)),
	multiGolden("unpack_f32_axis0", opUnpack, optUnpack, fbt{int32(3), int32(0)}, []gTensor{gf(3, 2, 2)}, gout(Float32), gout(Float32), gout(Float32)),
	// SPLIT (axis first) and SPLIT_V (a -1 size).
	{name: "split_f32_axis1", op: opSplit, optsType: optSplit, opts: fbt{int32(3)},
		tensors: []gTensor{gscalar(1), gf(2, 6, 2), gout(Float32), gout(Float32), gout(Float32)}, inputs: []int32{0, 1}, outputs: []int32{2, 3, 4}},
	{name: "split_u8_last", op: opSplit, optsType: optSplit, opts: fbt{int32(2)},
		tensors: []gTensor{gscalar(-1), gq(UInt8, []int32{1, 3, 8}, 0.1, 128), gq(UInt8, nil, 0.1, 128), gq(UInt8, nil, 0.1, 128)}, inputs: []int32{0, 1}, outputs: []int32{2, 3}},
	multiGolden("split_v_f32", opSplitV, optSplitV, fbt{int32(3)}, []gTensor{gf(7, 3), gi32(2, -1, 1), gscalar(0)}, gout(Float32), gout(Float32), gout(Float32)),
	// SLICE (size -1), TILE, EXPAND_DIMS.
	unaryGolden("slice_f32", opSlice, optSlice, nil, gf(4, 5, 3), gout(Float32), gi32(1, 0, 1), gi32(2, -1, 2)),
	unaryGolden("slice_u8_i64", opSlice, optSlice, nil, gq(UInt8, []int32{1, 6, 6, 2}, 0.1, 10), gq(UInt8, nil, 0.1, 10), gi64(0, 2, 1, 0), gi64(1, 3, -1, 1)),
	unaryGolden("tile_f32", opTile, optTile, nil, gf(2, 3), gout(Float32), gi32(2, 3)),
	unaryGolden("tile_i32_3d", opTile, optTile, nil, gt(Int32, 1, 2, 3), gout(Int32), gi32(3, 1, 2)),
	unaryGolden("expand_dims_f32", opExpandDims, optExpandDims, nil, gf(3, 4), gout(Float32), gscalar(-1)),
	// MIRROR_PAD (both modes), PADV2 (a constant value).
	unaryGolden("mirror_pad_reflect_f32", opMirrorPad, optMirrorPad, fbt{int8(mirrorReflect)}, gf(1, 3, 4, 2), gout(Float32),
		gshaped([]int32{4, 2}, 0, 0, 2, 1, 1, 3, 0, 0)),
	unaryGolden("mirror_pad_symmetric_u8", opMirrorPad, optMirrorPad, fbt{int8(mirrorSymmetric)}, gq(UInt8, []int32{3, 4}, 0.1, 3), gq(UInt8, nil, 0.1, 3),
		gshaped([]int32{2, 2}, 3, 1, 0, 4)),
	unaryGolden("padv2_f32", opPadV2, optPadV2, nil, gf(2, 3), gout(Float32), gshaped([]int32{2, 2}, 1, 0, 2, 1), gc(Float32, []int32{}, float32Bytes(1.5))),
	unaryGolden("padv2_u8", opPadV2, optPadV2, nil, gq(UInt8, []int32{1, 2, 2, 3}, 0.1, 7), gq(UInt8, nil, 0.1, 7),
		gshaped([]int32{4, 2}, 0, 0, 1, 1, 2, 0, 0, 0), gcq(UInt8, []int32{}, 0.1, 7, []byte{200})),
	// SHAPE.
	native(unaryGolden("shape_i32", opShape, optShape, fbt{int8(Int32)}, gf(2, 3, 5), gout(Int32))),
	native(unaryGolden("shape_i64", opShape, optShape, fbt{int8(Int64)}, gq(UInt8, []int32{1, 7, 1, 2}, 0.1, 0), gout(Int64))),
	// DIV, FLOOR_DIV.
	binaryGolden("div_f32_bcast_relu6", opDiv, optDiv, actRelu6, gf(2, 3, 4), gf(4).with("pos"), gf()),
	binaryGolden("div_f32_bcast_rank", opDiv, optDiv, actNone, gf(1, 4, 4, 3), gf(4, 4, 3).with("pos"), gf()),
	binaryGolden("div_i32", opDiv, optDiv, actNone, gt(Int32, 3, 8), gt(Int32, 8).with("pos"), gout(Int32)),
	{name: "div_u8", op: opDiv, optsType: optDiv, opts: fbt{int8(actNone)},
		tensors: []gTensor{gq(UInt8, []int32{2, 128}, 0.05, 128), gcq(UInt8, []int32{128}, 0.02, 0, seqBytes(128, 1, 2)), gq(UInt8, nil, 0.1, 100)},
		inputs:  []int32{0, 1}, outputs: []int32{2}},
	binaryGolden("floor_div_i32", opFloorDiv, optFloorDiv, actNone, gt(Int32, 4, 10), gt(Int32, 10).with("pos"), gout(Int32)),
	binaryGolden("floor_div_f32", opFloorDiv, optFloorDiv, actNone, gf(3, 16), gf(16).with("pos"), gf()),
	// Elementwise math.
	unaryGolden("sqrt_f32", opSqrt, 0, nil, gf(4, 32).with("pos"), gf()),
	unaryGolden("sqrt_i8", opSqrt, 0, nil, gq(Int8, []int32{1, 256}, 0.06, -128), gq(Int8, nil, 0.015, -128)),
	unaryGolden("rsqrt_f32", opRsqrt, 0, nil, gf(4, 32).with("pos"), gf()),
	unaryGolden("rsqrt_i8", opRsqrt, 0, nil, gq(Int8, []int32{1, 256}, 0.05, -128), gq(Int8, nil, 0.02, -128)),
	unaryGolden("exp_f32", opExp, optExp, nil, gf(4, 32), gf()),
	unaryGolden("exp_i8", opExp, optExp, nil, gq(Int8, []int32{1, 256}, 0.02, 10), gq(Int8, nil, 0.05, -128)),
	unaryGolden("log_f32", opLog, 0, nil, gf(4, 32).with("pos"), gf()),
	unaryGolden("log_i8", opLog, 0, nil, gq(Int8, []int32{1, 256}, 0.03, -100), gq(Int8, nil, 0.04, 50)),
	unaryGolden("floor_f32", opFloor, 0, nil, gf(4, 32), gf()),
	unaryGolden("abs_f32", opAbs, optAbs, nil, gf(4, 32), gf()),
	unaryGolden("abs_i8_rescale", opAbs, optAbs, nil, gq(Int8, []int32{1, 256}, 0.05, 3), gq(Int8, nil, 0.03, -128)),
	unaryGolden("abs_i32", opAbs, optAbs, nil, gt(Int32, 2, 20), gout(Int32)),
	unaryGolden("neg_f32", opNeg, optNeg, nil, gf(4, 32), gf()),
	unaryGolden("neg_i32", opNeg, optNeg, nil, gt(Int32, 3, 9), gout(Int32)),
	unaryGolden("square_f32", opSquare, optSquare, nil, gf(4, 32), gf()),
	// SQUARED_DIFFERENCE, MAXIMUM, MINIMUM.
	binaryGolden("squared_difference_f32", opSquaredDifference, optSquaredDiff, actNone, gf(2, 3, 4), gf(3, 1), gf()),
	binaryGolden("squared_difference_i8", opSquaredDifference, optSquaredDiff, actNone, gq(Int8, []int32{48, 17}, 0.18, -128), gq(Int8, []int32{1, 17}, 0.21, -128), gq(Int8, nil, 0.39, 10)),
	binaryGolden("squared_difference_i32", opSquaredDifference, optSquaredDiff, actNone, gt(Int32, 4, 5), gt(Int32, 4, 5), gout(Int32)),
	binaryGolden("maximum_f32_bcast", opMaximum, optMaximumMinimum, actNone, gf(2, 3, 4), gf(4), gf()),
	binaryGolden("maximum_u8", opMaximum, optMaximumMinimum, actNone, gq(UInt8, []int32{4, 16}, 0.1, 128), gq(UInt8, []int32{4, 16}, 0.1, 128), gq(UInt8, nil, 0.1, 128)),
	binaryGolden("minimum_i8_bcast", opMinimum, optMaximumMinimum, actNone, gq(Int8, []int32{3, 8}, 0.1, 0), gq(Int8, []int32{1}, 0.1, 0), gq(Int8, nil, 0.1, 0)),
	binaryGolden("minimum_i32", opMinimum, optMaximumMinimum, actNone, gt(Int32, 5, 3), gt(Int32, 1, 3), gout(Int32)),
	// Reductions.
	unaryGolden("sum_f32_keep", opSum, optReducer, fbt{true}, gf(2, 3, 4), gf(), gi32(1, -1)),
	unaryGolden("sum_u8_rescale", opSum, optReducer, fbt{false}, gq(UInt8, []int32{1, 4, 4, 8}, 0.05, 128), gq(UInt8, nil, 0.5, 100), gi32(1, 2)),
	native(unaryGolden("sum_i8", opSum, optReducer, fbt{false}, gq(Int8, []int32{3, 10}, 0.02, -3), gq(Int8, nil, 0.1, 2), gi32(1))),
	unaryGolden("sum_i32_all", opSum, optReducer, fbt{false}, gt(Int32, 3, 4), gout(Int32), gi32(0, 1)),
	unaryGolden("reduce_max_f32", opReduceMax, optReducer, fbt{false}, gf(2, 5, 3), gf(), gi32(1)),
	unaryGolden("reduce_max_i8_keep", opReduceMax, optReducer, fbt{true}, gq(Int8, []int32{2, 3, 4}, 0.1, -5), gq(Int8, nil, 0.1, -5), gi32(0, 2)),
	unaryGolden("reduce_min_u8", opReduceMin, optReducer, fbt{false}, gq(UInt8, []int32{4, 6}, 0.1, 20), gq(UInt8, nil, 0.1, 20), gi32(-1)),
	unaryGolden("reduce_min_i32", opReduceMin, optReducer, fbt{false}, gt(Int32, 4, 6), gout(Int32), gi32(0)),
	unaryGolden("reduce_prod_f32", opReduceProd, optReducer, fbt{false}, gf(3, 4), gf(), gi32(1)),
	unaryGolden("reduce_prod_i8", opReduceProd, optReducer, fbt{false}, gq(Int8, []int32{4, 3}, 0.05, 0).with("small"), gq(Int8, nil, 0.01, 0), gi32(1)),
	unaryGolden("reduce_prod_i32", opReduceProd, optReducer, fbt{false}, gt(Int32, 3, 4), gout(Int32), gi32(1)),
	// Activations.
	unaryGolden("leaky_relu_f32", opLeakyRelu, optLeakyRelu, fbt{float32(0.2)}, gf(4, 32), gf()),
	unaryGolden("leaky_relu_u8", opLeakyRelu, optLeakyRelu, fbt{float32(0.1)}, gq(UInt8, []int32{1, 256}, 0.05, 128), gq(UInt8, nil, 0.03, 100)),
	unaryGolden("leaky_relu_i8", opLeakyRelu, optLeakyRelu, fbt{float32(0.3)}, gq(Int8, []int32{1, 256}, 0.04, 0), gq(Int8, nil, 0.04, -30)),
	binaryGolden("prelu_f32", opPrelu, 0, 0, gf(1, 4, 4, 3), gc(Float32, []int32{1, 1, 3}, float32Bytes(0.1, -0.5, 2)), gf()),
	binaryGolden("prelu_u8", opPrelu, 0, 0, gq(UInt8, []int32{1, 4, 4, 3}, 0.05, 128), gcq(UInt8, []int32{3}, 0.01, 100, []byte{110, 70, 200}), gq(UInt8, nil, 0.04, 90)),
	binaryGolden("prelu_i8", opPrelu, 0, 0, gq(Int8, []int32{2, 4, 5}, 0.05, 3), gcq(Int8, []int32{5}, 0.02, 0, []byte{10, 0xf0, 50, 127, 1}), gq(Int8, nil, 0.05, -10)),
	unaryGolden("elu_f32", opElu, 0, nil, gf(4, 32), gf()),
	unaryGolden("elu_i8", opElu, 0, nil, gq(Int8, []int32{1, 256}, 0.03, 0), gq(Int8, nil, 0.03, 20)),
	unaryGolden("gelu_f32", opGelu, optGelu, fbt{false}, gf(4, 32), gf()),
	unaryGolden("gelu_f32_approx", opGelu, optGelu, fbt{true}, gf(4, 32), gf()),
	unaryGolden("gelu_u8", opGelu, optGelu, fbt{false}, gq(UInt8, []int32{1, 256}, 0.04, 128), gq(UInt8, nil, 0.025, 20)),
	unaryGolden("gelu_i8_approx", opGelu, optGelu, fbt{true}, gq(Int8, []int32{1, 256}, 0.04, 0), gq(Int8, nil, 0.025, -100)),
	// LOG_SOFTMAX, L2_NORMALIZATION.
	unaryGolden("log_softmax_f32", opLogSoftmax, optLogSoftmax, nil, gf(3, 10), gf()),
	unaryGolden("log_softmax_u8", opLogSoftmax, optLogSoftmax, nil, gq(UInt8, []int32{4, 20}, 0.1, 128), gq(UInt8, nil, 16.0/256, 255)),
	unaryGolden("l2_normalization_f32", opL2Normalization, optL2Norm, nil, gf(3, 8), gf()),
	unaryGolden("l2_normalization_u8", opL2Normalization, optL2Norm, nil, gq(UInt8, []int32{4, 16}, 0.05, 120), gq(UInt8, nil, 1.0/128, 128)),
	unaryGolden("l2_normalization_i8", opL2Normalization, optL2Norm, nil, gq(Int8, []int32{4, 16}, 0.05, -3), gq(Int8, nil, 1.0/128, 0)),
	// Layout: DEPTH_TO_SPACE, SPACE_TO_DEPTH, BATCH_TO_SPACE_ND, SPACE_TO_BATCH_ND.
	unaryGolden("depth_to_space_f32", opDepthToSpace, optDepthToSpace, fbt{int32(2)}, gf(1, 2, 3, 8), gf()),
	unaryGolden("depth_to_space_i8", opDepthToSpace, optDepthToSpace, fbt{int32(3)}, gq(Int8, []int32{2, 2, 2, 9}, 0.1, 1), gq(Int8, nil, 0.1, 1)),
	unaryGolden("space_to_depth_u8", opSpaceToDepth, optSpaceToDepth, fbt{int32(2)}, gq(UInt8, []int32{1, 4, 6, 3}, 0.1, 9), gq(UInt8, nil, 0.1, 9)),
	unaryGolden("space_to_batch_f32", opSpaceToBatchND, optSpaceToBatchND, nil, gf(2, 3, 5, 2), gf(), gi32(2, 3), gshaped([]int32{2, 2}, 1, 0, 0, 1)),
	unaryGolden("space_to_batch_u8_pad", opSpaceToBatchND, optSpaceToBatchND, nil, gq(UInt8, []int32{1, 4, 4, 1}, 0.1, 77), gq(UInt8, nil, 0.1, 77), gi32(2, 2), gshaped([]int32{2, 2}, 1, 1, 2, 0)),
	unaryGolden("batch_to_space_f32_crop", opBatchToSpaceND, optBatchToSpaceND, nil, gf(8, 2, 3, 2), gf(), gi32(2, 2), gshaped([]int32{2, 2}, 1, 0, 0, 2)),
	unaryGolden("batch_to_space_i8", opBatchToSpaceND, optBatchToSpaceND, nil, gq(Int8, []int32{6, 2, 2, 3}, 0.1, 0), gq(Int8, nil, 0.1, 0), gi32(3, 2), gshaped([]int32{2, 2}, 0, 0, 0, 0)),
	// TRANSPOSE_CONV: strides, SAME and VALID, bias, activation (version 4), 8-bit.
	{name: "transpose_conv_f32_same_s2", op: opTransposeConv, optsType: optTransposeConv, opts: fbt{int8(paddingSame), int32(2), int32(2)},
		tensors: []gTensor{gi32(1, 8, 6, 4), gc(Float32, []int32{4, 3, 3, 3}, seqF32(108, -1, 0.02)), gf(1, 4, 3, 3), gout(Float32)},
		inputs:  []int32{0, 1, 2}, outputs: []int32{3}},
	{name: "transpose_conv_f32_valid_bias_relu", op: opTransposeConv, optsType: optTransposeConv, opts: fbt{int8(paddingValid), int32(2), int32(1), int8(actRelu)},
		tensors: []gTensor{gi32(1, 5, 7, 2), gc(Float32, []int32{2, 3, 3, 2}, seqF32(36, -0.5, 0.03)), gf(1, 3, 3, 2), gc(Float32, []int32{2}, float32Bytes(0.5, -1)), gout(Float32)},
		inputs:  []int32{0, 1, 2, 3}, outputs: []int32{4}},
	{name: "transpose_conv_u8", op: opTransposeConv, optsType: optTransposeConv, opts: fbt{int8(paddingSame), int32(2), int32(2)},
		tensors: []gTensor{gi32(1, 6, 6, 3), gcq(UInt8, []int32{3, 2, 2, 4}, 0.02, 120, seqBytes(48, 90, 7)), gq(UInt8, []int32{1, 3, 3, 4}, 0.05, 128), gq(UInt8, nil, 0.1, 100)},
		inputs:  []int32{0, 1, 2}, outputs: []int32{3}},
	{name: "transpose_conv_i8_bias", op: opTransposeConv, optsType: optTransposeConv, opts: fbt{int8(paddingSame), int32(1), int32(1)},
		tensors: []gTensor{gi32(1, 4, 4, 2), gcq(Int8, []int32{2, 3, 3, 3}, 0.01, 0, seqBytes(54, 200, 13)), gq(Int8, []int32{1, 4, 4, 3}, 0.05, -2),
			{typ: Int32, shape: []int32{2}, scale: 0.0005, data: int32Bytes(100, -300)}, gq(Int8, nil, 0.05, 5)},
		inputs: []int32{0, 1, 2, 3}, outputs: []int32{4}},
	// SELECT, SELECT_V2.
	multiGolden("select_f32", opSelect, optSelect, nil, []gTensor{gt(Bool, 3, 4), gf(3, 4), gf(3, 4)}, gout(Float32)),
	multiGolden("select_i32_rows", opSelect, optSelect, nil, []gTensor{gt(Bool, 3), gt(Int32, 3, 2), gt(Int32, 3, 2)}, gout(Int32)),
	multiGolden("select_v2_f32_bcast", opSelectV2, optSelectV2, nil, []gTensor{gt(Bool, 1, 4), gf(3, 1), gf(3, 4)}, gout(Float32)),
	multiGolden("select_v2_i8", opSelectV2, optSelectV2, nil, []gTensor{gt(Bool, 2, 1, 3), gq(Int8, []int32{2, 4, 3}, 0.1, 0), gq(Int8, []int32{3}, 0.1, 0)}, gq(Int8, nil, 0.1, 0)),
	// Comparisons; 8-bit inputs of different scales compare by real value.
	binaryGolden("less_f32_bcast", opLess, optLess, actNone, gf(3, 4), gf(4), gout(Bool)),
	binaryGolden("less_equal_i32", opLessEqual, optLessEqual, actNone, gt(Int32, 4, 5), gt(Int32, 4, 5), gout(Bool)),
	binaryGolden("greater_u8_scales", opGreater, optGreater, actNone, gq(UInt8, []int32{4, 64}, 0.05, 128), gq(UInt8, []int32{64}, 0.02, 100), gout(Bool)),
	binaryGolden("greater_equal_i8", opGreaterEqual, optGreaterEqual, actNone, gq(Int8, []int32{2, 32}, 0.1, 0).with("small"), gq(Int8, []int32{2, 32}, 0.1, 0).with("small"), gout(Bool)),
	binaryGolden("equal_i8_scales", opEqual, optEqual, actNone, gq(Int8, []int32{1, 256}, 0.02, 0), gq(Int8, []int32{1}, 0.04, 0), gout(Bool)),
	binaryGolden("equal_bool", opEqual, optEqual, actNone, gt(Bool, 3, 5), gt(Bool, 5), gout(Bool)),
	binaryGolden("not_equal_i64", opNotEqual, optNotEqual, actNone, gt(Int64, 4, 6), gt(Int64, 6), gout(Bool)),
	// Logical.
	binaryGolden("logical_and", opLogicalAnd, optLogicalAnd, actNone, gt(Bool, 3, 4), gt(Bool, 1, 4), gout(Bool)),
	binaryGolden("logical_or", opLogicalOr, optLogicalOr, actNone, gt(Bool, 2, 3, 1), gt(Bool, 3, 5), gout(Bool)),
	unaryGolden("logical_not", opLogicalNot, optLogicalNot, nil, gt(Bool, 4, 6), gout(Bool)),
	unaryGolden("log_softmax_i8", opLogSoftmax, optLogSoftmax, nil, gq(Int8, []int32{4, 20}, 0.1, 0), gq(Int8, nil, 16.0/256, 127)),
	unaryGolden("log_softmax_i8_wide", opLogSoftmax, optLogSoftmax, nil, gq(Int8, []int32{2, 256}, 0.02, -10), gq(Int8, nil, 16.0/256, 127)),
}
