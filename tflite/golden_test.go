package tflite_test

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edge-agent/edge-agent/tflite"
)

// The golden cases in testdata/golden were made by testdata/golden/make.sh with the official
// TensorFlow Lite runtime (LiteRT.js). Each holds the raw input tensor and the reference outputs.
const goldenDir = "../testdata/golden"

// goldenCases lists the cases make.sh writes, so that a case that disappears fails the test.
var goldenCases = []string{
	"classify_float_burger", "classify_float_ramp", "classify_quant_burger", "classify_quant_prng",
	"hello_float_ramp", "hello_int8_prng", "mnist_3", "mnist_prng", "sin_ramp", "ssd_cats", "ssd_prng",
	"ssd_regular_cats", "ssd_regular_prng",
}

type goldenTensor struct {
	Name  string    `json:"name"`
	DType string    `json:"dtype"`
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
	Quant *struct {
		Scale     []float64 `json:"scale"`
		ZeroPoint []int64   `json:"zero_point"`
	} `json:"quant"`
}

type goldenCase struct {
	Model string `json:"model"`
	// Patch, if set, replaces one byte string of the model (hex) before the run: make.sh uses it
	// to switch the SSD's post-process op to regular NMS.
	Patch *struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"patch"`
	Runtime string         `json:"runtime"`
	Inputs  []goldenTensor `json:"inputs"`
	Outputs []goldenTensor `json:"outputs"`
}

func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(goldenDir, "*", "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, d := range dirs {
		found = append(found, filepath.Base(filepath.Dir(d)))
	}
	slices.Sort(found)
	if !slices.Equal(found, goldenCases) {
		t.Fatalf("golden cases %v, want %v", found, goldenCases)
	}
	// Two threads split the kernels' work differently; the results must not change.
	for _, name := range goldenCases {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", name, threads), func(t *testing.T) {
				runGolden(t, filepath.Join(goldenDir, name), threads)
			})
		}
	}
}

func runGolden(t *testing.T, dir string, threads int) {
	b, err := os.ReadFile(filepath.Join(dir, "want.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c goldenCase
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	model, err := os.ReadFile(filepath.Join("..", c.Model))
	if err != nil {
		t.Fatal(err)
	}
	if c.Patch != nil {
		from, err1 := hex.DecodeString(c.Patch.From)
		to, err2 := hex.DecodeString(c.Patch.To)
		if err1 != nil || err2 != nil || len(from) != len(to) || bytes.Count(model, from) != 1 {
			t.Fatalf("patch does not apply to %s", c.Model)
		}
		model = bytes.Replace(model, from, to, 1)
	}
	m, err := tflite.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := tflite.NewInterpreter(m, tflite.WithThreads(threads))
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	if ip.InputCount() != 1 || len(c.Inputs) != 1 {
		t.Fatalf("%d inputs, golden has %d", ip.InputCount(), len(c.Inputs))
	}
	in := ip.Input(0)
	if in.Type().String() != c.Inputs[0].DType || !slices.Equal(in.Shape(), c.Inputs[0].Shape) {
		t.Fatalf("input %s %v, golden %s %v", in.Type(), in.Shape(), c.Inputs[0].DType, c.Inputs[0].Shape)
	}
	if err := in.CopyFrom(readGz(t, filepath.Join(dir, "input0.bin.gz"))); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	if ip.OutputCount() != len(c.Outputs) {
		t.Fatalf("%d outputs, golden has %d", ip.OutputCount(), len(c.Outputs))
	}
	for i, want := range c.Outputs {
		out := ip.Output(i)
		if out.Type().String() != want.DType || !slices.Equal(out.Shape(), want.Shape) {
			t.Errorf("output %d: %s %v, golden %s %v", i, out.Type(), out.Shape(), want.DType, want.Shape)
			continue
		}
		got := values(out)
		bad, worst := 0, 0.0
		for j, w := range want.Data {
			d := math.Abs(got[j] - w)
			var ok bool
			if want.Quant != nil && out.Type() != tflite.Float32 {
				ok = d <= 1 // one quantization step
			} else {
				ok = d <= 1e-4+1e-3*math.Abs(w)
			}
			if !ok {
				if bad < 5 {
					t.Errorf("output %d (%s) [%d] = %v, want %v", i, want.Name, j, got[j], w)
				}
				bad++
			}
			worst = max(worst, d)
		}
		if bad > 0 {
			t.Errorf("output %d (%s): %d of %d values out of tolerance, largest difference %v", i, want.Name, bad, len(want.Data), worst)
		}
	}
}

// values returns a tensor's elements as float64 (raw integers for quantized types).
func values(t *tflite.Tensor) []float64 {
	var v []float64
	switch t.Type() {
	case tflite.Float32:
		for _, x := range t.Float32s() {
			v = append(v, float64(x))
		}
	case tflite.UInt8:
		for _, x := range t.UInt8s() {
			v = append(v, float64(x))
		}
	case tflite.Int8:
		for _, x := range t.Int8s() {
			v = append(v, float64(x))
		}
	case tflite.Int32:
		for _, x := range t.Int32s() {
			v = append(v, float64(x))
		}
	}
	return v
}

func readGz(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
