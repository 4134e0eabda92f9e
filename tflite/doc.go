// Package tflite is a TensorFlow Lite runtime in pure Go: it reads .tflite flatbuffers (schema
// version 3), validates the whole graph at load time, plans tensor memory once and runs the
// builtin ops that image classifiers and SSD detectors use, float and quantized, with TFLite's
// integer arithmetic so quantized outputs match the official runtime.
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
// sparse tensors) and never a panic. Allocation is bounded by the file size. The Model keeps the
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
// order; constants are copied into 16-byte aligned memory; every kernel's prepare runs in order
// and sets output shapes (an SSD post-process op declares its outputs [] and gets them here);
// then one arena is planned for all activations and kernel scratch: buffers whose lifetimes do
// not overlap share memory (greedy by size, like TFLite's arena planner). Graph inputs and
// outputs live for the whole run, so inputs survive Invoke and outputs stay valid until the next
// Invoke. WithMemoryLimit caps the arena (ErrMemoryLimit).
//
// Invoke runs the kernels in order and allocates nothing. WithThreads lets kernels split their
// work over a fixed set of worker goroutines, stopped by Close.
//
// ResizeInput changes an input's shape; only dimensions declared -1 in the tensor's shape
// signature may change (files from the old TOCO converter carry no signature, so their inputs
// cannot be resized). It prepares every kernel again and re-plans the arena, which invalidates
// data slices obtained before.
//
// Supported builtin ops: ADD, SUB, MUL, AVERAGE_POOL_2D, MAX_POOL_2D, CONCATENATION, CONV_2D,
// DEPTHWISE_CONV_2D, FULLY_CONNECTED, LOGISTIC, RELU, RELU6, RELU_N1_TO_1, TANH, HARD_SWISH,
// SOFTMAX, RESHAPE, SQUEEZE, PAD, MEAN, RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, QUANTIZE,
// DEQUANTIZE, TRANSPOSE, STRIDED_SLICE; custom op TFLite_Detection_PostProcess. Each kernel
// documents the types it takes (float32, uint8, int8 per-channel).
//
// # Caveats
//
//   - An Interpreter is not safe for concurrent use; build one per goroutine.
//   - Only subgraph 0 runs: control flow (IF, WHILE, CALL_ONCE) is not supported.
//   - Shapes are fixed after prepare: an op whose output shape depends on run-time values
//     (RESHAPE with a computed shape tensor, for example) is rejected at load.
//   - Variable tensors get their own zeroed (or initialised) memory, but no op that assigns
//     variables is implemented.
//   - Buffers stored outside the flatbuffer (models over 2 GB) are read from the same byte
//     slice, so such a model must still fit in memory; on 32-bit ARM a model is limited to 2 GB.
//   - Tensor data slices point into interpreter memory: they stay valid until ResizeInput or
//     Close, and Invoke overwrites outputs.
package tflite
