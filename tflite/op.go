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
	opDequantize            = 6
	opFullyConnected        = 9
	opLogistic              = 14
	opMaxPool2D             = 17
	opMul                   = 18
	opRelu                  = 19
	opReluN1To1             = 20
	opRelu6                 = 21
	opReshape               = 22
	opResizeBilinear        = 23
	opSoftmax               = 25
	opTanh                  = 28
	opCustom                = 32
	opPad                   = 34
	opTranspose             = 39
	opMean                  = 40
	opSub                   = 41
	opSqueeze               = 43
	opStridedSlice          = 45
	opResizeNearestNeighbor = 97
	opQuantize              = 114
	opHardSwish             = 117
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
