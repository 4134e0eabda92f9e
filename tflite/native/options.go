package native

import "fmt"

// XNNPACK selects how the interpreter uses the XNNPACK delegate.
type XNNPACK int

const (
	// XNNPACKAuto is the measured default: XNNPACKQS8 with TensorFlow Lite 2.9.x, XNNPACKFloat
	// with other versions (see the package documentation).
	XNNPACKAuto XNNPACK = iota
	// XNNPACKOff runs every operator on TensorFlow Lite's own kernels.
	XNNPACKOff
	// XNNPACKFloat applies the delegate to float operators only.
	XNNPACKFloat
	// XNNPACKQS8 applies the delegate to float and int8 operators (its QS8 flag). Only 2.9.x
	// gets the flag, as only its options layout is known; other versions get XNNPACKFloat.
	XNNPACKQS8
)

func (x XNNPACK) String() string {
	switch x {
	case XNNPACKAuto:
		return "auto"
	case XNNPACKOff:
		return "off"
	case XNNPACKFloat:
		return "float"
	case XNNPACKQS8:
		return "qs8"
	}
	return fmt.Sprintf("XNNPACK(%d)", int(x))
}

// Options configures an Interpreter.
type Options struct {
	Threads int // threads for TensorFlow Lite's kernels and for XNNPACK; below 1 means 1
	XNNPACK XNNPACK
	// MemoryLimit caps the bytes of the model's tensors (default tflite.DefaultMemoryLimit).
	MemoryLimit int
}
