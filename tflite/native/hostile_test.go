package native_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/native"
	"github.com/edge-agent/edge-agent/tflite/native/nativetest"
)

// Damaged models reach the C library only after the project's loader accepted them, and then
// give errors or results, never a crash. The mutants here are the real models with bytes
// overwritten at random (seeded) places; those the loader accepts go through NewInterpreter and
// Invoke on the official runtime, with and without XNNPACK. A crash fails the whole test binary.
func TestDamagedModels(t *testing.T) {
	lib := nativetest.Library(t)
	skipWithoutVetting(t)
	paths := []string{
		models + "tiny/hello_world_float.tflite", models + "tiny/hello_world_int8.tflite",
		models + "tiny/sin_model.tflite", models + "classify_quant/mobilenet_v1_0.25_224_quant.tflite",
	}
	kernels, _ := filepath.Glob("../testdata/kernels/*/model.tflite")
	paths = append(paths, kernels...)
	mutants := 8 // the long suite tries more
	if long {
		mutants = 400
	}
	rng := rand.New(rand.NewPCG(1, 2))
	accepted, built, ran, tooBig, invalid, crashed := 0, 0, 0, 0, 0, 0
	for _, p := range paths {
		orig, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for range mutants {
			b := append([]byte(nil), orig...)
			for range 1 + rng.IntN(4) {
				// Small models: anywhere; the big one: its first 64 KiB, where the tables are.
				b[rng.IntN(min(len(b), 64<<10))] = byte(rng.Uint32())
			}
			m, err := tflite.Load(b)
			if err != nil {
				continue
			}
			accepted++
			for _, x := range []native.XNNPACK{native.XNNPACKOff, native.XNNPACKAuto} {
				// A mutant may declare up to the memory limit's worth of tensors, which takes
				// seconds to compute; 64 MiB keeps the test quick.
				ip, err := lib.NewInterpreter(m, native.Options{XNNPACK: x, MemoryLimit: 64 << 20})
				switch {
				case errors.Is(err, tflite.ErrMemoryLimit):
					tooBig++
					continue
				case errors.Is(err, native.ErrVet):
					crashed++
					if crashed <= 3 {
						t.Logf("%s mutant: %v", filepath.Base(filepath.Dir(p)), err)
					}
					continue
				case errors.Is(err, tflite.ErrInvalidModel):
					invalid++
					continue
				case errors.Is(err, tflite.ErrUnsupported):
					continue
				case err != nil:
					t.Errorf("%s mutant: error without a sentinel: %v", p, err)
					continue
				}
				built++
				if ip.Invoke() == nil {
					ran++
				}
				ip.Close()
			}
		}
	}
	t.Logf("%d models, %d mutants each: the loader accepted %d; interpreters refused as invalid %d, "+
		"over the memory limit %d, as they crashed the vetting process %d; %d built, %d ran",
		len(paths), mutants, accepted, invalid, tooBig, crashed, built, ran)
	if accepted == 0 {
		t.Error("no mutant got past the loader: the test exercises nothing")
	}
}

// TensorFlow Lite's int32 DIV divides by a zero divisor unchecked, which kills the process with
// SIGFPE; such a model is refused, and the pure-Go runtime runs it (reporting a zero as an error).
func TestIntegerDivision(t *testing.T) {
	lib := nativetest.Library(t)
	m, err := tflite.LoadFile("../testdata/kernels/div_i32/model.tflite")
	if err != nil {
		t.Fatal(err)
	}
	ip, err := lib.NewInterpreter(m, native.Options{})
	if ip != nil || !errors.Is(err, tflite.ErrUnsupported) || !strings.Contains(err.Error(), "DIV") {
		t.Fatalf("got %v, %v; want ErrUnsupported naming DIV", ip, err)
	}
	goIP, err := tflite.NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer goIP.Close()
	if err := goIP.Invoke(); err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("pure-Go runtime on zero inputs: %v, want a division by zero error", err)
	}
}

// A value TensorFlow Lite aborts on (a quantization scale of 1e34: a CHECK in its multiplier code
// fails, SIGABRT) gets past the pure-Go runtime, which clamps the multiplier. The vetting process
// builds the model first and dies instead of this one; the model is refused with ErrVet.
func TestVetCatchesAbort(t *testing.T) {
	lib := nativetest.Library(t)
	skipWithoutVetting(t)
	b, err := os.ReadFile("../testdata/kernels/add_i8_relu6/model.tflite")
	if err != nil {
		t.Fatal(err)
	}
	// Input t0's scale is 0.03 (float32 0x3cf5c28f); 0x78f5c28f is 4e34.
	i := bytes.Index(b, binary.LittleEndian.AppendUint32(nil, math.Float32bits(0.03)))
	if i < 0 {
		t.Fatal("no scale 0.03 in the model")
	}
	b[i+3] = 0x78
	m, err := tflite.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Inputs()[0].Quantization.Scale[0]; s < 1e30 {
		t.Fatalf("the patch missed: input scale %g", s)
	}
	ip, err := lib.NewInterpreter(m, native.Options{})
	if ip != nil || !errors.Is(err, native.ErrVet) || !errors.Is(err, tflite.ErrInvalidModel) || !strings.Contains(err.Error(), "abort") {
		t.Fatalf("got %v, %v; want ErrVet naming the abort", ip, err)
	}
	t.Log(err)
}

func TestVetOff(t *testing.T) {
	lib := nativetest.Library(t)
	t.Setenv("EDGE_AGENT_TFLITE_VET", "off")
	ip, err := lib.NewInterpreter(load(t, models+"tiny/hello_world_float.tflite"), native.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ip.Close()
}

// skipWithoutVetting skips a test whose models would kill the test binary if the vetting process
// did not take the blow: test-arm turns vetting off, as qemu-user cannot start it.
func skipWithoutVetting(t *testing.T) {
	if os.Getenv("EDGE_AGENT_TFLITE_VET") == "off" {
		t.Skip("EDGE_AGENT_TFLITE_VET=off: without the vetting process these models would crash the test")
	}
}
