// Package native runs models on the official TensorFlow Lite runtime: libtensorflowlite_c, the
// TensorFlow Lite C API, loaded at run time with dlopen so that one binary works with or without
// the library. Its Interpreter implements tflite.Runner and hands out *tflite.Tensor views of
// the C library's tensor memory, so code written for the pure-Go runtime (preprocessing,
// decoding) runs unchanged on it.
//
//	lib, err := native.Open("")                  // search DefaultPaths
//	m, err := tflite.LoadFile("model.tflite")    // our validating loader goes first
//	ip, err := lib.NewInterpreter(m, native.Options{Threads: 2})
//	defer ip.Close()
//
// # The library
//
// The library the project provisions is TensorFlow Lite 2.9.0's prebuilt libtensorflowlite_c for
// linux amd64 and arm64 (npm package tfjs-tflite-node 0.0.2, see third_party/tensorflow-lite),
// with the XNNPACK delegate inside, and the only one tested. Another build of the 2.x C API (a
// newer release, or one built for armv7) should work: Open checks its architecture, symbols and
// version. A library that is missing, that is
// not a shared object for this machine, or that lacks the C API is an error wrapping
// ErrUnavailable (and ErrNotFound or ErrIncompatible). A library is never unloaded.
//
// # XNNPACK
//
// With XNNPACKAuto (the default) the interpreter gets the XNNPACK delegate with its QS8 flag: float
// and int8 operators run on XNNPACK, uint8 ones on TensorFlow Lite's own kernels (ruy, gemmlowp),
// because in 2.9 the QU8 flag makes delegation of uint8 models fail. Measured here in one run,
// one thread, against the delegate without the flag: an int8 convolution model (person_detect)
// takes 0.12 of the time (0.51 vs 4.3 ms) with outputs within one step of TensorFlow Lite's
// kernels; on float and uint8 models the flag changes nothing measurable. On some int8 models
// (MoveNet) the flag makes the delegate fail; then the interpreter is built with the float-only
// delegate, and without any if that fails too, and XNNPACK reports why.
//
// The delegate's options are passed as a zeroed structure holding the thread count and, for 2.9,
// whose layout is known, the flags: later releases grew that structure and moved its flags field,
// so with any other version the delegate runs without flags (XNNPACKFloat).
//
// # Hostile models
//
// TensorFlow Lite checks the flatbuffer but trusts the values in it: on damaged files 2.9 was seen
// to allocate gigabytes, abort (a quantization scale of 1e34, an int8 tensor without quantization),
// divide by zero (an axis out of range in MEAN) and read out of bounds (an index in GATHER_ND).
// So NewInterpreter takes a *tflite.Model, which this project's bounds-checked loader has
// validated, and then, before the library sees the bytes:
//
//   - where the pure-Go runtime has every op of the model, it prepares the model (every operator,
//     type, quantization and shape is checked, and the memory the tensors need is computed without
//     being touched: over Options.MemoryLimit is tflite.ErrMemoryLimit); a model it cannot
//     build is refused;
//   - an int32 DIV whose divisor is not a constant without zeros is refused: the library divides
//     by it unchecked, and a zero at run time would kill the process (SIGFPE);
//   - a child process (this executable again, see vet.go) builds the model with the same library
//     and options and runs it once on the probe input; if that kills the child, the model is
//     refused with an error wrapping ErrVet and tflite.ErrInvalidModel. This costs one process
//     start and one build (milliseconds for small models). qemu-user cannot start it (set
//     EDGE_AGENT_TFLITE_VET=off there, as test-arm does).
//
// What stays is what depends on run-time input values in ops the pure-Go runtime checks at
// Invoke and the library does not (an index computed from the input). The interpreter's error
// messages (an unsupported op, bad quantization parameters) are captured and returned in errors
// wrapping tflite.ErrUnsupported; the library prints to stderr only when its flatbuffer verifier
// refuses a file (2.9's TfLiteModelCreate takes no error reporter) and once, when it first
// creates the XNNPACK delegate.
//
// # Caveats
//
//   - An Interpreter is not safe for concurrent use, like tflite.Interpreter.
//   - Tensor data lives in C memory: after Close the tensors are detached (their accessors return
//     empty slices); Close must be called, there is no finalizer.
//   - Inputs cannot be resized; string tensors are not supported.
//   - Without cgo (CGO_ENABLED=0) Open always fails with ErrUnavailable.
package native
