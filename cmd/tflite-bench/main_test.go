package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestBenchLines(t *testing.T) {
	var stdout, stderr bytes.Buffer
	models := []string{"../../testdata/models/tiny/hello_world_int8.tflite", "../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"}
	args := append([]string{"-no-ref", "-runs", "1", "-warmup", "0", "-threads", "1,2"}, models...)
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	re := regexp.MustCompile(`^bench (hello_world_int8|coco_ssd_mobilenet_v1_1\.0_quant_2018_06_29)\.tflite threads=[12] ours_ms=[0-9.e-]+ ref_ms=NA ratio=NA$`)
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), stdout.String())
	}
	for _, l := range lines {
		if !re.MatchString(l) {
			t.Errorf("bad line %q", l)
		}
	}
}

func TestBenchErrors(t *testing.T) {
	var out bytes.Buffer
	for _, args := range [][]string{
		{"-threads", "0"},
		{"-no-ref", "missing.tflite"},
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
