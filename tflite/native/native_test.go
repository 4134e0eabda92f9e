package native_test

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/native"
	"github.com/edge-agent/edge-agent/tflite/native/nativetest"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

const models = "../../testdata/models/"

func load(t *testing.T, path string) *tflite.Model {
	t.Helper()
	m, err := tflite.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpen(t *testing.T) {
	lib := nativetest.Library(t)
	if !strings.HasPrefix(lib.Version(), "2.") || lib.Path() == "" {
		t.Errorf("version %q, path %q", lib.Version(), lib.Path())
	}
	if !lib.HasXNNPACK() {
		t.Errorf("%s has no XNNPACK delegate", lib.Path())
	}
	// Opening it again works (dlopen counts references) and finds the same library.
	again, err := native.Open(lib.Path())
	if err != nil || again.Version() != lib.Version() {
		t.Errorf("second open: %v, %v", again, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, path string
		kind       error
		msg        string
	}{
		{"missing", filepath.Join(dir, "nope.so"), native.ErrNotFound, "no such file"},
		{"directory", dir, native.ErrIncompatible, "not a file"},
		{"text", write("text.so", []byte("this is not an ELF file\n")), native.ErrIncompatible, "text.so"},
		{"empty", write("empty.so", nil), native.ErrIncompatible, "empty.so"},
	}
	if cgo {
		cases = append(cases, []struct {
			name, path string
			kind       error
			msg        string
		}{
			{"bare name not on the loader's path", "libtensorflowlite_c_nonexistent.so", native.ErrNotFound, "No such file"},
			// A real shared library without the C API.
			{"libm", "libm.so.6", native.ErrIncompatible, "has no TfLiteVersion"},
		}...)
	}
	if lib, err := native.Open(os.Getenv(nativetest.Env)); err == nil {
		b, err := os.ReadFile(lib.Path())
		if err != nil {
			t.Fatal(err)
		}
		// dlopen maps what the headers promise, so a short file would crash it (SIGBUS).
		for _, n := range []int{64, len(b) / 3, len(b) - 4096, len(b) - 1} {
			name := fmt.Sprintf("truncated-%d.so", n)
			cases = append(cases, struct {
				name, path string
				kind       error
				msg        string
			}{name, write(name, b[:n]), native.ErrIncompatible, name})
		}
		// The other architecture's build, when provisioned next to this one.
		other := "linux_arm64"
		if strings.Contains(lib.Path(), other) {
			other = "linux_amd64"
		}
		if p := filepath.Join(filepath.Dir(filepath.Dir(lib.Path())), other, native.LibraryName); fileExists(p) {
			cases = append(cases, struct {
				name, path string
				kind       error
				msg        string
			}{"other architecture", p, native.ErrIncompatible, other})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lib, err := native.Open(c.path)
			if lib != nil || !errors.Is(err, native.ErrUnavailable) || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("Open(%q) = %v, %v; want ErrUnavailable, %v, naming %q", c.path, lib, err, c.kind, c.msg)
			}
		})
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// The published results of the source projects hold on the official runtime too, through the
// same vision helpers the pure-Go runtime's tensors go through.
func TestPublishedClassify(t *testing.T) {
	lib := nativetest.Library(t)
	for _, c := range []struct {
		model, image string
		min          float32
	}{
		{models + "classify_quant/mobilenet_v1_0.25_224_quant.tflite", models + "classify_quant/burger-224.png", 0.90},
		{models + "classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite", models + "classify_quant/burger-224.png", 0.90},
	} {
		for _, x := range []native.XNNPACK{native.XNNPACKOff, native.XNNPACKAuto} {
			ip, err := lib.NewInterpreter(load(t, c.model), native.Options{Threads: 2, XNNPACK: x})
			if err != nil {
				t.Fatal(err)
			}
			img, err := vision.LoadImage(c.image)
			if err != nil {
				t.Fatal(err)
			}
			if err := vision.FillInput(ip.Input(0), img, vision.Normalization{Mean: 127.5, Std: 127.5}); err != nil {
				t.Fatal(err)
			}
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
			top, err := vision.Classify(ip.Output(0), 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			if top[0].Index != 934 || top[0].Score < c.min {
				t.Errorf("%s, XNNPACK %s: top %+v, want 934 (cheeseburger) at >= %v", filepath.Base(c.model), x, top[0], c.min)
			}
			ip.Close()
		}
	}
}

// The SSD's post-process op (a custom op of TFLite's) runs, and the published detections come out.
func TestPublishedDetect(t *testing.T) {
	lib := nativetest.Library(t)
	ip, err := lib.NewInterpreter(load(t, "../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"), native.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	// The file declares the four outputs [] and the library sizes them when it allocates.
	if got := ip.Output(0).Shape(); len(got) != 3 || got[1] != 10 || got[2] != 4 {
		t.Fatalf("boxes shape %v, want [1 10 4]", got)
	}
	img, err := vision.LoadImage(models + "detect/cats_and_dogs.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if err := vision.FillInput(ip.Input(0), img, vision.Normalization{Mean: 127.5, Std: 127.5}); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	dets, err := vision.DecodeSSD(vision.SSDOutputs{Boxes: ip.Output(0), Classes: ip.Output(1), Scores: ip.Output(2), Count: ip.Output(3)},
		vision.DetectOptions{Width: 1200, Height: 600, MaxResults: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Published (tflite-support): cat 0.64, cat 0.61, cat 0.56, dog 0.50; boxes within a few
	// pixels, more with this resize (see testdata/models/MANIFEST.md).
	want := []struct {
		class      int
		score      float64
		x, y, w, h int
	}{{16, 0.64, 54, 396, 393, 196}, {16, 0.61, 602, 157, 394, 447}, {16, 0.56, 260, 394, 180, 209}, {17, 0.50, 389, 197, 278, 409}}
	if len(dets) != len(want) {
		t.Fatalf("%d detections: %+v", len(dets), dets)
	}
	for i, w := range want {
		d := dets[i]
		if d.Class != w.class || math.Abs(float64(d.Score)-w.score) > 0.05 ||
			abs(d.Box.X-w.x) > 12 || abs(d.Box.Y-w.y) > 12 || abs(d.Box.W-w.w) > 12 || abs(d.Box.H-w.h) > 12 {
			t.Errorf("detection %d: %+v, want %+v", i, d, w)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestPublishedSine(t *testing.T) {
	lib := nativetest.Library(t)
	ip, err := lib.NewInterpreter(load(t, models+"tiny/hello_world_int8.tflite"), native.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	// Published (tflite-micro): inputs {-96,-63,-34,0} stand for x {0.77,1.57,2.3,3.14}.
	in, out := ip.Input(0), ip.Output(0)
	q := out.Quantization()
	for i, v := range []int8{-96, -63, -34, 0} {
		x := []float64{0.77, 1.57, 2.3, 3.14}[i]
		in.Int8s()[0] = v
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		y := float64(q.Scale[0]) * float64(int64(out.Int8s()[0])-q.ZeroPoint[0])
		if math.Abs(y-math.Sin(x)) > 0.05 {
			t.Errorf("sin(%v) = %v, want within 0.05 of %v", x, y, math.Sin(x))
		}
	}
}

func TestXNNPACKModes(t *testing.T) {
	lib := nativetest.Library(t)
	float := load(t, models+"classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite")
	qs8 := native.XNNPACKQS8
	if !strings.HasPrefix(lib.Version(), "2.9.") {
		qs8 = native.XNNPACKFloat // the flag is only set where the options layout is known
	}
	for asked, want := range map[native.XNNPACK]native.XNNPACK{
		native.XNNPACKOff: native.XNNPACKOff, native.XNNPACKFloat: native.XNNPACKFloat,
		native.XNNPACKQS8: qs8, native.XNNPACKAuto: qs8,
	} {
		ip, err := lib.NewInterpreter(float, native.Options{XNNPACK: asked})
		if err != nil {
			t.Fatal(err)
		}
		if got, note := ip.XNNPACK(); got != want || note != "" {
			t.Errorf("asked %s: got %s (%q), want %s", asked, got, note, want)
		}
		ip.Close()
	}
}

// TensorFlow Lite 2.9 refuses tflite-micro's person_detect.tflite (quantized_dimension 3 on its
// rank-1 bias tensors): with every XNNPACK mode the error wraps tflite.ErrUnsupported and carries
// the library's message, and nothing is printed. The copy with that dimension cleared runs.
func TestRefusedModel(t *testing.T) {
	lib := nativetest.Library(t)
	m := load(t, models+"int8_person/person_detect.tflite")
	for _, x := range []native.XNNPACK{native.XNNPACKOff, native.XNNPACKAuto} {
		ip, err := lib.NewInterpreter(m, native.Options{XNNPACK: x})
		if ip != nil || !errors.Is(err, tflite.ErrUnsupported) || !strings.Contains(err.Error(), "quantized_dimension must be in range") {
			t.Errorf("XNNPACK %s: %v, want ErrUnsupported with the library's message", x, err)
		}
	}
	patched, n, err := nativetest.ClearBadQuantizedDimension(m.Bytes())
	if err != nil || n == 0 {
		t.Fatalf("patch: %d tensors, %v", n, err)
	}
	pm, err := tflite.Load(patched)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := lib.NewInterpreter(pm, native.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ip.Close()
}

func TestClose(t *testing.T) {
	lib := nativetest.Library(t)
	ip, err := lib.NewInterpreter(load(t, models+"tiny/hello_world_float.tflite"), native.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in, out := ip.Input(0), ip.Output(0)
	if ip.Runtime() != tflite.RuntimeTFLite || ip.InputCount() != 1 || ip.OutputCount() != 1 ||
		ip.Input(1) != nil || ip.Output(-1) != nil || len(in.Float32s()) != 1 || in.Name() == "" {
		t.Fatalf("runtime %s, %d inputs, %d outputs, input %q %v", ip.Runtime(), ip.InputCount(), ip.OutputCount(), in.Name(), in.Shape())
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	if err := ip.Close(); err != nil {
		t.Fatal(err)
	}
	if len(in.Bytes()) != 0 || len(out.Float32s()) != 0 {
		t.Errorf("tensors still hold C memory after Close")
	}
	if err := ip.Invoke(); !errors.Is(err, tflite.ErrClosed) {
		t.Errorf("Invoke after Close: %v", err)
	}
	if err := ip.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
