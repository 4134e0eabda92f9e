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
// with the XNNPACK delegate inside. Any other build of the 2.x C API works too (a newer one, or
// one built for armv7); Open checks its symbols and version. A library that is missing, that is
// not a shared object for this machine, or that lacks the C API is an error wrapping
// ErrUnavailable (and ErrNotFound or ErrIncompatible). A library is never unloaded.
//
// # XNNPACK
//
// With XNNPACKAuto (the default) float operators run on the XNNPACK delegate. Quantized operators
// run on TensorFlow Lite's own kernels (ruy and gemmlowp): in 2.9 the delegate's QU8 flag makes
// delegation of uint8 models fail, and its QS8 flag (int8) both fails on some int8 models
// (MoveNet's) and, where it works, was no faster on the int8 models measured; see the README's
// runtime section for the figures. XNNPACKQS8 asks for it anyway. If the delegate cannot be
// applied to a model the interpreter is built without it (or with the float-only delegate, if
// QS8 was asked for) and XNNPACK reports why.
//
// The delegate's options are passed as a zeroed structure holding the thread count (and, for
// 2.9, whose layout is known, the flags): later releases grew that structure and moved its flags
// field, so with any other version the delegate runs with flags 0 (float operators).
//
// # Hostile models
//
// The C library checks the flatbuffer but may abort the process on some malformed graphs, so
// NewInterpreter takes a *tflite.Model, which this project's bounds-checked loader has already
// validated, and hands the C library a copy of its bytes. The C library's error messages (an
// unsupported op, bad quantization parameters) are captured and returned in errors wrapping
// tflite.ErrUnsupported, never printed.
//
// # Caveats
//
//   - An Interpreter is not safe for concurrent use, like tflite.Interpreter.
//   - Tensor data lives in C memory: after Close the tensors are detached (their accessors return
//     empty slices); Close must be called, there is no finalizer.
//   - Inputs cannot be resized; string tensors are not supported.
//   - Without cgo (CGO_ENABLED=0) Open always fails with ErrUnavailable.
package native
