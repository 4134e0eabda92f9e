//go:build !cgo

package native

import (
	"fmt"
	"strings"

	"github.com/edge-agent/edge-agent/tflite"
)

// Library is a loaded TensorFlow Lite C library; without cgo there is none.
type Library struct{}

// Open fails: loading a C library needs cgo. A path is checked first, so that a missing or
// foreign file gets the same error as with cgo.
func Open(path string) (*Library, error) {
	if strings.Contains(path, "/") {
		if err := checkELF(path); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("native: %w: this binary was built without cgo", ErrUnavailable)
}

// Path returns the path the library was opened from.
func (l *Library) Path() string { return "" }

// Version returns the library's TensorFlow Lite version.
func (l *Library) Version() string { return "" }

// HasXNNPACK reports whether the library exports the XNNPACK delegate.
func (l *Library) HasXNNPACK() bool { return false }

// NewInterpreter fails without cgo.
func (l *Library) NewInterpreter(m *tflite.Model, o Options) (*Interpreter, error) {
	return nil, fmt.Errorf("native: %w: this binary was built without cgo", ErrUnavailable)
}

// Interpreter runs a model on the official runtime; without cgo none can be built.
type Interpreter struct{ tflite.Runner }

// Library returns the library the interpreter runs on.
func (ip *Interpreter) Library() *Library { return nil }

// XNNPACK returns the delegate mode in use.
func (ip *Interpreter) XNNPACK() (XNNPACK, string) { return XNNPACKOff, "" }
