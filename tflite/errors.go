package tflite

import "errors"

// Errors returned by the package; callers test them with errors.Is. Every error carries context
// (which table, tensor or operator) around the sentinel.
var (
	// ErrInvalidModel is wrapped by every error about a file that is not a well-formed TFLite
	// model: bad flatbuffer offsets, out-of-range indices, inconsistent shapes or buffers, or an
	// operator order that cannot be executed.
	ErrInvalidModel = errors.New("invalid model")

	// ErrUnsupported is wrapped by every error about a valid model that uses an op, tensor type
	// or option this runtime does not implement. It is reported when the interpreter is built,
	// never by Invoke, except for operators that Invoke prepares because their input shapes
	// depend on run-time values (see Interpreter).
	ErrUnsupported = errUnsupported

	// ErrMemoryLimit is returned when the model's tensors need more memory than the
	// interpreter's limit (see WithMemoryLimit).
	ErrMemoryLimit = errors.New("memory limit exceeded")

	// ErrInvalidShape is returned by ResizeInput for a shape the input does not accept.
	ErrInvalidShape = errors.New("invalid shape")

	// ErrClosed is returned by an interpreter used after Close.
	ErrClosed = errors.New("interpreter closed")
)
