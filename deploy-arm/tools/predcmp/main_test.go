package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const amd64Run = `{"v":1,"seq":1,"ts":"2026-11-26T10:00:00.123Z","infer_ms":21.4,"detections":[{"label":"cat","class":16,"score":0.640625,"box":{"x":54,"y":396,"w":393,"h":196}}]}
{"v":1,"seq":2,"ts":"2026-11-26T10:00:00.223Z","infer_ms":20.1,"detections":[]}
`

func TestRun(t *testing.T) {
	tol := "-tol=score=0.0040,x=2,y=2,w=2,h=2"
	cases := []struct {
		name   string
		got    string
		ok     bool
		report string // a substring of the output
	}{
		{"identical", amd64Run, true, "2 records match"},
		{"timestamps and timings differ",
			strings.NewReplacer(`10:00:00.123Z`, `11:12:13.000Z`, `21.4`, `388.9`).Replace(amd64Run), true, "2 records match"},
		{"score within a quantization step",
			strings.Replace(amd64Run, `0.640625`, `0.64453125`, 1), true, "match"},
		{"box within a pixel", strings.Replace(amd64Run, `"x":54`, `"x":55`, 1), true, "match"},
		{"score off by two steps",
			strings.Replace(amd64Run, `0.640625`, `0.6484375`, 1), false, "[0].detections[0].score"},
		{"other class", strings.Replace(amd64Run, `"class":16`, `"class":17`, 1), false, "[0].detections[0].class"},
		{"other label", strings.Replace(amd64Run, `"cat"`, `"dog"`, 1), false, `want "cat", got "dog"`},
		{"extra detection",
			strings.Replace(amd64Run, `"detections":[]`, `"detections":[{"label":"cat","class":16,"score":0.5,"box":{"x":1,"y":1,"w":1,"h":1}}]`, 1),
			false, "[1].detections: want 0 elements, got 1"},
		{"missing record", strings.SplitAfter(amd64Run, "\n")[0], false, "record count: want 2, got 1"},
		{"missing key", strings.Replace(amd64Run, `"seq":1,`, ``, 1), false, "[0].seq: missing"},
		{"sequence differs", strings.Replace(amd64Run, `"seq":2`, `"seq":3`, 1), false, "[1].seq"},
	}
	want := writeFile(t, "want.jsonl", amd64Run)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := writeFile(t, "got.jsonl", c.got)
			var out strings.Builder
			ok, err := run([]string{tol, want, got}, &out)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if ok != c.ok {
				t.Errorf("match = %v, want %v; output:\n%s", ok, c.ok, out.String())
			}
			if !strings.Contains(out.String(), c.report) {
				t.Errorf("output %q does not mention %q", out.String(), c.report)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	good := writeFile(t, "good.jsonl", amd64Run)
	cases := []struct {
		name  string
		args  []string
		usage bool
	}{
		{"one file", []string{good}, true},
		{"bad tolerance", []string{"-tol=score", good, good}, true},
		{"negative tolerance", []string{"-tol=score=-1", good, good}, true},
		{"NaN tolerance", []string{"-tol=score=NaN", good, good}, true},
		{"missing file", []string{good, filepath.Join(t.TempDir(), "nope.jsonl")}, false},
		{"broken JSON", []string{good, writeFile(t, "bad.jsonl", `{"v":1`+"\n")}, false},
		{"two values on a line", []string{good, writeFile(t, "two.jsonl", `{"v":1} {"v":2}`+"\n")}, false},
		{"line too long", []string{good, writeFile(t, "long.jsonl", `"`+strings.Repeat("a", maxLine)+`"`+"\n")}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out strings.Builder
			ok, err := run(c.args, &out)
			if err == nil || ok {
				t.Fatalf("run(%q) = %v, %v; want an error", c.args, ok, err)
			}
			if errors.Is(err, errUsage) != c.usage {
				t.Errorf("errors.Is(%v, errUsage) = %v, want %v", err, !c.usage, c.usage)
			}
		})
	}
}

func TestRunMatchDetections(t *testing.T) {
	const want = `{"seq":1,"detections":[{"label":"cat","class":16,"score":0.6445,"box":{"x":29,"y":317,"w":213,"h":160}},{"label":"dog","class":17,"score":0.5117,"box":{"x":208,"y":158,"w":147,"h":322}}]}` + "\n"
	args := []string{"-match=detections", "-threshold=0.5", "-tol=score=0.025,x=4,y=4,w=4,h=4"}
	cases := []struct {
		name string
		got  string
		ok   bool
	}{
		{"same", want, true},
		{"reordered", `{"seq":1,"detections":[{"label":"dog","class":17,"score":0.5117,"box":{"x":208,"y":158,"w":147,"h":322}},{"label":"cat","class":16,"score":0.6445,"box":{"x":29,"y":317,"w":213,"h":160}}]}`, true},
		{"detection near the threshold dropped", `{"seq":1,"detections":[{"label":"cat","class":16,"score":0.65,"box":{"x":30,"y":317,"w":213,"h":160}}]}`, true},
		{"confident detection dropped", `{"seq":1,"detections":[{"label":"dog","class":17,"score":0.5117,"box":{"x":208,"y":158,"w":147,"h":322}}]}`, false},
		{"class changed", `{"seq":1,"detections":[{"label":"dog","class":17,"score":0.6445,"box":{"x":29,"y":317,"w":213,"h":160}},{"label":"dog","class":17,"score":0.5117,"box":{"x":208,"y":158,"w":147,"h":322}}]}`, false},
		{"box moved", `{"seq":1,"detections":[{"label":"cat","class":16,"score":0.6445,"box":{"x":39,"y":317,"w":213,"h":160}},{"label":"dog","class":17,"score":0.5117,"box":{"x":208,"y":158,"w":147,"h":322}}]}`, false},
		{"confident extra detection", `{"seq":1,"detections":[{"label":"cat","class":16,"score":0.6445,"box":{"x":29,"y":317,"w":213,"h":160}},{"label":"dog","class":17,"score":0.5117,"box":{"x":208,"y":158,"w":147,"h":322}},{"label":"cat","class":16,"score":0.9,"box":{"x":1,"y":1,"w":5,"h":5}}]}`, false},
	}
	w := writeFile(t, "want.jsonl", want)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out strings.Builder
			ok, err := run(append(args, w, writeFile(t, "got.jsonl", c.got+"\n")), &out)
			if err != nil {
				t.Fatal(err)
			}
			if ok != c.ok {
				t.Errorf("match = %v, want %v; output:\n%s", ok, c.ok, out.String())
			}
		})
	}
}

// TestRunIoU: with -iou, boxes compare by overlap: the teddy bear the official arm64 runtime
// places 22 pixels left and 30 wider (IoU 0.886) matches at 0.8, not at 0.9; a box elsewhere
// does not.
func TestRunIoU(t *testing.T) {
	const want = `{"detections":[{"label":"teddy bear","class":87,"score":0.56,"box":{"x":115,"y":191,"w":234,"h":205}}]}` + "\n"
	moved := strings.NewReplacer(`"x":115`, `"x":93`, `"w":234`, `"w":264`).Replace(want)
	elsewhere := strings.NewReplacer(`"x":115`, `"x":400`).Replace(want)
	w := writeFile(t, "want.jsonl", want)
	for _, c := range []struct {
		got, iou string
		ok       bool
	}{{moved, "0.8", true}, {moved, "0.9", false}, {elsewhere, "0.8", false}, {want, "1", true}} {
		var out strings.Builder
		ok, err := run([]string{"-match=detections", "-tol=score=0.03", "-iou=" + c.iou, w, writeFile(t, "got.jsonl", c.got)}, &out)
		if err != nil || ok != c.ok {
			t.Errorf("-iou %s on %s: match = %v, %v; want %v\n%s", c.iou, strings.TrimSpace(c.got), ok, err, c.ok, out.String())
		}
	}
	if _, err := run([]string{"-iou=1.5", w, w}, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("-iou 1.5: %v", err)
	}
}
