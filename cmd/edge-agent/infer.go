package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/edge-agent/edge-agent/agent"
	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/backend"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// runInfer is `edge-agent infer`: run a model once on an image file and print what its task
// decodes: the top classes, the detections, the pose keypoints, the segmentation's class shares or
// the raw outputs.
func runInfer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("infer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model", "", "model `file` (.tflite)")
	imagePath := fs.String("image", "", "image `file` (PNG, JPEG or BMP)")
	labelsPath := fs.String("labels", "", "label `file`, one per line (default: labels embedded in the model)")
	top := fs.Int("top", 5, "classification: number of classes to print")
	threads := fs.Int("threads", 1, "number of threads the kernels may use")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	mean := fs.Float64("mean", 127.5, "float inputs: mean subtracted from 0..255 pixel values")
	std := fs.Float64("std", 127.5, "float inputs: divisor applied after subtracting the mean")
	threshold := fs.Float64("threshold", 0.3, "detection: lowest score printed")
	maxResults := fs.Int("max-results", 0, "detection: most detections printed (0 = all the model returns)")
	task := fs.String("task", "auto", "how to decode the outputs: auto, classify, detect, pose, segment or raw")
	maskPath := fs.String("mask", "", "segmentation: write the class mask as a PNG `file`")
	// go by default: one image is not worth auto's 2 s of measuring; --runtime auto runs the
	// model where the agent with model.runtime auto would.
	rt := runtimeFlags(fs, backend.Go)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := rt.check(); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case *modelPath == "":
		return fmt.Errorf("%w: infer needs --model", errUsage)
	case *imagePath == "":
		return fmt.Errorf("%w: infer needs --image", errUsage)
	case *top < 1:
		return fmt.Errorf("%w: --top must be at least 1", errUsage)
	case *threads < 1 || *threads > 64:
		return fmt.Errorf("%w: --threads must be between 1 and 64", errUsage)
	case *std == 0 || math.IsNaN(*std) || math.IsNaN(*mean) || math.IsInf(*std, 0) || math.IsInf(*mean, 0):
		return fmt.Errorf("%w: --std must be a non-zero number and --mean a number", errUsage)
	case *maxResults < 0:
		return fmt.Errorf("%w: --max-results must not be negative", errUsage)
	}

	// The agent's own pipeline on one image: OpenCV decoding and preprocessing, the interpreter,
	// the task rule and the decoder are the ones its records come from.
	p, err := agent.NewImagePredictor(ctx, agent.ModelConfig{
		Path: *modelPath, Labels: *labelsPath, Threads: *threads, Task: *task,
		TopK: *top, Fit: "stretch", Mean: *mean, Std: *std,
		Runtime: *rt.runtime, Library: *rt.library,
	})
	if err != nil {
		return err
	}
	defer p.Close()
	// Which runtime ran it goes to stderr, so that stdout stays the result alone.
	fmt.Fprintf(stderr, "runtime: %s\n", p.Runtime())
	if p.Task() == vision.TaskDetect {
		// --threshold is about detections; a classification prints its top K whatever they score.
		p.Decoder().Threshold = float32(*threshold)
	}
	p.Decoder().MaxResults = *maxResults
	if err := ctx.Err(); err != nil {
		return err
	}
	pred, err := p.PredictFile(*imagePath)
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	res := pred.Result
	if *maskPath != "" {
		if res.Segmentation == nil {
			return fmt.Errorf("%w: --mask is for segmentation models; this one is decoded as %s", errUsage, p.Task())
		}
		png, err := res.Segmentation.PNG()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*maskPath, png, 0o644); err != nil {
			return fmt.Errorf("infer: %w", err)
		}
	}
	if *asJSON {
		return writeJSON(stdout, res)
	}
	switch {
	case res.Keypoints != nil:
		for _, k := range res.Keypoints {
			fmt.Fprintf(stdout, "%-16s score=%.3f x=%.1f y=%.1f\n", k.Name, k.Score, k.X, k.Y)
		}
		return nil
	case res.Segmentation != nil:
		s := res.Segmentation
		fmt.Fprintf(stdout, "%dx%d class map\n", s.Width, s.Height)
		for _, c := range s.Classes {
			fmt.Fprintf(stdout, "%5d  %-24s %6.2f%%\n", c.Index, orDash(c.Label), 100*c.Fraction)
		}
		return nil
	case res.Raw != nil:
		for _, o := range res.Raw {
			fmt.Fprintf(stdout, "%s %s %v: %v", o.Name, o.Type, o.Shape, []float64(o.Values[:min(len(o.Values), 8)]))
			if o.Elements > 8 {
				fmt.Fprintf(stdout, " ... (%d values)", o.Elements)
			}
			fmt.Fprintln(stdout)
		}
		return nil
	}
	if res.Detections != nil {
		if len(*res.Detections) == 0 {
			fmt.Fprintf(stdout, "no detection scored %.2f or more\n", *threshold)
		}
		for _, d := range *res.Detections {
			fmt.Fprintf(stdout, "%-16s class=%-4d score=%.3f box x=%d y=%d w=%d h=%d\n",
				orDash(d.Label), d.Class, d.Score, d.Box.X, d.Box.Y, d.Box.W, d.Box.H)
		}
		return nil
	}
	for _, c := range res.Classes {
		fmt.Fprintf(stdout, "%5d  %-24s %.4f\n", c.Index, orDash(c.Label), c.Score)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// inspectTensor is a model input or output as `model inspect` prints it.
type inspectTensor struct {
	Name      string    `json:"name"`
	Type      string    `json:"type"`
	Shape     []int     `json:"shape"`
	Signature []int     `json:"shape_signature,omitempty"`
	Scale     []float32 `json:"scale,omitempty"`
	ZeroPoint []int64   `json:"zero_point,omitempty"`
	Axis      *int      `json:"quantized_dimension,omitempty"`
}

type inspectOp struct {
	Name      string `json:"name"`
	Count     int    `json:"count"`
	Supported bool   `json:"supported"`
}

type inspectResult struct {
	Path        string          `json:"path"`
	Size        int             `json:"size"`
	SHA256      string          `json:"sha256"`
	Description string          `json:"description,omitempty"`
	MetaName    string          `json:"metadata_name,omitempty"`
	MetaDesc    string          `json:"metadata_description,omitempty"`
	Inputs      []inspectTensor `json:"inputs"`
	Outputs     []inspectTensor `json:"outputs"`
	Ops         []inspectOp     `json:"ops"`
	Labels      int             `json:"labels"`
	FirstLabels []string        `json:"first_labels,omitempty"`
	Metadata    string          `json:"metadata_error,omitempty"`
	// Runs says whether this runtime builds an interpreter for the model; RunError why not.
	Runs     bool   `json:"runs"`
	RunError string `json:"run_error,omitempty"`
	Task     string `json:"task,omitempty"`
	// Runtime is what --runtime found: the runtime that runs the model, and auto's timings.
	Runtime      *backend.Choice `json:"runtime,omitempty"`
	RuntimeError string          `json:"runtime_error,omitempty"`
}

// runModelInspect is `edge-agent model inspect MODEL`.
func runModelInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("model inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print as JSON")
	rt := runtimeFlags(fs, "")
	threads := fs.Int("threads", 1, "with --runtime: number of threads the kernels may use")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: edge-agent model inspect [--json] [--runtime auto|go|tflite [--library FILE] [--threads N]] MODEL")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: model inspect needs exactly one model file", errUsage)
	}
	if *rt.runtime != "" {
		if err := rt.check(); err != nil {
			return err
		}
	}
	if *threads < 1 || *threads > 64 {
		return fmt.Errorf("%w: --threads must be between 1 and 64", errUsage)
	}
	path := fs.Arg(0)
	m, err := tflite.LoadFile(path)
	if err != nil {
		return err
	}
	r := inspectResult{Path: path, Size: m.Size(), SHA256: m.SHA256(), Description: m.Description()}
	r.Inputs = inspectTensors(m.Inputs())
	r.Outputs = inspectTensors(m.Outputs())
	for name, n := range m.OpCounts() {
		r.Ops = append(r.Ops, inspectOp{name, n, tflite.OpSupported(name)})
	}
	if ip, err := tflite.NewInterpreter(m); err != nil {
		r.RunError = err.Error()
	} else {
		ip.Close()
		r.Runs = true
	}
	if task, err := vision.TaskOf(m); err == nil {
		r.Task = string(task)
	}
	// Most frequent first, then by name, so the output is stable.
	slices.SortFunc(r.Ops, func(a, b inspectOp) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Name, b.Name)
	})
	labels := m.Labels()
	r.Labels = len(labels)
	r.FirstLabels = labels[:min(len(labels), 5)]
	md, err := m.Metadata()
	if err != nil {
		r.Metadata = err.Error()
	}
	if md != nil {
		r.MetaName, r.MetaDesc = md.Name, md.Description
	}
	// --runtime builds the model on that runtime (auto: on both, measured) and reports what runs it.
	var rtErr error
	if *rt.runtime != "" {
		ip, choice, err := backend.Open(ctx, m, rt.config(*threads))
		if err != nil {
			rtErr = fmt.Errorf("model inspect --runtime %s: %w", *rt.runtime, err)
			r.RuntimeError = err.Error()
		} else {
			ip.Close()
			r.Runtime = &choice
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, r); err != nil {
			return err
		}
		return rtErr
	}
	fmt.Fprintf(stdout, "model:       %s\nsize:        %d bytes\nsha256:      %s\n", r.Path, r.Size, r.SHA256)
	if r.Description != "" {
		fmt.Fprintf(stdout, "description: %s\n", r.Description)
	}
	if r.MetaName != "" || r.MetaDesc != "" {
		fmt.Fprintf(stdout, "metadata:    %s", r.MetaName)
		if r.MetaDesc != "" {
			fmt.Fprintf(stdout, " — %s", r.MetaDesc)
		}
		fmt.Fprintln(stdout)
	}
	for _, side := range []struct {
		name string
		ts   []inspectTensor
	}{{"inputs", r.Inputs}, {"outputs", r.Outputs}} {
		fmt.Fprintf(stdout, "%s:\n", side.name)
		for i, t := range side.ts {
			fmt.Fprintf(stdout, "  %d  %-40s %-8s %v", i, t.Name, t.Type, t.Shape)
			if !slices.Equal(t.Signature, t.Shape) && t.Signature != nil {
				fmt.Fprintf(stdout, " (declared %v)", t.Signature)
			}
			switch {
			case len(t.Scale) == 1:
				fmt.Fprintf(stdout, "  scale=%g zero_point=%d", t.Scale[0], t.ZeroPoint[0])
			case len(t.Scale) > 1:
				fmt.Fprintf(stdout, "  per-channel (%d scales, axis %d)", len(t.Scale), *t.Axis)
			}
			fmt.Fprintln(stdout)
		}
	}
	total := 0
	for _, op := range r.Ops {
		total += op.Count
	}
	fmt.Fprintf(stdout, "ops:         %d operators\n", total)
	for _, op := range r.Ops {
		fmt.Fprintf(stdout, "  %-32s %d", op.Name, op.Count)
		if !op.Supported {
			fmt.Fprint(stdout, "  not supported by this runtime")
		}
		fmt.Fprintln(stdout)
	}
	if r.Runs {
		fmt.Fprintf(stdout, "runtime:     runs here (task %s)\n", r.Task)
	} else {
		fmt.Fprintf(stdout, "runtime:     cannot run here: %s\n", r.RunError)
	}
	fmt.Fprintf(stdout, "labels:      %d embedded", r.Labels)
	if len(r.FirstLabels) > 0 {
		fmt.Fprintf(stdout, " (%s, ...)", strings.Join(r.FirstLabels, ", "))
	}
	fmt.Fprintln(stdout)
	if r.Metadata != "" {
		fmt.Fprintf(stdout, "metadata:    unreadable: %s\n", r.Metadata)
	}
	switch {
	case r.Runtime != nil:
		fmt.Fprintf(stdout, "choice:      %s\n", r.Runtime)
		if r.Runtime.Library != "" {
			fmt.Fprintf(stdout, "library:     %s\n", r.Runtime.Library)
		}
	case rtErr != nil:
		fmt.Fprintf(stdout, "choice:      --runtime %s cannot run it: %s\n", *rt.runtime, r.RuntimeError)
	}
	return rtErr
}

func inspectTensors(infos []tflite.TensorInfo) []inspectTensor {
	out := make([]inspectTensor, len(infos))
	for i, ti := range infos {
		t := inspectTensor{Name: ti.Name, Type: ti.Type.String(), Shape: ti.Shape, Signature: ti.ShapeSignature}
		if t.Shape == nil {
			t.Shape = []int{}
		}
		if q := ti.Quantization; q != nil && len(q.Scale) > 0 && len(q.Scale) == len(q.ZeroPoint) {
			t.Scale, t.ZeroPoint = q.Scale, q.ZeroPoint
			if len(q.Scale) > 1 {
				axis := q.Axis
				t.Axis = &axis
			}
		}
		out[i] = t
	}
	return out
}
