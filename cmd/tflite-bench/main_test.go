package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/tflite/native/nativetest"
)

func TestBenchLines(t *testing.T) {
	lib := nativetest.Library(t)
	models := []string{"../../testdata/models/tiny/hello_world_int8.tflite", "../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"}
	num := `[0-9.e-]+`
	for _, c := range []struct {
		flags  []string
		fields string
	}{
		{[]string{"-library", lib.Path()}, "go_ms=" + num + " tflite_ms=" + num + " xnnpack_ms=" + num + " litert_ms=NA ratio=" + num},
		{[]string{"-no-native"}, "go_ms=" + num + " tflite_ms=NA xnnpack_ms=NA litert_ms=NA ratio=NA"},
	} {
		var stdout, stderr bytes.Buffer
		args := append(append([]string{"-no-ref", "-runs", "1", "-warmup", "0", "-threads", "1,2"}, c.flags...), models...)
		if err := run(context.Background(), args, &stdout, &stderr); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		models := `(hello_world_int8|coco_ssd_mobilenet_v1_1\.0_quant_2018_06_29)\.tflite`
		re := regexp.MustCompile(`^bench ` + models + ` threads=[12] ` + c.fields + `$`)
		// Each model's two lines, then its scaling line.
		scaling := regexp.MustCompile(`^scaling ` + models + ` go_1_ms=` + num + ` go_2_ms=` + num + ` speedup_2=[0-9]+\.[0-9]{2} copies_2=[0-9]+\.[0-9]{2}$`)
		if len(lines) != 6 {
			t.Fatalf("%v: got %d lines, want 6:\n%s", c.flags, len(lines), stdout.String())
		}
		for i, l := range lines {
			want := re
			if i%3 == 2 {
				want = scaling
			}
			if !want.MatchString(l) {
				t.Errorf("%v: bad line %q", c.flags, l)
			}
		}
	}
}

// A model the official runtime refuses still gets its line, with NA and the reason on stderr.
func TestBenchRefused(t *testing.T) {
	lib := nativetest.Library(t)
	var stdout, stderr bytes.Buffer
	args := []string{"-no-ref", "-runs", "1", "-warmup", "0", "-threads", "1", "-library", lib.Path(), "../../testdata/models/int8_person/person_detect.tflite"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^bench person_detect\.tflite threads=1 go_ms=[0-9.e-]+ tflite_ms=NA xnnpack_ms=NA litert_ms=NA ratio=NA\n$`).MatchString(stdout.String()) ||
		!strings.Contains(stderr.String(), "quantized_dimension") {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

func TestBenchErrors(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"-threads", "0"},
		{"-no-ref", "missing.tflite"},
		{"-no-ref", "-library", "/nonexistent/libtensorflowlite_c.so"},
		{"-bogus"},
	} {
		if err := run(context.Background(), args, &out, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestFormatMs(t *testing.T) {
	for ms, want := range map[float64]string{2329.4: "2329", 12.34: "12.3", 0.00023: "0.00023", 0.171: "0.17"} {
		if got := formatMs(ms); got != want {
			t.Errorf("formatMs(%v) = %q, want %q", ms, got, want)
		}
	}
}

func TestFormatRatio(t *testing.T) {
	for r, want := range map[float64]string{0.0037: "0.0037", 0.36: "0.36", 7.974: "7.97"} {
		if got := formatRatio(r); got != want {
			t.Errorf("formatRatio(%v) = %q, want %q", r, got, want)
		}
	}
}

// -invokes runs the model and prints nothing (an instruction counter reads the process); a model
// that fails, or a runtime it does not know, is an error.
func TestInvokesOnly(t *testing.T) {
	lib := nativetest.Library(t)
	model := "../../testdata/models/tiny/hello_world_int8.tflite"
	for _, rt := range []string{"go", "tflite", "xnnpack"} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), []string{"-invokes", "3", "-runtime", rt, "-threads", "1,2", "-library", lib.Path(), model}, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v", rt, err)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: printed %q", rt, stdout.String())
		}
	}
	for _, args := range [][]string{
		{"-invokes", "1", "-runtime", "onnx", model},
		{"-invokes", "1", "../../testdata/models/tiny/missing.tflite"},
		{"-invokes", "1", "-runtime", "tflite", "-library", lib.Path(), "../../testdata/models/int8_person/person_detect.tflite"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// -list prints the default models, which exist, the shipped SSD among them and the tests'
// made-up models (testdata/models/synthetic) not.
func TestList(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-list"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	ssd := false
	for _, l := range lines {
		if _, err := os.Stat(l); err != nil {
			t.Errorf("listed %q: %v", l, err)
		}
		ssd = ssd || strings.HasSuffix(l, "/models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite")
		if strings.Contains(l, "/synthetic/") {
			t.Errorf("listed the test model %q", l)
		}
	}
	if !ssd {
		t.Errorf("the SSD is not listed:\n%s", stdout.String())
	}
}
