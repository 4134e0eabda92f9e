// Package backend opens a model on the runtime a configuration names: this project's pure-Go
// interpreter (go), the official TensorFlow Lite C library (tflite, package tflite/native), or,
// with auto, whichever of the two runs the model faster on this machine.
//
// Auto measures rather than guesses: it builds both, runs both on the same input for a short
// budget (DefaultBudget, with the configured threads; see Measure), checks that their outputs agree (Compare)
// and keeps the faster. Where the library is absent or either runtime cannot run the model, the
// other one is used and Choice.Fallback says why. A disagreement between the two is reported in
// Choice.Disagreement, for the log and the status, and does not stop the model: it is a bug in
// one of them, to be reported.
package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/native"
)

// Runtimes a configuration may name.
const (
	Auto   = "auto"
	Go     = tflite.RuntimeGo
	TFLite = tflite.RuntimeTFLite
)

// DefaultBudget is how long Auto measures the two runtimes together.
const DefaultBudget = 2 * time.Second

// maxRuns caps the timed invocations per runtime, for tiny models.
const maxRuns = 200

// ErrRuntime marks a configuration naming no known runtime.
var ErrRuntime = errors.New("unknown runtime")

// Config selects and configures the runtime.
type Config struct {
	Runtime string        // Auto (also for ""), Go or TFLite
	Library string        // libtensorflowlite_c to load; "" searches native.DefaultPaths
	Threads int           // threads for either runtime's kernels; below 1 means 1
	Budget  time.Duration // Auto's measuring time; 0 means DefaultBudget
	// XNNPACK is the delegate mode on the official runtime (native.XNNPACKAuto by default).
	XNNPACK native.XNNPACK
}

// Choice records which runtime runs the model and why, for the log, the status and metrics.
type Choice struct {
	Runtime   string `json:"runtime"`   // the runtime in use: go or tflite
	Requested string `json:"requested"` // the configured one: auto, go or tflite
	Library   string `json:"library,omitempty"`
	Version   string `json:"version,omitempty"` // the library's TensorFlow Lite version
	// XNNPACK is the delegate mode of the official runtime's interpreter (off, float or qs8),
	// and XNNPACKNote why it is not the one asked for.
	XNNPACK     string `json:"xnnpack,omitempty"`
	XNNPACKNote string `json:"xnnpack_note,omitempty"`
	// GoMs and TFLiteMs are Auto's median Invoke times in milliseconds over GoRuns and
	// TFLiteRuns timed invocations; zero when that runtime was not measured.
	GoMs       float64 `json:"go_ms,omitempty"`
	TFLiteMs   float64 `json:"tflite_ms,omitempty"`
	GoRuns     int     `json:"go_runs,omitempty"`
	TFLiteRuns int     `json:"tflite_runs,omitempty"`
	// Disagreement describes the first output where the two runtimes' results differ beyond
	// Compare's bounds; empty when they agree or were not both run.
	Disagreement string `json:"disagreement,omitempty"`
	// Fallback says why Auto could not measure one of the runtimes (the library is absent, or a
	// runtime cannot run the model).
	Fallback string `json:"fallback,omitempty"`
}

// String summarises the choice on one line, for command-line tools.
func (c Choice) String() string {
	s := c.Runtime
	if c.Runtime == TFLite {
		s += " " + c.Version + " (XNNPACK " + c.XNNPACK + ")"
	}
	if c.GoMs > 0 && c.TFLiteMs > 0 {
		s += fmt.Sprintf(", measured: go %s ms, tflite %s ms", ms(c.GoMs), ms(c.TFLiteMs))
	}
	if c.Fallback != "" {
		s += "; " + c.Fallback
	}
	if c.XNNPACKNote != "" {
		s += "; " + c.XNNPACKNote
	}
	if c.Disagreement != "" {
		s += "; the runtimes disagree: " + c.Disagreement
	}
	return s
}

// LogValue lets slog print a Choice as a group of its set fields.
func (c Choice) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("runtime", c.Runtime), slog.String("requested", c.Requested)}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	add("library", c.Library)
	add("version", c.Version)
	add("xnnpack", c.XNNPACK)
	add("xnnpack_note", c.XNNPACKNote)
	if c.GoMs > 0 {
		attrs = append(attrs, slog.Float64("go_ms", c.GoMs), slog.Int("go_runs", c.GoRuns))
	}
	if c.TFLiteMs > 0 {
		attrs = append(attrs, slog.Float64("tflite_ms", c.TFLiteMs), slog.Int("tflite_runs", c.TFLiteRuns))
	}
	add("disagreement", c.Disagreement)
	add("fallback", c.Fallback)
	return slog.GroupValue(attrs...)
}

func ms(v float64) string { return strconv.FormatFloat(v, 'g', 3, 64) }

// ParseRuntime checks a configured runtime name; "" is Auto.
func ParseRuntime(s string) (string, error) {
	switch s {
	case "", Auto:
		return Auto, nil
	case Go, TFLite:
		return s, nil
	}
	return "", fmt.Errorf("%w %q (want auto, go or tflite)", ErrRuntime, s)
}

// Open builds a runner for m on the configured runtime. With TFLite an unusable library is an
// error wrapping native.ErrUnavailable, and a model the library refuses one wrapping
// tflite.ErrUnsupported; with Auto these make it use the pure-Go runtime instead. Auto measures
// both runtimes for about c.Budget (each runs at least once, however long that takes) and
// returns ctx's error if ctx ends first.
func Open(ctx context.Context, m *tflite.Model, c Config) (tflite.Runner, Choice, error) {
	rt, err := ParseRuntime(c.Runtime)
	if err != nil {
		return nil, Choice{}, err
	}
	ch := Choice{Requested: rt}
	threads := max(c.Threads, 1)
	switch rt {
	case Go:
		ip, err := tflite.NewInterpreter(m, tflite.WithThreads(threads))
		if err != nil {
			return nil, ch, err
		}
		ch.Runtime = Go
		return ip, ch, nil
	case TFLite:
		ip, err := openNative(m, c, threads, &ch)
		if err != nil {
			return nil, ch, err
		}
		return ip, ch, nil
	}

	goIP, goErr := tflite.NewInterpreter(m, tflite.WithThreads(threads))
	tfIP, tfErr := openNative(m, c, threads, &ch)
	switch {
	case goErr != nil && tfErr != nil:
		return nil, ch, fmt.Errorf("%w (and the official runtime: %w)", goErr, tfErr)
	case tfErr != nil:
		ch.Runtime, ch.Fallback = Go, "tflite: "+tfErr.Error()
		ch.Library, ch.Version, ch.XNNPACK, ch.XNNPACKNote = "", "", "", ""
		return goIP, ch, nil
	case goErr != nil:
		ch.Runtime, ch.Fallback = TFLite, "go: "+goErr.Error()
		return tfIP, ch, nil
	}
	budget := c.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	t, err := Measure(ctx, goIP, tfIP, budget)
	if err != nil {
		goIP.Close()
		tfIP.Close()
		return nil, ch, err
	}
	ch.GoMs, ch.GoRuns = t.Ms[0], t.Runs[0]
	ch.TFLiteMs, ch.TFLiteRuns = t.Ms[1], t.Runs[1]
	if t.Disagreement != nil {
		ch.Disagreement = t.Disagreement.Error()
	}
	// A tie goes to the pure-Go runtime, which depends on nothing outside the binary.
	if ch.TFLiteMs < ch.GoMs {
		goIP.Close()
		ch.Runtime = TFLite
		return tfIP, ch, nil
	}
	tfIP.Close()
	ch.Runtime = Go
	return goIP, ch, nil
}

func openNative(m *tflite.Model, c Config, threads int, ch *Choice) (*native.Interpreter, error) {
	lib, err := native.Open(c.Library)
	if err != nil {
		return nil, err
	}
	ch.Library, ch.Version = lib.Path(), lib.Version()
	ip, err := lib.NewInterpreter(m, native.Options{Threads: threads, XNNPACK: c.XNNPACK})
	if err != nil {
		return nil, err
	}
	ch.Runtime = TFLite
	mode, note := ip.XNNPACK()
	ch.XNNPACK, ch.XNNPACKNote = mode.String(), note
	return ip, nil
}

// Timing is what Measure found.
type Timing struct {
	Ms   [2]float64 // median Invoke time of a and b in milliseconds
	Runs [2]int     // timed invocations of each
	// Disagreement is Compare's verdict on the first invocation's outputs (nil: they agree).
	Disagreement error
}

// measureRounds is how many times Measure switches between the runners, so that a change in the
// machine's load touches both.
const measureRounds = 3

// Measure fills both runners' inputs with the same data (FillProbe), invokes each once and
// compares their outputs, then times their invocations in blocks, a's then b's, measureRounds
// times, each block about budget/(2*measureRounds) long (at least one invocation, at most
// maxRuns per runner in all). Blocks rather than alternate calls: a runtime's worker threads spin
// for a while after each call, which would slow the other's next call.
func Measure(ctx context.Context, a, b tflite.Runner, budget time.Duration) (Timing, error) {
	var t Timing
	if err := FillProbe(a, b); err != nil {
		return t, err
	}
	for _, r := range []tflite.Runner{a, b} {
		if err := r.Invoke(); err != nil {
			return t, fmt.Errorf("%s: %w", r.Runtime(), err)
		}
	}
	t.Disagreement = Compare(a, b)
	block := budget / (2 * measureRounds)
	var times [2][]float64
	for range measureRounds {
		for i, r := range []tflite.Runner{a, b} {
			start := time.Now()
			for n := 0; n == 0 || time.Since(start) < block; n++ {
				if len(times[i]) >= maxRuns {
					break
				}
				if err := ctx.Err(); err != nil {
					return t, err
				}
				t0 := time.Now()
				if err := r.Invoke(); err != nil {
					return t, fmt.Errorf("%s: %w", r.Runtime(), err)
				}
				times[i] = append(times[i], float64(time.Since(t0).Nanoseconds())/1e6)
			}
		}
	}
	for i := range times {
		slices.Sort(times[i])
		t.Ms[i], t.Runs[i] = times[i][len(times[i])/2], len(times[i])
	}
	return t, nil
}

// FillProbe writes the same deterministic input into every input of a and b (tflite.FillProbe).
func FillProbe(a, b tflite.Runner) error {
	if a.InputCount() != b.InputCount() {
		return fmt.Errorf("%s has %d inputs, %s %d", a.Runtime(), a.InputCount(), b.Runtime(), b.InputCount())
	}
	for i := range a.InputCount() {
		ta, tb := a.Input(i), b.Input(i)
		if ta.Type() != tb.Type() || ta.ByteSize() != tb.ByteSize() {
			return fmt.Errorf("input %d: %s %v on %s, %s %v on %s", i, ta.Type(), ta.Shape(), a.Runtime(), tb.Type(), tb.Shape(), b.Runtime())
		}
		tflite.FillProbe(ta)
		if err := tb.CopyFrom(ta.Bytes()); err != nil {
			return err
		}
	}
	return nil
}
