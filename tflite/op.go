package tflite

import (
	"errors"
	"fmt"
)

// node is one operator instance in the execution plan.
type node struct {
	index   int       // operator index in the subgraph, for error messages
	op      string    // op name ("CONV_2D", or the custom code), for error messages
	inputs  []*Tensor // nil entries stand for optional inputs given as -1
	outputs []*Tensor
	opts    options // builtin options; never nil
	custom  []byte  // custom options (a FlexBuffer for TFLite_Detection_PostProcess)
	// scratch is temporary memory for eval, carved from the arena after prepare set scratchSize.
	scratch     []byte
	scratchSize int
	pool        *pool // workers for kernels that split their work
	// dynamic is set when the node's output shapes depend on values only Invoke computes: it is
	// prepared again in every Invoke, with atRun set so that kernels may read any input's values.
	dynamic bool
	atRun   bool
}

// errorf returns an error naming the node's op and index; format may use %w.
func (n *node) errorf(format string, args ...any) error {
	return fmt.Errorf("operator %d (%s): "+format, append([]any{n.index, n.op}, args...)...)
}

// kernel is an op implementation bound to one node. A kernelFactory parses the node's options and
// checks input and output counts; prepare checks types and shapes, sets output shapes and the
// scratch size, and runs at load and after every input resize; eval runs the op and must not
// allocate.
type kernel interface {
	prepare(n *node) error
	eval(n *node) error
}

type kernelFactory func(n *node) (kernel, error)

// shapeKernel is implemented by kernels whose outputs depend only on their inputs' shapes
// (SHAPE): the interpreter computes them at prepare, so shape arithmetic after them folds.
type shapeKernel interface {
	kernel
	shapeOnly()
}

// errDynamic is returned (wrapped) by a prepare that needs the values of an input Invoke has
// not computed yet, to find its output shape: the interpreter prepares the node again in Invoke.
var errDynamic = errors.New("output shape known only at run time")

// errUnsupported is wrapped by every load-time error about an op, type or option the runtime does
// not implement.
var errUnsupported = errors.New("unsupported")

// Builtin operator codes from the TFLite schema (BuiltinOperator).
const (
	opAdd                   = 0
	opAveragePool2D         = 1
	opConcatenation         = 2
	opConv2D                = 3
	opDepthwiseConv2D       = 4
	opDepthToSpace          = 5
	opDequantize            = 6
	opFloor                 = 8
	opFullyConnected        = 9
	opL2Normalization       = 11
	opLogistic              = 14
	opMaxPool2D             = 17
	opMul                   = 18
	opRelu                  = 19
	opReluN1To1             = 20
	opRelu6                 = 21
	opReshape               = 22
	opResizeBilinear        = 23
	opSoftmax               = 25
	opSpaceToDepth          = 26
	opTanh                  = 28
	opCustom                = 32
	opPad                   = 34
	opGather                = 36
	opBatchToSpaceND        = 37
	opSpaceToBatchND        = 38
	opTranspose             = 39
	opMean                  = 40
	opSub                   = 41
	opDiv                   = 42
	opSqueeze               = 43
	opStridedSlice          = 45
	opExp                   = 47
	opSplit                 = 49
	opLogSoftmax            = 50
	opCast                  = 53
	opPrelu                 = 54
	opMaximum               = 55
	opArgMax                = 56
	opMinimum               = 57
	opLess                  = 58
	opNeg                   = 59
	opPadV2                 = 60
	opGreater               = 61
	opGreaterEqual          = 62
	opLessEqual             = 63
	opSelect                = 64
	opSlice                 = 65
	opTransposeConv         = 67
	opTile                  = 69
	opExpandDims            = 70
	opEqual                 = 71
	opNotEqual              = 72
	opLog                   = 73
	opSum                   = 74
	opSqrt                  = 75
	opRsqrt                 = 76
	opShape                 = 77
	opArgMin                = 79
	opReduceProd            = 81
	opReduceMax             = 82
	opPack                  = 83
	opLogicalOr             = 84
	opLogicalAnd            = 86
	opLogicalNot            = 87
	opUnpack                = 88
	opReduceMin             = 89
	opFloorDiv              = 90
	opSquare                = 92
	opResizeNearestNeighbor = 97
	opLeakyRelu             = 98
	opSquaredDifference     = 99
	opMirrorPad             = 100
	opAbs                   = 101
	opSplitV                = 102
	opGatherND              = 107
	opElu                   = 111
	opQuantize              = 114
	opHardSwish             = 117
	opSelectV2              = 123
	opDensify               = 124
	opGelu                  = 150
)

// builtinOp registers a builtin op: its kernel factory and the BuiltinOptions union type its
// options table must have (0: the op takes none, and a table of any type is ignored).
type builtinOp struct {
	kernel kernelFactory
	opts   uint8
}

// builtinKernels maps the supported builtin op codes to their kernels: the one place an op is
// registered. It is never modified.
var builtinKernels = map[int32]builtinOp{
	opAdd:                   {newAdd, optAdd},
	opSub:                   {newSub, optSub},
	opMul:                   {newMul, optMul},
	opAveragePool2D:         {newAveragePool2D, optPool2D},
	opMaxPool2D:             {newMaxPool2D, optPool2D},
	opConcatenation:         {newConcatenation, optConcatenation},
	opConv2D:                {newConv2D, optConv2D},
	opDepthwiseConv2D:       {newDepthwiseConv2D, optDepthwiseConv2D},
	opFullyConnected:        {newFullyConnected, optFullyConnected},
	opLogistic:              {newLogistic, 0},
	opRelu:                  {newRelu, 0},
	opRelu6:                 {newRelu6, 0},
	opReluN1To1:             {newReluN1To1, 0},
	opTanh:                  {newTanh, 0},
	opHardSwish:             {newHardSwish, optHardSwish},
	opSoftmax:               {newSoftmax, optSoftmax},
	opReshape:               {newReshape, optReshape},
	opSqueeze:               {newSqueeze, optSqueeze},
	opPad:                   {newPad, optPad},
	opMean:                  {newMean, optReducer},
	opResizeBilinear:        {newResizeBilinear, optResizeBilinear},
	opResizeNearestNeighbor: {newResizeNearestNeighbor, optResizeNearest},
	opQuantize:              {newQuantize, optQuantize},
	opDequantize:            {newDequantize, optDequantize},
	opTranspose:             {newTranspose, optTranspose},
	opStridedSlice:          {newStridedSlice, optStridedSlice},

	// shape.go, cast.go, arg_min_max.go, gather.go, pack.go
	opShape:    {newShape, optShape},
	opCast:     {newCast, optCast},
	opArgMax:   {newArgMax, optArgMax},
	opArgMin:   {newArgMin, optArgMin},
	opGather:   {newGather, optGather},
	opGatherND: {newGatherND, optGatherND},
	opPack:     {newPack, optPack},
	opUnpack:   {newUnpack, optUnpack},
	// div.go
	opDiv:      {newDiv, optDiv},
	opFloorDiv: {newFloorDiv, optFloorDiv},
	// elementwise_unary.go
	opSqrt:   {newSqrt, 0},
	opRsqrt:  {newRsqrt, 0},
	opExp:    {newExp, optExp},
	opLog:    {newLog, 0},
	opFloor:  {newFloor, 0},
	opAbs:    {newAbs, optAbs},
	opNeg:    {newNeg, optNeg},
	opSquare: {newSquare, optSquare},
	// split.go, slice.go (SLICE, TILE), reshape.go (EXPAND_DIMS), pad.go (PADV2, MIRROR_PAD)
	opSplit:      {newSplit, optSplit},
	opSplitV:     {newSplitV, optSplitV},
	opSlice:      {newSlice, optSlice},
	opTile:       {newTile, optTile},
	opExpandDims: {newExpandDims, optExpandDims},
	opPadV2:      {newPadV2, optPadV2},
	opMirrorPad:  {newMirrorPad, optMirrorPad},
	// maximum_minimum.go, squared_difference.go, compare.go, logical.go, select.go
	opMaximum:           {newMaximum, optMaximumMinimum},
	opMinimum:           {newMinimum, optMaximumMinimum},
	opSquaredDifference: {newSquaredDifference, optSquaredDiff},
	opLess:              {newLess, optLess},
	opLessEqual:         {newLessEqual, optLessEqual},
	opGreater:           {newGreater, optGreater},
	opGreaterEqual:      {newGreaterEqual, optGreaterEqual},
	opEqual:             {newEqual, optEqual},
	opNotEqual:          {newNotEqual, optNotEqual},
	opLogicalAnd:        {newLogicalAnd, optLogicalAnd},
	opLogicalOr:         {newLogicalOr, optLogicalOr},
	opLogicalNot:        {newLogicalNot, optLogicalNot},
	opSelect:            {newSelect, optSelect},
	opSelectV2:          {newSelectV2, optSelectV2},
	// reduce.go
	opSum:        {newSum, optReducer},
	opReduceMax:  {newReduceMax, optReducer},
	opReduceMin:  {newReduceMin, optReducer},
	opReduceProd: {newReduceProd, optReducer},
	// activations.go (LEAKY_RELU, ELU, GELU, PRELU), softmax.go (LOG_SOFTMAX)
	opLeakyRelu:  {newLeakyRelu, optLeakyRelu},
	opElu:        {newElu, 0},
	opGelu:       {newGelu, optGelu},
	opPrelu:      {newPrelu, 0},
	opLogSoftmax: {newLogSoftmax, optLogSoftmax},
	// transpose_conv.go, depth_to_space.go, space_to_batch.go, l2_normalization.go, densify.go
	opTransposeConv:   {newTransposeConv, optTransposeConv},
	opDepthToSpace:    {newDepthToSpace, optDepthToSpace},
	opSpaceToDepth:    {newSpaceToDepth, optSpaceToDepth},
	opSpaceToBatchND:  {newSpaceToBatchND, optSpaceToBatchND},
	opBatchToSpaceND:  {newBatchToSpaceND, optBatchToSpaceND},
	opL2Normalization: {newL2Normalization, optL2Norm},
	opDensify:         {newDensify, optDensify},
}

// BuiltinOptions union types (the schema's union order, from 1).
const (
	optConv2D          = 1
	optDepthwiseConv2D = 2
	optPool2D          = 5
	optFullyConnected  = 8
	optSoftmax         = 9
	optConcatenation   = 10
	optAdd             = 11
	optResizeBilinear  = 15
	optReshape         = 17
	optMul             = 21
	optPad             = 22
	optTranspose       = 26
	optReducer         = 27
	optSub             = 28
	optSqueeze         = 30
	optStridedSlice    = 32
	optDequantize      = 38
	optResizeNearest   = 74
	optQuantize        = 89
	optHardSwish       = 91
	optL2Norm          = 12
	optSpaceToDepth    = 19
	optGather          = 23
	optBatchToSpaceND  = 24
	optSpaceToBatchND  = 25
	optDiv             = 29
	optExp             = 33
	optSplit           = 35
	optLogSoftmax      = 36
	optCast            = 37
	optMaximumMinimum  = 39
	optArgMax          = 40
	optLess            = 41
	optNeg             = 42
	optPadV2           = 43
	optGreater         = 44
	optGreaterEqual    = 45
	optLessEqual       = 46
	optSelect          = 47
	optSlice           = 48
	optTransposeConv   = 49
	optTile            = 51
	optExpandDims      = 52
	optEqual           = 53
	optNotEqual        = 54
	optShape           = 55
	optArgMin          = 57
	optPack            = 59
	optLogicalOr       = 60
	optLogicalAnd      = 62
	optLogicalNot      = 63
	optUnpack          = 64
	optFloorDiv        = 65
	optSquare          = 66
	optLeakyRelu       = 75
	optSquaredDiff     = 76
	optMirrorPad       = 77
	optAbs             = 78
	optSplitV          = 79
	optGatherND        = 83
	optDepthToSpace    = 94
	optSelectV2        = 98
	optDensify         = 99
	optGelu            = 116
)

// customKernels maps the supported custom op codes to their kernels. It is never modified.
var customKernels = map[string]kernelFactory{
	"TFLite_Detection_PostProcess": newDetectionPostProcess,
}

// Padding is the schema's Padding enum.
const (
	paddingSame  = 0
	paddingValid = 1
)

// Fused activations: the schema's ActivationFunctionType enum.
const (
	actNone      = 0
	actRelu      = 1
	actReluN1To1 = 2
	actRelu6     = 3
	actTanh      = 4
	actSignBit   = 5
)

// known reports whether t's values can be read in prepare: a constant, or any input while the
// node is prepared in Invoke.
func (n *node) known(t *Tensor) bool { return t.constant || n.atRun }

// OpSupported reports whether this runtime has a kernel for the op of the given name: a builtin
// op's schema name ("GATHER_ND", as Model.OpCounts gives it) or a custom op's code. A supported op
// may still refuse a type or option it does not implement; NewInterpreter says so.
func OpSupported(name string) bool {
	if _, ok := customKernels[name]; ok {
		return true
	}
	for code, n := range opNames {
		if n == name {
			_, ok := builtinKernels[int32(code)]
			return ok
		}
	}
	return false
}
