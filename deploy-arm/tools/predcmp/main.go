// Command predcmp compares two JSON-lines outputs of the same run on different machines (the agent's
// `run --print` records, or cvprobe's frame statistics), e.g. amd64 against arm64 under qemu.
//
//	predcmp [-ignore ts,infer_ms] [-tol score=0.0040,x=2] WANT.jsonl GOT.jsonl
//
// Both files must hold the same number of records with the same structure: the same keys, the same
// array lengths (so the same number of detections), equal strings and booleans. Keys in -ignore
// (timestamps, timings) are skipped wherever they appear. Numbers are equal within the tolerance
// given for their key in -tol (an array element uses its array's key), else within 1e-6: the
// platforms may round a float differently (arm64 fuses multiply-adds) or resize a frame with
// different SIMD code, which can move a quantized score by a step and a box by a pixel.
//
// With -match KEY, arrays under KEY (the records' "detections") are compared as sets: each element
// must have a counterpart in the other file with the same "class" that compares equal within the
// tolerances; an element without one is accepted only if its "score" is within the score tolerance
// of -threshold, the score threshold the agent filters with (such a detection can fall on either
// side of it when the two platforms' scores differ slightly).
//
// With -iou MIN, a "box" object ({x, y, w, h}) is compared by its overlap instead: the two boxes'
// intersection over union must be at least MIN. Two runtimes that pick neighbouring anchors for
// the same object move a box's edges by tens of pixels while it still covers the object.
//
// It exits 0 when the outputs match, 1 with the differences listed when they do not, and 2 on a
// usage or input error.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// maxLine bounds one JSON record; a longer line is an input error, not an allocation.
const maxLine = 4 << 20

// maxReport bounds how many differences are printed.
const maxReport = 20

// defaultTol is the tolerance of a number whose key has none in -tol.
const defaultTol = 1e-6

// errUsage marks command-line mistakes.
var errUsage = errors.New("usage")

func main() {
	ok, err := run(os.Args[1:], os.Stdout)
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "predcmp:", err)
		os.Exit(2)
	case !ok:
		os.Exit(1)
	}
}

// options says what a comparison skips and how close numbers must be.
type options struct {
	ignore    map[string]bool
	tol       map[string]float64
	match     string  // key of arrays compared as sets of detections
	threshold float64 // score threshold of matched arrays
	iou       float64 // with > 0, boxes compare by intersection over union
}

func run(args []string, out io.Writer) (bool, error) {
	fs := flag.NewFlagSet("predcmp", flag.ContinueOnError)
	ignore := fs.String("ignore", "ts,infer_ms", "comma-separated keys to skip")
	tol := fs.String("tol", "", "comma-separated key=tolerance pairs for numbers")
	match := fs.String("match", "", "key of arrays of detections to compare as sets")
	threshold := fs.Float64("threshold", 0, "score threshold of the detections under -match")
	iou := fs.Float64("iou", 0, "compare \"box\" objects by intersection over union, at least this (0: by coordinates)")
	if err := fs.Parse(args); err != nil {
		return false, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 2 {
		return false, fmt.Errorf("%w: want two files, got %d arguments", errUsage, fs.NArg())
	}
	opt, err := parseOptions(*ignore, *tol)
	if err != nil {
		return false, err
	}
	if *iou < 0 || *iou > 1 || math.IsNaN(*iou) {
		return false, fmt.Errorf("%w: -iou %v: want a number between 0 and 1", errUsage, *iou)
	}
	opt.match, opt.threshold, opt.iou = *match, *threshold, *iou
	want, err := readRecords(fs.Arg(0))
	if err != nil {
		return false, err
	}
	got, err := readRecords(fs.Arg(1))
	if err != nil {
		return false, err
	}
	diffs := compareRecords(want, got, opt)
	for i, d := range diffs {
		if i == maxReport {
			fmt.Fprintf(out, "... and %d more differences\n", len(diffs)-maxReport)
			break
		}
		fmt.Fprintln(out, d)
	}
	if len(diffs) > 0 {
		return false, nil
	}
	fmt.Fprintf(out, "predcmp: %d records match\n", len(want))
	return true, nil
}

func parseOptions(ignore, tol string) (options, error) {
	opt := options{ignore: map[string]bool{}, tol: map[string]float64{}}
	for k := range strings.SplitSeq(ignore, ",") {
		if k = strings.TrimSpace(k); k != "" {
			opt.ignore[k] = true
		}
	}
	for kv := range strings.SplitSeq(tol, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return opt, fmt.Errorf("%w: -tol %q: want key=number", errUsage, kv)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return opt, fmt.Errorf("%w: -tol %q: want a finite tolerance >= 0", errUsage, kv)
		}
		opt.tol[k] = f
	}
	return opt, nil
}

// readRecords parses one JSON value per non-empty line.
func readRecords(path string) ([]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var recs []any
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: more than one JSON value on the line", path, line)
		}
		recs = append(recs, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}

func compareRecords(want, got []any, opt options) []string {
	var diffs []string
	if len(want) != len(got) {
		diffs = append(diffs, fmt.Sprintf("record count: want %d, got %d", len(want), len(got)))
	}
	for i := range min(len(want), len(got)) {
		compare(fmt.Sprintf("[%d]", i), "", want[i], got[i], opt, &diffs)
	}
	return diffs
}

// compare appends to diffs where got differs from want; key is the nearest object key above the
// values, which selects the tolerance of numbers.
func compare(path, key string, want, got any, opt options, diffs *[]string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: want an object, got %s", path, short(got)))
			return
		}
		for _, k := range unionKeys(w, g) {
			if opt.ignore[k] {
				continue
			}
			wv, inW := w[k]
			gv, inG := g[k]
			switch {
			case !inG:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: missing (want %s)", path, k, short(wv)))
			case !inW:
				*diffs = append(*diffs, fmt.Sprintf("%s.%s: unexpected (got %s)", path, k, short(gv)))
			case k == "box" && opt.iou > 0:
				compareBox(path+"."+k, wv, gv, opt.iou, diffs)
			default:
				compare(path+"."+k, k, wv, gv, opt, diffs)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: want an array, got %s", path, short(got)))
			return
		}
		if opt.match != "" && key == opt.match {
			compareSets(path, key, w, g, opt, diffs)
			return
		}
		if len(w) != len(g) {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %d elements, got %d", path, len(w), len(g)))
		}
		for i := range min(len(w), len(g)) {
			compare(fmt.Sprintf("%s[%d]", path, i), key, w[i], g[i], opt, diffs)
		}
	case json.Number:
		g, ok := got.(json.Number)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %s, got %s", path, w, short(got)))
			return
		}
		wf, err1 := w.Float64()
		gf, err2 := g.Float64()
		if err1 != nil || err2 != nil {
			if w != g {
				*diffs = append(*diffs, fmt.Sprintf("%s: want %s, got %s", path, w, g))
			}
			return
		}
		tol, ok := opt.tol[key]
		if !ok {
			tol = defaultTol
		}
		if math.Abs(wf-gf) > tol {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %s, got %s (|diff| %.3g > %g)", path, w, g, math.Abs(wf-gf), tol))
		}
	default: // string, bool, nil
		if want != got {
			*diffs = append(*diffs, fmt.Sprintf("%s: want %s, got %s", path, short(want), short(got)))
		}
	}
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

// short renders v for a message, cut to a readable length.
func short(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

// compareSets matches the detections of want and got (see -match).
func compareSets(path, key string, want, got []any, opt options, diffs *[]string) {
	used := make([]bool, len(got))
	var unmatchedWant []int
	for i, w := range want {
		found := false
		for j, g := range got {
			if used[j] || !sameClass(w, g) {
				continue
			}
			var d []string
			compare("", key, w, g, opt, &d)
			if len(d) == 0 {
				used[j], found = true, true
				break
			}
		}
		if !found {
			unmatchedWant = append(unmatchedWant, i)
		}
	}
	tol, ok := opt.tol["score"]
	if !ok {
		tol = defaultTol
	}
	nearThreshold := func(v any) bool {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		n, ok := m["score"].(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && f < opt.threshold+tol
	}
	for _, i := range unmatchedWant {
		if !nearThreshold(want[i]) {
			*diffs = append(*diffs, fmt.Sprintf("%s[%d]: no match in the other file for %s", path, i, short(want[i])))
		}
	}
	for j, g := range got {
		if !used[j] && !nearThreshold(g) {
			*diffs = append(*diffs, fmt.Sprintf("%s: unexpected %s", path, short(g)))
		}
	}
}

func sameClass(a, b any) bool {
	ma, ok1 := a.(map[string]any)
	mb, ok2 := b.(map[string]any)
	return ok1 && ok2 && ma["class"] == mb["class"]
}

// compareBox appends to diffs unless boxes want and got overlap by at least minIoU.
func compareBox(path string, want, got any, minIoU float64, diffs *[]string) {
	w, ok1 := boxOf(want)
	g, ok2 := boxOf(got)
	if !ok1 || !ok2 {
		*diffs = append(*diffs, fmt.Sprintf("%s: want boxes {x, y, w, h}, got %s and %s", path, short(want), short(got)))
		return
	}
	ix := max(0, min(w[0]+w[2], g[0]+g[2])-max(w[0], g[0]))
	iy := max(0, min(w[1]+w[3], g[1]+g[3])-max(w[1], g[1]))
	inter := ix * iy
	union := w[2]*w[3] + g[2]*g[3] - inter
	if iou := inter / union; union <= 0 || iou < minIoU {
		*diffs = append(*diffs, fmt.Sprintf("%s: want %s, got %s (IoU %.3f < %g)", path, short(want), short(got), inter/union, minIoU))
	}
}

// boxOf reads a box's x, y, w and h.
func boxOf(v any) ([4]float64, bool) {
	var b [4]float64
	m, ok := v.(map[string]any)
	if !ok {
		return b, false
	}
	for i, k := range []string{"x", "y", "w", "h"} {
		n, ok := m[k].(json.Number)
		if !ok {
			return b, false
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return b, false
		}
		b[i] = f
	}
	return b, b[2] >= 0 && b[3] >= 0
}
