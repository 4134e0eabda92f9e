package tflite

import (
	"os"
	"strings"
	"testing"
)

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

// TestDocListsOps keeps doc.go's list of supported ops the list of registered ones.
func TestDocListsOps(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	doc = doc[strings.Index(doc, "Supported builtin ops"):strings.Index(doc, "OpSupported tells")]
	listed := 0
	for _, w := range strings.FieldsFunc(doc, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '/' }) {
		if _, ok := opCodeOf(w); ok {
			listed++
			if !OpSupported(w) {
				t.Errorf("doc.go lists %s, which is not registered", w)
			}
		}
	}
	for code := range builtinKernels {
		if !strings.Contains(doc, " "+OpName(code)+",") && !strings.Contains(doc, " "+OpName(code)+"\n") {
			t.Errorf("doc.go does not list %s", OpName(code))
		}
	}
	if listed != len(builtinKernels) {
		t.Errorf("doc.go lists %d builtin ops, %d are registered", listed, len(builtinKernels))
	}
}

func opCodeOf(name string) (int32, bool) {
	for c, n := range opNames {
		if n == name {
			return int32(c), true
		}
	}
	return 0, false
}
