package backend_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/backend"
	"github.com/edge-agent/edge-agent/tflite/native"
	"github.com/edge-agent/edge-agent/tflite/native/nativetest"
)

const floatModel = "testdata/models/classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite"

func loadModel(t *testing.T, rel string) *tflite.Model {
	t.Helper()
	m, err := tflite.LoadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseRuntime(t *testing.T) {
	for in, want := range map[string]string{"": "auto", "auto": "auto", "go": "go", "tflite": "tflite"} {
		if got, err := backend.ParseRuntime(in); got != want || err != nil {
			t.Errorf("ParseRuntime(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"Go", "native", "tflite2"} {
		if _, err := backend.ParseRuntime(in); !errors.Is(err, backend.ErrRuntime) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseRuntime(%q): %v", in, err)
		}
	}
	if _, _, err := backend.Open(t.Context(), loadModel(t, floatModel), backend.Config{Runtime: "fast"}); !errors.Is(err, backend.ErrRuntime) {
		t.Errorf("Open with runtime fast: %v", err)
	}
}

func TestOpenGo(t *testing.T) {
	r, ch, err := backend.Open(t.Context(), loadModel(t, floatModel), backend.Config{Runtime: backend.Go, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*tflite.Interpreter); !ok || ch != (backend.Choice{Runtime: "go", Requested: "go"}) {
		t.Errorf("%T, %+v", r, ch)
	}
}

func TestOpenTFLite(t *testing.T) {
	lib := nativetest.Library(t)
	r, ch, err := backend.Open(t.Context(), loadModel(t, floatModel), backend.Config{Runtime: backend.TFLite, Library: lib.Path()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := "float"
	if strings.HasPrefix(lib.Version(), "2.9.") {
		want = "qs8"
	}
	if r.Runtime() != "tflite" || ch.Runtime != "tflite" || ch.Requested != "tflite" || ch.Library != lib.Path() ||
		ch.Version != lib.Version() || ch.XNNPACK != want || ch.GoMs != 0 || ch.Fallback != "" {
		t.Errorf("%s, %+v", r.Runtime(), ch)
	}
	if s := ch.String(); !strings.Contains(s, "tflite "+lib.Version()) || !strings.Contains(s, "XNNPACK "+want) {
		t.Errorf("String: %q", s)
	}
}

func TestOpenTFLiteWithoutLibrary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), native.LibraryName)
	_, _, err := backend.Open(t.Context(), loadModel(t, floatModel), backend.Config{Runtime: backend.TFLite, Library: missing})
	if !errors.Is(err, native.ErrUnavailable) || !errors.Is(err, native.ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("got %v, want ErrUnavailable/ErrNotFound naming the path", err)
	}
	// Auto falls back to the pure-Go runtime without measuring, and says why.
	r, ch, err := backend.Open(t.Context(), loadModel(t, floatModel), backend.Config{Library: missing})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Runtime() != "go" || ch.Runtime != "go" || ch.Requested != "auto" || !strings.Contains(ch.Fallback, "not found") ||
		ch.Library != "" || ch.GoMs != 0 || ch.GoRuns != 0 {
		t.Errorf("%s, %+v", r.Runtime(), ch)
	}
}

func TestOpenAuto(t *testing.T) {
	lib := nativetest.Library(t)
	var logged bytes.Buffer
	for _, rel := range []string{floatModel, "testdata/models/classify_quant/mobilenet_v1_0.25_224_quant.tflite"} {
		r, ch, err := backend.Open(t.Context(), loadModel(t, rel), backend.Config{Library: lib.Path(), Budget: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		faster := "go"
		if ch.TFLiteMs < ch.GoMs {
			faster = "tflite"
		}
		if r.Runtime() != ch.Runtime || ch.Runtime != faster || ch.Requested != "auto" || ch.GoMs <= 0 || ch.TFLiteMs <= 0 ||
			ch.GoRuns < 1 || ch.TFLiteRuns < 1 || ch.Fallback != "" || ch.Version != lib.Version() {
			t.Errorf("%s: %s, %+v", rel, r.Runtime(), ch)
		}
		// Float outputs agree within Compare's bounds; quantized ones may not on TensorFlow
		// Lite's own kernels (agree_test.go), and a disagreement is then reported.
		if rel == floatModel && ch.Disagreement != "" {
			t.Errorf("%s: %s", rel, ch.Disagreement)
		}
		slog.New(slog.NewTextHandler(&logged, nil)).Info("model runtime", "choice", ch)
		t.Logf("%s: %v", filepath.Base(rel), ch)
		r.Close()
	}
	if s := logged.String(); !strings.Contains(s, "choice.runtime=") || !strings.Contains(s, "choice.go_ms=") {
		t.Errorf("log: %s", s)
	}
}

func TestOpenAutoCanceled(t *testing.T) {
	lib := nativetest.Library(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := backend.Open(ctx, loadModel(t, floatModel), backend.Config{Library: lib.Path()})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

// shifted is a runner whose output element 3 comes out one quantization step (or 0.01) off: the
// kind of bug Measure must report, not hide.
type shifted struct{ tflite.Runner }

func (s shifted) Invoke() error {
	if err := s.Runner.Invoke(); err != nil {
		return err
	}
	switch out := s.Output(0); out.Type() {
	case tflite.Float32:
		out.Float32s()[3] += 0.01
	default:
		out.Bytes()[3] += 2
	}
	return nil
}

func TestMeasureReportsDisagreement(t *testing.T) {
	m := loadModel(t, "testdata/models/classify_quant/mobilenet_v1_0.25_224_quant.tflite")
	a, err := tflite.NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := tflite.NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tm, err := backend.Measure(t.Context(), a, b, 50*time.Millisecond)
	if err != nil || tm.Disagreement != nil || tm.Runs[0] < 1 || tm.Runs[1] < 1 || tm.Ms[0] <= 0 {
		t.Fatalf("same runtime twice: %+v, %v", tm, err)
	}
	tm, err = backend.Measure(t.Context(), a, shifted{b}, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if tm.Disagreement == nil || !strings.Contains(tm.Disagreement.Error(), "output 0") || !strings.Contains(tm.Disagreement.Error(), "element 3") {
		t.Errorf("disagreement %v, want output 0 element 3 named", tm.Disagreement)
	}
}

func view(t *testing.T, typ tflite.DataType, shape []int, data []byte) *tflite.Tensor {
	t.Helper()
	v := tflite.NewTensorView(tflite.TensorInfo{Name: "t", Type: typ})
	if err := v.Set(shape, data); err != nil {
		t.Fatal(err)
	}
	return v.Tensor()
}

func floats(v ...float32) []byte {
	out := make([]float32, len(v))
	copy(out, v)
	return unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*len(v))
}

func TestCompareTensors(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		name string
		a, b *tflite.Tensor
		msg  string // "" = agree
	}{
		{"float equal", view(t, tflite.Float32, []int{2}, floats(1, 2)), view(t, tflite.Float32, []int{2}, floats(1, 2)), ""},
		{"float within abs", view(t, tflite.Float32, []int{1}, floats(0.00009)), view(t, tflite.Float32, []int{1}, floats(0)), ""},
		{"float within rel", view(t, tflite.Float32, []int{1}, floats(100.1)), view(t, tflite.Float32, []int{1}, floats(100)), ""},
		{"float beyond", view(t, tflite.Float32, []int{3}, floats(1, 2, 3)), view(t, tflite.Float32, []int{3}, floats(1, 2.01, 3)), "element 1 is 2 vs 2.01; 1 of 3"},
		{"NaN both", view(t, tflite.Float32, []int{1}, floats(nan)), view(t, tflite.Float32, []int{1}, floats(nan)), ""},
		{"NaN one", view(t, tflite.Float32, []int{1}, floats(nan)), view(t, tflite.Float32, []int{1}, floats(1)), "element 0"},
		{"uint8 one step", view(t, tflite.UInt8, []int{2}, []byte{10, 255}), view(t, tflite.UInt8, []int{2}, []byte{11, 254}), ""},
		{"uint8 two steps", view(t, tflite.UInt8, []int{2}, []byte{10, 0}), view(t, tflite.UInt8, []int{2}, []byte{12, 0}), "element 0 is 10 vs 12"},
		{"int8 across zero", view(t, tflite.Int8, []int{1}, []byte{0xff}), view(t, tflite.Int8, []int{1}, []byte{0}), ""},
		{"int8 wraps", view(t, tflite.Int8, []int{1}, []byte{0x7f}), view(t, tflite.Int8, []int{1}, []byte{0x80}), "127 vs -128"},
		{"int32 exact", view(t, tflite.Int32, []int{1}, []byte{1, 0, 0, 0}), view(t, tflite.Int32, []int{1}, []byte{2, 0, 0, 0}), "1 vs 2"},
		{"shape", view(t, tflite.UInt8, []int{1, 2}, []byte{1, 2}), view(t, tflite.UInt8, []int{2, 1}, []byte{1, 2}), "[1 2] vs uint8 [2 1]"},
		{"type", view(t, tflite.UInt8, []int{1}, []byte{1}), view(t, tflite.Int8, []int{1}, []byte{1}), "uint8 [1] vs int8 [1]"},
	}
	for _, c := range cases {
		err := backend.CompareTensors(c.a, c.b)
		if c.msg == "" && err != nil || c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.msg)
		}
	}
}

// The library path from the environment is used as given; this test documents that an explicit
// but broken library is an error with tflite and a fallback with auto.
func TestOpenBrokenLibrary(t *testing.T) {
	broken := filepath.Join(t.TempDir(), native.LibraryName)
	if err := os.WriteFile(broken, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := loadModel(t, floatModel)
	if _, _, err := backend.Open(t.Context(), m, backend.Config{Runtime: backend.TFLite, Library: broken}); !errors.Is(err, native.ErrIncompatible) {
		t.Errorf("tflite: %v, want ErrIncompatible", err)
	}
	r, ch, err := backend.Open(t.Context(), m, backend.Config{Library: broken})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if ch.Runtime != "go" || !strings.Contains(ch.Fallback, "incompatible") {
		t.Errorf("auto: %+v", ch)
	}
}
