package tflite

import "testing"

func TestOpSupported(t *testing.T) {
	for name, want := range map[string]bool{
		"CONV_2D": true, "GATHER_ND": true, "TRANSPOSE_CONV": true, "LOGICAL_NOT": true, "DENSIFY": true,
		"TFLite_Detection_PostProcess": true,
		"SIN":                          false, "WHILE": false, "Convolution2DTransposeBias": false, "": false, "BUILTIN_999": false,
	} {
		if got := OpSupported(name); got != want {
			t.Errorf("OpSupported(%q) = %v, want %v", name, got, want)
		}
	}
	// Every registered code has a schema name and is reported supported under it.
	for code := range builtinKernels {
		if !OpSupported(OpName(code)) {
			t.Errorf("%s (%d) registered but not reported supported", OpName(code), code)
		}
	}
}
