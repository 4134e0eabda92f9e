// Package tflite is a TensorFlow Lite runtime in pure Go: it reads .tflite flatbuffers (schema
// version 3), validates the whole graph at load time, plans tensor memory once and runs the
// builtin ops of image classifiers, detectors, pose, segmentation and other vision models, float
// and quantized, with TFLite's integer arithmetic so quantized outputs match the official runtime.
//
// # Use
//
//	m, err := tflite.LoadFile("model.tflite")   // parse and validate
//	ip, err := tflite.NewInterpreter(m, tflite.WithThreads(2))
//	defer ip.Close()
//	copy(ip.Input(0).UInt8s(), pixels)           // or tflite.Quantize(ip.Input(0), reals)
//	err = ip.Invoke()
//	scores := ip.Output(0).UInt8s()              // or tflite.Dequantize(ip.Output(0), dst)
//
// # Loading
//
// Load reads the model with a bounds-checked flatbuffer reader: every offset, vtable, vector
// length, string, index, shape and type is checked, so a corrupt or hostile file gives an error
// wrapping ErrInvalidModel (or ErrUnsupported for valid features this runtime lacks, such as
// custom quantization) and never a panic. Allocation is bounded by the file size. Sparse
// constant tensors (the schema's SparsityParameters, CSR and block-sparse) are densified here,
// within a budget of 64 times the file size. The Model keeps the
// file's bytes and is immutable: any number of interpreters, in any goroutines, may share it.
// Model exposes what tools need to describe a model: inputs and outputs with their quantization
// and shape signatures, op counts by schema name, signature defs, the SHA-256, and the TFLite
// metadata (name, author, license, associated files) with the label list from the metadata's
// associated-files zip (Labels).
//
// # Interpreter
//
// NewInterpreter runs the main subgraph (subgraph 0). It does all checking up front: every
// operator is bound to its kernel (an unsupported op, type or option is an ErrUnsupported error
// naming the operator index, op name and builtin code); the operators must be in an executable
// order; constants are read in place from the model's bytes where those are aligned for their
// type (interpreters of one model share them) and copied into aligned memory otherwise; every
// kernel's prepare runs in order and sets output shapes (an SSD post-process op declares its outputs [] and gets them here);
// then one arena is planned for all activations and kernel scratch: buffers whose lifetimes do
// not overlap share memory (greedy by size, like TFLite's arena planner). Graph inputs and
// outputs live for the whole run, so inputs survive Invoke and outputs stay valid until the next
// Invoke. WithMemoryLimit caps the arena (ErrMemoryLimit).
//
// An operator whose inputs are all known at prepare (constants, or the outputs of such
// operators) runs once there and is skipped by Invoke, as is SHAPE of a tensor whose shape is
// static: the shape arithmetic of converted TF graphs (SHAPE, GATHER, PACK, CONCATENATION into a
// RESHAPE) costs nothing per run. An operator whose output shape depends on values only Invoke
// computes (a RESHAPE to a shape read from an input, say) is prepared again in every Invoke, as
// TFLite does with dynamic tensors: its outputs get memory of their own that grows to the
// largest size seen, within the memory limit, and every operator after it is prepared in Invoke
// too (so their type errors surface there).
//
// Invoke runs the kernels in order and allocates nothing for graphs whose shapes are known at
// prepare. WithThreads lets kernels split their work over a fixed set of worker goroutines,
// stopped by Close.
//
// ResizeInput changes an input's shape; only dimensions declared -1 in the tensor's shape
// signature may change (files from the old TOCO converter carry no signature, so their inputs
// cannot be resized). It prepares every kernel again and re-plans the arena, which invalidates
// data slices obtained before.
//
// Supported builtin ops, by family (each kernel documents the types it takes: float32, uint8,
// int8 with per-channel weights, and the integer and bool types where TFLite has them):
//
//   - convolution and pooling: CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED,
//     AVERAGE_POOL_2D, MAX_POOL_2D
//   - activations: LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, HARD_SWISH, LEAKY_RELU, PRELU, ELU,
//     GELU, SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION
//   - arithmetic: ADD, SUB, MUL, DIV, FLOOR_DIV, SQUARED_DIFFERENCE, MAXIMUM, MINIMUM
//   - element-wise math: SQRT, RSQRT, EXP, LOG, FLOOR, ABS, NEG, SQUARE
//   - comparison and logic: LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL,
//     LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT, SELECT, SELECT_V2
//   - reductions: MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, ARG_MAX, ARG_MIN
//   - shape and layout: RESHAPE, SQUEEZE, EXPAND_DIMS, SHAPE, TRANSPOSE, CONCATENATION, PACK,
//     UNPACK, SPLIT, SPLIT_V, SLICE, STRIDED_SLICE, TILE, GATHER, GATHER_ND, PAD, PADV2,
//     MIRROR_PAD, DEPTH_TO_SPACE, SPACE_TO_DEPTH, BATCH_TO_SPACE_ND, SPACE_TO_BATCH_ND
//   - image and types: RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, QUANTIZE, DEQUANTIZE, CAST,
//     DENSIFY
//   - custom: TFLite_Detection_PostProcess
//
// OpSupported tells whether an op name is among them. Where the official runtime's result for
// invalid input is undefined behaviour in C, this runtime chooses as its ARM builds do (CAST of
// out-of-range floats saturates) or refuses (an out-of-range GATHER index is an Invoke error).
//
// # Caveats
//
//   - An Interpreter is not safe for concurrent use; build one per goroutine.
//   - Only subgraph 0 runs: control flow (IF, WHILE, CALL_ONCE) is not supported.
//   - The int16 quantized kernels and the hybrid ones (float input, 8-bit weights) are not
//     implemented: such models fail to load with ErrUnsupported.
//   - Variable tensors get their own zeroed (or initialised) memory, but no op that assigns
//     variables is implemented.
//   - Buffers stored outside the flatbuffer (models over 2 GB) are read from the same byte
//     slice, so such a model must still fit in memory; on 32-bit ARM a model is limited to 2 GB.
//   - Tensor data slices point into interpreter memory: they stay valid until ResizeInput or
//     Close, and Invoke overwrites outputs. A tensor with a run-time shape may move in Invoke:
//     read its shape and data after each Invoke.
package tflite
