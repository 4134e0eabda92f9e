package native

import (
	"encoding/binary"
	"fmt"

	"github.com/edge-agent/edge-agent/tflite"
)

// check refuses a model the library must not see before the vetting process builds it (vet.go).
// TensorFlow Lite 2.9 trusts the values in the file more than this project's loader does: a
// damaged file whose tensors need gigabytes makes it allocate them, and an int8 tensor without
// quantization makes it abort. So where the pure-Go runtime has every op of the model, it
// prepares the model (which checks every operator, its types and quantization, and computes every
// shape without touching the memory), and a model it cannot build is refused. A model using an op
// it lacks gets the hazard check only.
func check(m *tflite.Model, limit int) error {
	if err := hazard(m); err != nil {
		return err
	}
	for op := range m.OpCounts() {
		if !tflite.OpSupported(op) {
			return nil
		}
	}
	ip, err := tflite.NewInterpreter(m, tflite.WithMemoryLimit(limit))
	if err != nil {
		return fmt.Errorf("native: refused, as the pure-Go runtime's check of it failed: %w", err)
	}
	return ip.Close()
}

// hazard returns an error for a model on which the library would crash the process at run time,
// whatever it checks when it builds the interpreter. TensorFlow Lite's int32 DIV (2.9's, at least)
// divides without checking the divisor for zero, which raises SIGFPE, so an int32 DIV is run only
// when its divisor is a constant without zeros; a divisor computed at run time (from the input,
// say) sends the model to the pure-Go runtime, which reports a zero divisor as an Invoke error.
func hazard(m *tflite.Model) error {
	for i, op := range m.Operators() {
		if op.Op != "DIV" || len(op.Inputs) < 2 || op.Inputs[1].Type != tflite.Int32 {
			continue
		}
		c := op.Constants[1]
		if c == nil {
			return fmt.Errorf("native: %w: operator %d (DIV) divides by an int32 tensor computed at run time, "+
				"and TensorFlow Lite does not check it for zero (a zero would crash the process)", tflite.ErrUnsupported, i)
		}
		for k := 0; k+4 <= len(c); k += 4 {
			if binary.LittleEndian.Uint32(c[k:]) == 0 {
				return fmt.Errorf("native: %w: operator %d (DIV) divides by a constant int32 zero, which would crash TensorFlow Lite",
					tflite.ErrInvalidModel, i)
			}
		}
	}
	return nil
}
