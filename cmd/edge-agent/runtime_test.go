package main

import (
	"encoding/json"
	"errors"
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
