// Command tflite-bench measures the median Invoke latency of every model in testdata/models,
// tflite/testdata/blazeface and models/ (and ../shared/models when present), with 1 and 2
// threads, on this project's pure-Go runtime and on the official TensorFlow Lite runtime: its C
// library in process (package tflite/native), without and with the XNNPACK delegate, and its WASM build LiteRT.js when set up
// (see ../shared/tfref/README.md). The in-process runtimes are timed in turn, in blocks of
// invocations, so their figures share the machine's conditions. It prints one line per model and thread count:
//
//	bench MODEL_FILE threads=1 go_ms=12.3 tflite_ms=8.1 xnnpack_ms=3.2 litert_ms=5.0 ratio=3.84
//
// ratio is go_ms over the smallest official figure; NA marks a figure that is missing (the
// runtime is not set up, or cannot run the model; stderr says why). With 1 and more thread counts
// it then prints, per model, the pure-Go runtime's speedup from 1 thread to each other count,
// those runtimes timed in turn in one measurement (the lines above are minutes apart, and the
// machine's load drifts between them):
//
//	scaling MODEL_FILE go_1_ms=12.3 go_2_ms=6.8 speedup_2=1.81 copies_2=1.90
//
// copies_N is the other way to use N cores: N 1-thread interpreters invoking at once, their
// throughput over one's (N times the 1-thread time over the time they take together). It shows
// what the host gives at that moment: on a machine whose cores are shared with other guests it
// falls well below N, and the speedup with it (it is no bound: N copies also contend for caches
// that one N-thread interpreter shares).
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
	"sync"
	"time"

	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/backend"
	"github.com/edge-agent/edge-agent/tflite/native"
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
	settle  time.Duration   // pause before each block, for the last runtime's threads to park
	tfref   string          // folder with run.mjs and its node_modules; "" for no LiteRT.js
	lib     *native.Library // nil: no in-process official runtime
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tflite-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	threads := fs.String("threads", "1,2", "comma-separated thread counts")
	runs := fs.Int("runs", 20, "timed invocations per measurement (at least; more for fast models)")
	warmup := fs.Int("warmup", 3, "untimed invocations before measuring")
	noRef := fs.Bool("no-ref", false, "do not run LiteRT.js (the official runtime's WASM build)")
	tfref := fs.String("tfref", "", "folder of the LiteRT.js scripts (default: $TFREF_DIR, ~/.cache/tfref, ../shared/tfref)")
	library := fs.String("library", "", "libtensorflowlite_c `file` (default: the first of "+strings.Join(native.DefaultPaths(), ", ")+")")
	noNative := fs.Bool("no-native", false, "do not run the official runtime's C library")
	invokes := fs.Int("invokes", 0, "time nothing: run `N` invocations of one runtime (-runtime) on each model and thread count, for an instruction counter (make bench-insn)")
	runtime := fs.String("runtime", "go", "the runtime -invokes runs: go, tflite or xnnpack")
	settle := fs.Duration("settle", 100*time.Millisecond, "pause before each runtime's block of invocations")
	list := fs.Bool("list", false, "print the models measured by default, one per line, and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := options{runs: max(*runs, 1), warmup: max(*warmup, 0), minTime: 300 * time.Millisecond, settle: *settle}
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
		models = defaultModels(root)
	}
	if len(models) == 0 {
		return errors.New("no models found")
	}
	if *list {
		for _, m := range models {
			fmt.Fprintln(stdout, m)
		}
		return nil
	}
	if *invokes > 0 {
		if *runtime != "go" {
			if o.lib, err = native.Open(*library); err != nil {
				return err
			}
		}
		for _, path := range models {
			for _, n := range o.threads {
				if err := invokeOnly(path, *runtime, n, *invokes, o.lib); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
		}
		return nil
	}
	if !*noNative {
		if o.lib, err = native.Open(*library); err != nil {
			if *library != "" {
				return err
			}
			fmt.Fprintf(stderr, "tflite-bench: %v (make tflite-lib provisions it); tflite_ms=NA xnnpack_ms=NA\n", err)
		}
	}
	if !*noRef {
		o.tfref = findTFRef(*tfref, root)
		if o.tfref == "" {
			fmt.Fprintln(stderr, "tflite-bench: LiteRT.js not found (run ../shared/tfref/setup.sh); litert_ms=NA")
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
		if len(o.threads) > 1 && slices.Contains(o.threads, 1) {
			line, err := scaling(path, o)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			fmt.Fprintln(stdout, line)
		}
	}
	return nil
}

// scaling measures the pure-Go runtime on the model with each of o.threads, in turn in one
// measurement, and returns its scaling line: every figure, the speedup of each count n over 1,
// and copies_n, the throughput of n one-thread interpreters invoking at once over one's.
func scaling(path string, o options) (string, error) {
	m, err := tflite.LoadFile(path)
	if err != nil {
		return "", err
	}
	var rs []*runner
	var copies []tflite.Runner
	defer func() {
		for _, r := range rs {
			r.r.Close()
		}
		for _, r := range copies {
			r.Close()
		}
	}()
	open := func(threads int) (tflite.Runner, error) {
		r, _, err := newRunner(m, "go", threads, nil)
		if err != nil {
			return nil, err
		}
		for i := range r.InputCount() {
			tflite.FillProbe(r.Input(i))
		}
		return r, nil
	}
	for _, n := range o.threads {
		r, err := open(n)
		if err != nil {
			return "", err
		}
		rs = append(rs, &runner{name: strconv.Itoa(n), r: r})
	}
	var groups []*runner
	for _, n := range o.threads {
		if n == 1 {
			continue
		}
		var group []tflite.Runner
		for range n {
			r, err := open(1)
			if err != nil {
				return "", err
			}
			copies = append(copies, r)
			group = append(group, r)
		}
		c := &runner{name: strconv.Itoa(n) + "x1", r: group[0], invoke: func() error { return invokeAll(group) }}
		groups = append(groups, c)
	}
	if err := measure(append(slices.Clone(rs), groups...), o); err != nil {
		return "", err
	}
	line := "scaling " + filepath.Base(path)
	var one float64
	for i, n := range o.threads {
		line += fmt.Sprintf(" go_%d_ms=%s", n, formatMs(rs[i].ms))
		if n == 1 {
			one = rs[i].ms
		}
	}
	c := 0
	for i, n := range o.threads {
		if n != 1 {
			line += fmt.Sprintf(" speedup_%d=%.2f copies_%d=%.2f", n, one/rs[i].ms, n, float64(n)*one/groups[c].ms)
			c++
		}
	}
	return line, nil
}

// invokeAll invokes every runner at once, each on its own goroutine, and returns the first error.
func invokeAll(rs []tflite.Runner) error {
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs[1:] {
		wg.Go(func() { errs[i+1] = r.Invoke() })
	}
	errs[0] = rs[0].Invoke()
	wg.Wait()
	return errors.Join(errs...)
}

// defaultModels lists the repository's models (BlazeFace is tflite's test data; not
// testdata/models/synthetic, the tests' made-up models) and, when ../shared/models is there, the
// ones it has that the repository has not (by file name).
func defaultModels(root string) []string {
	var models []string
	seen := map[string]bool{}
	for _, pattern := range []string{"testdata/models/*/*.tflite", "tflite/testdata/blazeface/*.tflite", "models/*.tflite", "../shared/models/*/*.tflite"} {
		found, _ := filepath.Glob(filepath.Join(root, pattern))
		slices.Sort(found)
		for _, p := range found {
			if filepath.Base(filepath.Dir(p)) == "synthetic" {
				continue
			}
			if !seen[filepath.Base(p)] {
				seen[filepath.Base(p)] = true
				models = append(models, p)
			}
		}
	}
	return models
}

// runner is one in-process runtime being measured.
type runner struct {
	name string
	r    tflite.Runner
	// invoke, when set, is what is timed instead of r.Invoke (scaling's independent copies).
	invoke func() error
	ms     float64 // median; 0 until measured
}

// call runs one timed invocation.
func (r *runner) call() error {
	if r.invoke != nil {
		return r.invoke()
	}
	return r.r.Invoke()
}

func benchModel(ctx context.Context, path string, threads int, o options, stderr io.Writer) (string, error) {
	m, err := tflite.LoadFile(path)
	if err != nil {
		return "", err
	}
	name := filepath.Base(path)
	note := func(format string, args ...any) {
		fmt.Fprintf(stderr, "tflite-bench: %s threads=%d: %s\n", name, threads, fmt.Sprintf(format, args...))
	}
	runtimes := []string{"go"}
	if o.lib != nil {
		runtimes = append(runtimes, "tflite", "xnnpack")
	}
	var rs []*runner
	for _, rt := range runtimes {
		r, why, err := newRunner(m, rt, threads, o.lib)
		if err != nil {
			note("%s: %v", rt, err)
			continue
		}
		if why != "" {
			note("%s: %s", rt, why)
		}
		rs = append(rs, &runner{name: rt, r: r})
	}
	defer func() {
		for _, r := range rs {
			r.r.Close()
		}
	}()
	for _, r := range rs {
		for i := range r.r.InputCount() {
			tflite.FillProbe(r.r.Input(i))
		}
	}
	if err := measure(rs, o); err != nil {
		return "", err
	}
	if len(rs) > 1 && rs[0].name == "go" {
		for _, r := range rs[1:] {
			if err := backend.Compare(rs[0].r, r.r); err != nil {
				note("go and %s disagree: %v", r.name, err)
			}
		}
	}
	figures := map[string]float64{}
	for _, r := range rs {
		figures[r.name] = r.ms
	}
	if o.tfref != "" {
		var shapes string
		if len(rs) > 0 {
			shapes = outputShapes(m, rs[0].r)
		}
		ms, err := refLatency(ctx, o, path, threads, shapes)
		if err != nil {
			note("litert: %v", err)
		} else {
			figures["litert"] = ms
		}
	}
	line := fmt.Sprintf("bench %s threads=%d", name, threads)
	for _, k := range []string{"go", "tflite", "xnnpack", "litert"} {
		line += " " + k + "_ms=" + formatFigure(figures[k])
	}
	best := 0.0
	for _, k := range []string{"tflite", "xnnpack", "litert"} {
		if v := figures[k]; v > 0 && (best == 0 || v < best) {
			best = v
		}
	}
	ratio := "NA"
	if figures["go"] > 0 && best > 0 {
		ratio = formatRatio(figures["go"] / best)
	}
	return line + " ratio=" + ratio, nil
}

// newRunner builds the runtime named rt (go, tflite or xnnpack) for m; why is what the XNNPACK
// delegate said when it took only part of the model.
func newRunner(m *tflite.Model, rt string, threads int, lib *native.Library) (r tflite.Runner, why string, err error) {
	switch rt {
	case "go":
		r, err = tflite.NewInterpreter(m, tflite.WithThreads(threads))
	case "tflite":
		r, err = lib.NewInterpreter(m, native.Options{Threads: threads, XNNPACK: native.XNNPACKOff})
	case "xnnpack":
		ip, err := lib.NewInterpreter(m, native.Options{Threads: threads})
		if err != nil {
			return nil, "", err
		}
		mode, why := ip.XNNPACK()
		if mode == native.XNNPACKOff {
			ip.Close()
			return nil, "", fmt.Errorf("the delegate could not be applied: %s", why)
		}
		return ip, why, nil
	default:
		return nil, "", fmt.Errorf("unknown runtime %q (want go, tflite or xnnpack)", rt)
	}
	if err != nil {
		return nil, "", err
	}
	return r, "", nil
}

// invokeOnly runs n invocations of runtime rt on the model at path with the probe input, and
// nothing else that grows with n: an instruction counter's totals for two values of n differ by
// exactly that many invocations.
func invokeOnly(path, rt string, threads, n int, lib *native.Library) error {
	m, err := tflite.LoadFile(path)
	if err != nil {
		return err
	}
	r, _, err := newRunner(m, rt, threads, lib)
	if err != nil {
		return err
	}
	defer r.Close()
	for i := range r.InputCount() {
		tflite.FillProbe(r.Input(i))
	}
	for range n {
		if err := r.Invoke(); err != nil {
			return err
		}
	}
	return nil
}

func formatFigure(ms float64) string {
	if ms <= 0 {
		return "NA"
	}
	return formatMs(ms)
}

// measure sets each runner's ms to its median Invoke latency over at least o.runs invocations
// and o.minTime, after o.warmup untimed ones. The runners take turns in blocks, three rounds of
// them, so that a change in the machine's load touches all alike. Blocks rather than single
// calls, and a pause of o.settle before each block: a runtime's worker threads spin for a while
// after each call (ours, TFLite's and XNNPACK's thread pools all do), and on a machine with as
// many cores as threads the next runtime's workers would share their cores with them (on 2
// cores, without the pause, ours went from 1 to 2 threads 1.63-1.64 times faster beside the
// official runtimes and 1.76-1.78 times alone).
func measure(rs []*runner, o options) error {
	const rounds = 3
	times := make([][]float64, len(rs))
	for round := range rounds {
		for i, r := range rs {
			time.Sleep(o.settle)
			warmup := 1
			if round == 0 {
				warmup = o.warmup
			}
			for range warmup {
				if err := r.call(); err != nil {
					return fmt.Errorf("%s: %w", r.name, err)
				}
			}
			start := time.Now()
			for n := 0; n < (o.runs+rounds-1)/rounds || (time.Since(start) < o.minTime/rounds && n < 100000); n++ {
				t0 := time.Now()
				if err := r.call(); err != nil {
					return fmt.Errorf("%s: %w", r.name, err)
				}
				times[i] = append(times[i], float64(time.Since(t0).Nanoseconds())/1e6)
			}
		}
	}
	for i, r := range rs {
		slices.Sort(times[i])
		r.ms = times[i][len(times[i])/2]
	}
	return nil
}

// outputShapes returns the --output-shapes argument LiteRT.js needs when the model declares an
// output shape it cannot use (the SSD post-process outputs are declared []), else "".
func outputShapes(m *tflite.Model, r tflite.Runner) string {
	need := false
	var parts []string
	for i, info := range m.Outputs() {
		if len(info.Shape) == 0 {
			need = true
		}
		var dims []string
		for _, d := range r.Output(i).Shape() {
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
