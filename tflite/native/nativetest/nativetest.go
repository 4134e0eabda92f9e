// Package nativetest gives tests the official TensorFlow Lite library.
package nativetest

import (
	"errors"
	"os"
	"testing"

	"github.com/edge-agent/edge-agent/tflite/native"
)

// Env names the variable that points the tests at a library. `make test` sets it to the copy it
// provisions, so that the tests fail rather than skip when that copy cannot be loaded.
const Env = "EDGE_AGENT_TFLITE_LIBRARY"

// Library opens the library named by $EDGE_AGENT_TFLITE_LIBRARY, failing the test if it cannot;
// without the variable it searches native.DefaultPaths and skips the test when there is none.
func Library(t testing.TB) *native.Library {
	t.Helper()
	path := os.Getenv(Env)
	lib, err := native.Open(path)
	switch {
	case err == nil:
		return lib
	case path == "" && errors.Is(err, native.ErrUnavailable) && !errors.Is(err, native.ErrIncompatible):
		t.Skipf("the official TensorFlow Lite library is absent (make tflite-lib provisions it, or set %s): %v", Env, err)
	}
	t.Fatalf("%s=%q: %v", Env, path, err)
	return nil
}
