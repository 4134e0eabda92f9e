// Command tflite-bench measures the median Invoke latency of our TFLite runtime on every model in
// testdata/models and models/, with 1 and 2 threads, and, when the official runtime's WASM
// build is set up (see ../shared/tfref/README.md), the official runtime's latency in the same run.
// It prints one line per model and thread count:
//
//	bench MODEL_FILE threads=1 ours_ms=12.3 ref_ms=34.5 ratio=0.36
//
// ratio is ours/ref; ref_ms=NA when there is no reference (not set up, or it cannot run the model).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edge-agent/edge-agent/tflite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tflite-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	threads []int
	runs    int
	warmup  int
	minTime time.Duration
	tfref   string // folder with run.mjs and its node_modules; "" for no reference
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tflite-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	threads := fs.String("threads", "1,2", "comma-separated thread counts")
	runs := fs.Int("runs", 20, "timed invocations per measurement (at least; more for fast models)")
	warmup := fs.Int("warmup", 3, "untimed invocations before measuring")
	noRef := fs.Bool("no-ref", false, "do not run the official runtime")
	tfref := fs.String("tfref", "", "folder of the official runtime scripts (default: $TFREF_DIR, ~/.cache/tfref, ../shared/tfref)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := options{runs: max(*runs, 1), warmup: max(*warmup, 0), minTime: 300 * time.Millisecond}
	for _, s := range strings.Split(*threads, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad thread count %q", s)
		}
		o.threads = append(o.threads, n)
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	models := fs.Args()
	if len(models) == 0 {
		for _, pattern := range []string{"testdata/models/*/*.tflite", "models/*.tflite"} {
			m, _ := filepath.Glob(filepath.Join(root, pattern))
			models = append(models, m...)
		}
		slices.Sort(models)
	}
	if len(models) == 0 {
		return errors.New("no models found")
	}
	if !*noRef {
		o.tfref = findTFRef(*tfref, root)
		if o.tfref == "" {
			fmt.Fprintln(stderr, "tflite-bench: official runtime not found (run ../shared/tfref/setup.sh); ref_ms=NA")
		}
	}
	for _, path := range models {
		for _, n := range o.threads {
			if err := ctx.Err(); err != nil {
				return err
			}
			line, err := benchModel(ctx, path, n, o, stderr)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			fmt.Fprintln(stdout, line)
		}
	}
	return nil
}

func benchModel(ctx context.Context, path string, threads int, o options, stderr io.Writer) (string, error) {
	m, err := tflite.LoadFile(path)
	if err != nil {
		return "", err
	}
	ip, err := tflite.NewInterpreter(m, tflite.WithThreads(threads))
	if err != nil {
		return "", err
	}
	defer ip.Close()
	for i := 0; i < ip.InputCount(); i++ {
		fillRamp(ip.Input(i))
	}
	ours, err := measure(ip, o)
	if err != nil {
		return "", err
	}
	ref := "NA"
	ratio := "NA"
	if o.tfref != "" {
		ms, err := refLatency(ctx, o, path, threads, outputShapes(ip))
		if err != nil {
			fmt.Fprintf(stderr, "tflite-bench: reference on %s: %v\n", filepath.Base(path), err)
		} else {
			ref = formatMs(ms)
			ratio = formatRatio(ours / ms)
		}
	}
	return fmt.Sprintf("bench %s threads=%d ours_ms=%s ref_ms=%s ratio=%s", filepath.Base(path), threads, formatMs(ours), ref, ratio), nil
}

// measure returns the median Invoke latency in milliseconds over at least o.runs invocations and
// o.minTime.
func measure(ip *tflite.Interpreter, o options) (float64, error) {
	for i := 0; i < o.warmup; i++ {
		if err := ip.Invoke(); err != nil {
			return 0, err
		}
	}
	var times []float64
	start := time.Now()
	for len(times) < o.runs || (time.Since(start) < o.minTime && len(times) < 100000) {
		t0 := time.Now()
		if err := ip.Invoke(); err != nil {
			return 0, err
		}
		times = append(times, float64(time.Since(t0).Nanoseconds())/1e6)
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// fillRamp writes the input the reference's --gen ramp writes: byte b = (i*7+3) mod 256 for
// element i; float inputs get b/255, uint8 b, int8 b-128.
func fillRamp(t *tflite.Tensor) {
	switch t.Type() {
	case tflite.Float32:
		for i := range t.Float32s() {
			t.Float32s()[i] = float32((i*7+3)%256) / 255
		}
	case tflite.UInt8:
		for i := range t.UInt8s() {
			t.UInt8s()[i] = uint8((i*7 + 3) % 256)
		}
	case tflite.Int8:
		for i := range t.Int8s() {
			t.Int8s()[i] = int8((i*7+3)%256 - 128)
		}
	}
}

// outputShapes returns the --output-shapes argument LiteRT.js needs when the model declares an
// output shape it cannot use (the SSD post-process outputs are declared []), else "".
func outputShapes(ip *tflite.Interpreter) string {
	need := false
	var parts []string
	for i, info := range ip.Model().Outputs() {
		if len(info.Shape) == 0 {
			need = true
		}
		var dims []string
		for _, d := range ip.Output(i).Shape() {
			dims = append(dims, strconv.Itoa(d))
		}
		parts = append(parts, strings.Join(dims, ","))
	}
	if !need {
		return ""
	}
	return strings.Join(parts, ";")
}

// refLatency runs the official runtime (LiteRT.js) on the same ramp input and returns its
// median latency in milliseconds.
func refLatency(ctx context.Context, o options, model string, threads int, shapes string) (float64, error) {
	tmp, err := os.CreateTemp("", "tflite-bench-*.json")
	if err != nil {
		return 0, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := []string{"--experimental-wasm-relaxed-simd", filepath.Join(o.tfref, "run.mjs"), model,
		"--gen", "ramp", "--threads", strconv.Itoa(threads),
		"--warmup", strconv.Itoa(o.warmup), "--runs", strconv.Itoa(o.runs), "--out", tmp.Name()}
	if shapes != "" {
		args = append(args, "--output-shapes", shapes)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("node run.mjs: %w: %s", err, lastLine(out))
	}
	b, err := os.ReadFile(tmp.Name())
	if err != nil {
		return 0, err
	}
	var r struct {
		OK     bool `json:"ok"`
		Timing struct {
			MedianMs float64 `json:"medianMs"`
		} `json:"timing"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("reference output: %w", err)
	}
	if !r.OK || r.Timing.MedianMs <= 0 {
		return 0, errors.New("reference run reported errors")
	}
	return r.Timing.MedianMs, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// findTFRef returns the first folder holding run.mjs with its node_modules installed.
func findTFRef(flagDir, root string) string {
	var dirs []string
	if flagDir != "" {
		dirs = append(dirs, flagDir)
	}
	if d := os.Getenv("TFREF_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "tfref"))
	}
	dirs = append(dirs, filepath.Join(root, "..", "shared", "tfref"))
	if _, err := exec.LookPath("node"); err != nil {
		return ""
	}
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "run.mjs")) && fileExists(filepath.Join(d, "node_modules")) {
			return d
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the module (no go.mod found)")
		}
		dir = parent
	}
}

func formatMs(ms float64) string {
	switch {
	case ms >= 100:
		return strconv.FormatFloat(ms, 'f', 0, 64)
	case ms >= 1:
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return strconv.FormatFloat(ms, 'g', 2, 64)
}

func formatRatio(r float64) string {
	if r < 0.1 {
		return strconv.FormatFloat(r, 'g', 2, 64)
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}
