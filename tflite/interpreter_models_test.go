package tflite

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"
)

func newInterp(t testing.TB, path string, opts ...Option) *Interpreter {
	t.Helper()
	ip, err := NewInterpreter(mustLoad(t, path), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip.Close() })
	return ip
}

// Every shipped model builds: all its ops are bound and prepared, every output gets a shape,
// and the arena is smaller than the tensors it holds.
func TestInterpreterRealModels(t *testing.T) {
	for _, path := range realModels(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ip := newInterp(t, path)
			sum := 0
			for _, tn := range ip.tensors {
				if ip.life[tn.index].first >= 0 {
					sum += alignUp(len(tn.data))
					if len(tn.data) != tn.ByteSize() {
						t.Errorf("tensor %q: %d bytes for shape %v", tn.name, len(tn.data), tn.shape)
					}
				}
			}
			for i := 0; i < ip.OutputCount(); i++ {
				if ip.Output(i).NumElements() == 0 {
					t.Errorf("output %d has shape %v", i, ip.Output(i).Shape())
				}
			}
			if len(ip.nodes) > 2 && ip.ArenaSize() >= sum {
				t.Errorf("arena %d bytes, not less than the %d its tensors take", ip.ArenaSize(), sum)
			}
			t.Logf("%d ops, arena %d bytes, tensors %d bytes", len(ip.nodes), ip.ArenaSize(), sum)
		})
	}
}

// The detector's post-process op declares its outputs [] and sets their shapes in prepare.
func TestDetectOutputShapes(t *testing.T) {
	ip := newInterp(t, modelDetect)
	want := [][]int{{1, 10, 4}, {1, 10}, {1, 10}, {1}}
	for i, w := range want {
		if got := ip.Output(i).Shape(); !slices.Equal(got, w) {
			t.Errorf("output %d shape %v, want %v", i, got, w)
		}
	}
}

// hello_world declares a dynamic batch: resized to 4, one Invoke gives the four results that
// four single runs give (within rounding: one row and several take different SIMD kernels, whose
// sums are ordered differently), and each is near sin(x) as published.
func TestResizeInputHelloWorld(t *testing.T) {
	xs := []float32{0, 1, 3, 5}
	single := newInterp(t, modelHelloFloat)
	want := make([]float32, len(xs))
	for i, x := range xs {
		single.Input(0).Float32s()[0] = x
		if err := single.Invoke(); err != nil {
			t.Fatal(err)
		}
		want[i] = single.Output(0).Float32s()[0]
		if d := math.Abs(float64(want[i]) - math.Sin(float64(x))); d > 0.05 {
			t.Errorf("sin(%v): got %v, off by %v", x, want[i], d)
		}
	}
	batch := newInterp(t, modelHelloFloat)
	arena := batch.ArenaSize()
	if err := batch.ResizeInput(0, []int{4, 1}); err != nil {
		t.Fatal(err)
	}
	if got := batch.Output(0).Shape(); !slices.Equal(got, []int{4, 1}) {
		t.Fatalf("output shape %v", got)
	}
	if batch.ArenaSize() <= arena {
		t.Errorf("arena %d after resize, was %d", batch.ArenaSize(), arena)
	}
	copy(batch.Input(0).Float32s(), xs)
	if err := batch.Invoke(); err != nil {
		t.Fatal(err)
	}
	for i, got := range batch.Output(0).Float32s() {
		if d := math.Abs(float64(got - want[i])); d > 1e-6*math.Max(1, math.Abs(float64(want[i]))) {
			t.Errorf("batch row %d: %v, single run %v", i, got, want[i])
		}
	}
	if err := batch.ResizeInput(0, []int{4, 2}); !errors.Is(err, ErrInvalidShape) {
		t.Errorf("resizing the static dimension: %v", err)
	}
}

// sin_model comes from the TOCO converter, which wrote no shape signature: nothing may change.
func TestResizeInputStaticModel(t *testing.T) {
	ip := newInterp(t, modelSin)
	if err := ip.ResizeInput(0, []int{4, 1}); !errors.Is(err, ErrInvalidShape) {
		t.Fatalf("ResizeInput on a static input: %v", err)
	}
	if err := ip.ResizeInput(0, []int{1, 1}); err != nil {
		t.Errorf("resizing to the same shape: %v", err)
	}
	// Published (go-tflite notebook): sin(0.349066) -> 0.334564.
	ip.Input(0).Float32s()[0] = 0.349066
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	if got := ip.Output(0).Float32s()[0]; math.Abs(float64(got)-0.334564) > 1e-4 {
		t.Errorf("sin model: %v, want 0.334564", got)
	}
}

// Invoke allocates nothing on real models at threads=1.
func TestInvokeAllocatesNothingRealModels(t *testing.T) {
	cases := []struct {
		path string
		runs int
	}{{modelHelloFloat, 20}, {modelHelloInt8, 20}, {modelMnist, 5}, {modelPerson, 2}, {modelClassifyQuant, 1},
		{modelClassifyFloat, 2}, {"testdata/blazeface/face_detection_short_range.tflite", 2}}
	if !testing.Short() {
		cases = append(cases, struct {
			path string
			runs int
		}{modelDetect, 1})
	}
	for _, c := range cases {
		ip := newInterp(t, c.path)
		allocs := testing.AllocsPerRun(c.runs, func() {
			if err := ip.Invoke(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Invoke allocates %v times per run", filepath.Base(c.path), allocs)
		}
	}
}

// More threads give bit-identical results on quantized models (integer arithmetic) and on the
// detector's float outputs.
func TestThreadsSameResults(t *testing.T) {
	for _, path := range []string{modelClassifyQuant, modelPerson} {
		one := newInterp(t, path)
		four := newInterp(t, path, WithThreads(4))
		in := one.Input(0).Bytes()
		for i := range in {
			in[i] = byte(i*7 + i/97)
		}
		copy(four.Input(0).Bytes(), in)
		if err := errors.Join(one.Invoke(), four.Invoke()); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one.Output(0).Bytes(), four.Output(0).Bytes()) {
			t.Errorf("%s: threads=4 output differs from threads=1", filepath.Base(path))
		}
	}
}

// BenchmarkLoad measures parsing and validating each shipped model (including its SHA-256 and
// metadata).
func BenchmarkLoad(b *testing.B) {
	for _, path := range realModels(b) {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(path), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Load(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNewInterpreter measures binding, constant copies, prepare and arena planning.
func BenchmarkNewInterpreter(b *testing.B) {
	for _, path := range []string{modelDetect, modelClassifyQuant} {
		m := mustLoad(b, path)
		b.Run(filepath.Base(path), func(b *testing.B) {
			for b.Loop() {
				ip, err := NewInterpreter(m)
				if err != nil {
					b.Fatal(err)
				}
				ip.Close()
			}
		})
	}
}

// BenchmarkInvokeOverhead runs the smallest model: the cost is the interpreter's own loop.
func BenchmarkInvokeOverhead(b *testing.B) {
	ip := newInterp(b, modelHelloFloat)
	b.ReportAllocs()
	for b.Loop() {
		if err := ip.Invoke(); err != nil {
			b.Fatal(err)
		}
	}
}

// Constants are read from the model's bytes, shared by its interpreters, not copied: the SSD's
// weights would otherwise take 4 MB more per interpreter. Graph inputs are the interpreter's own.
func TestConstantsReadInPlace(t *testing.T) {
	m := mustLoad(t, modelDetect)
	inModel := func(b []byte) bool {
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		start := uintptr(unsafe.Pointer(unsafe.SliceData(m.raw)))
		return p >= start && p < start+uintptr(len(m.raw))
	}
	var views, copies, bytes int
	for _, threads := range []int{1, 2} {
		ip, err := NewInterpreter(m, WithThreads(threads))
		if err != nil {
			t.Fatal(err)
		}
		defer ip.Close()
		for _, tn := range ip.tensors {
			switch {
			case !tn.constant:
			case inModel(tn.data):
				views++
				bytes += len(tn.data)
			default:
				copies++
			}
		}
		if inModel(ip.Input(0).data) {
			t.Error("the graph input is the model's memory")
		}
	}
	t.Logf("%d constants read in place (%d bytes), %d copied", views, bytes, copies)
	if views == 0 || copies > views/10 {
		t.Errorf("%d constants read in place, %d copied", views, copies)
	}
}
