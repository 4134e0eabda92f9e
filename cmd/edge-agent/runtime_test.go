package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/tflite/native/nativetest"
)

func TestModelInspectRuntime(t *testing.T) {
	lib := nativetest.Library(t)
	out, err := inspect("--runtime", "tflite", "--library", lib.Path(), quantClassify)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "choice:      tflite "+lib.Version()) || !strings.Contains(out, "library:     "+lib.Path()) {
		t.Errorf("--runtime tflite:\n%s", out)
	}
	out, err = inspect("--json", "--runtime", "auto", "--library", lib.Path(), floatClassify)
	if err != nil {
		t.Fatal(err)
	}
	var r inspectResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if c := r.Runtime; c == nil || c.Requested != "auto" || c.GoMs <= 0 || c.TFLiteMs <= 0 || c.Disagreement != "" {
		t.Errorf("--runtime auto: %s", out)
	}
	// The official runtime refuses person_detect (see tflite/backend): the description is still
	// printed, with the reason, and the command fails.
	out, err = inspect("--runtime", "tflite", "--library", lib.Path(), testModels+"int8_person/person_detect.tflite")
	if err == nil || !strings.Contains(out, "choice:      --runtime tflite cannot run it: ") || !strings.Contains(out, "inputs:") {
		t.Errorf("person_detect on tflite: %v\n%s", err, out)
	}
	if _, err := inspect("--runtime", "fast", quantClassify); !errors.Is(err, errUsage) {
		t.Errorf("--runtime fast: %v", err)
	}
}

// TestInferRuntime: infer runs on go by default, on the official library with --runtime tflite
// (saying so on stderr, the same top class), and refuses a library that is not there.
func TestInferRuntime(t *testing.T) {
	run := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := runInfer(context.Background(), append([]string{"--model", quantClassify, "--image", burgerJPEG,
			"--labels", imagenetLabels, "--top", "1"}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	out, msg, err := run()
	if err != nil || !strings.Contains(out, "cheeseburger") || msg != "runtime: go\n" {
		t.Errorf("infer: %v\n%s%s", err, out, msg)
	}
	missing := filepath.Join(t.TempDir(), "libtensorflowlite_c.so")
	if _, _, err := run("--runtime", "tflite", "--library", missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("infer --runtime tflite --library %s: %v", missing, err)
	}
	if _, _, err := run("--runtime", "fast"); !errors.Is(err, errUsage) {
		t.Errorf("--runtime fast: %v", err)
	}
	lib := nativetest.Library(t)
	out, msg, err = run("--runtime", "tflite", "--library", lib.Path())
	if err != nil || !strings.Contains(out, "cheeseburger") || !strings.HasPrefix(msg, "runtime: tflite "+lib.Version()) {
		t.Errorf("infer --runtime tflite: %v\n%s%s", err, out, msg)
	}
}
