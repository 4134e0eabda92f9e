package native_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	paths := []string{
		models + "tiny/hello_world_float.tflite", models + "tiny/hello_world_int8.tflite",
		models + "tiny/sin_model.tflite", models + "classify_quant/mobilenet_v1_0.25_224_quant.tflite",
	}
	kernels, _ := filepath.Glob("../testdata/kernels/*/model.tflite")
	paths = append(paths, kernels...)
	mutants := 25 // about 5 s here; the long suite tries more
	if long {
		mutants = 400
	}
	rng := rand.New(rand.NewPCG(1, 2))
	accepted, built, ran, tooBig := 0, 0, 0, 0
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
				ip, err := lib.NewInterpreter(m, native.Options{XNNPACK: x})
				switch {
				case errors.Is(err, tflite.ErrMemoryLimit):
					tooBig++
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
	t.Logf("%d models, %d mutants each: the loader accepted %d; %d interpreters over the memory limit refused, %d built, %d ran",
		len(paths), mutants, accepted, tooBig, built, ran)
	if accepted == 0 {
		t.Error("no mutant got past the loader: the test exercises nothing")
	}
}
