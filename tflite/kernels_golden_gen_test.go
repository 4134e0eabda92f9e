//go:build goldengen

package tflite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestGenerateKernelGoldens writes the single-op models and their inputs of kernelGoldens to
// testdata/kernels; testdata/kernels/make.sh then adds the official runtime's outputs.
func TestGenerateKernelGoldens(t *testing.T) {
	for ci, c := range kernelGoldens {
		dir := filepath.Join(kernelGoldenDir, c.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		buffers := []fbt{tBuffer(nil)}
		var tensors []fbt
		var modelInputs []int32
		r := rand.New(rand.NewPCG(uint64(ci)+1000, 77))
		nIn := 0
		for i, g := range c.tensors {
			var buf uint32
			if g.data != nil {
				buf = uint32(len(buffers))
				buffers = append(buffers, tBuffer(g.data))
			}
			tt := tTensor(fmt.Sprintf("t%d", i), g.typ, g.shape, buf)
			if g.shape == nil {
				tt = fbt{nil, int8(g.typ), buf, fmt.Sprintf("t%d", i)}
			}
			if g.scale != 0 {
				tt = append(tt, fbt{nil, nil, []float32{g.scale}, []int64{g.zp}})
			}
			tensors = append(tensors, tt)
			isOut := false
			for _, o := range c.outputs {
				isOut = isOut || int(o) == i
			}
			if g.data != nil || isOut {
				continue
			}
			modelInputs = append(modelInputs, int32(i))
			count := 1
			for _, d := range g.shape {
				count *= int(d)
			}
			var data []byte
			switch g.typ {
			case Float32:
				v := randF32(r, count, 6)
				if g.gen == "pos" {
					for j := range v {
						v[j] = float32(math.Abs(float64(v[j]))) + 0.05
					}
				}
				data = float32Bytes(v...)
			case Int32, Int64, Int16, Bool:
				vals := make([]int64, count)
				for j := range vals {
					switch {
					case g.typ == Bool:
						vals[j] = int64(r.IntN(2))
					case g.gen == "pos":
						vals[j] = 1 + int64(r.IntN(20))
					default:
						vals[j] = int64(r.IntN(41)) - 20
					}
				}
				data = intBytes(g.typ, vals)
			case UInt8, Int8:
				data = make([]byte, count)
				if g.gen == "small" {
					for j := range data {
						data[j] = byte(int(g.zp) + r.IntN(41) - 20)
					}
					break
				}
				fallthrough
			default:
				data = make([]byte, count)
				if count == 256 {
					// Every byte value once, shuffled: the whole lookup table is checked.
					for j, p := range r.Perm(256) {
						data[j] = byte(p)
					}
				} else {
					for j := range data {
						data[j] = byte(r.Uint32())
					}
				}
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("input%d.bin", nIn)), data, 0o644); err != nil {
				t.Fatal(err)
			}
			nIn++
		}
		op := tOp(0, c.inputs, c.outputs, c.optsType, c.opts)
		if c.optsType != 0 && c.opts == nil {
			op = tOp(0, c.inputs, c.outputs, c.optsType, fbt{})
		}
		build := func() []byte {
			model := tModel([]fbt{tOpcode(c.op)}, []fbt{tSubgraph(tensors, modelInputs, c.outputs, []fbt{op})}, buffers)
			return encodeFB(model, "TFL3")
		}
		// The official runtime sizes outputs from the declared shapes: declare the shapes this
		// package infers (a wrong one makes the official run fail, so it is checked there).
		m, err := Load(build())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ip, err := NewInterpreter(m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for k, o := range c.outputs {
			var shape []int32
			for _, d := range ip.Output(k).Shape() {
				shape = append(shape, int32(d))
			}
			if shape == nil {
				shape = []int32{}
			}
			tensors[o][0] = shape
		}
		ip.Close()
		if err := os.WriteFile(filepath.Join(dir, "model.tflite"), build(), 0o644); err != nil {
			t.Fatal(err)
		}
		if c.native {
			if err := os.WriteFile(filepath.Join(dir, "native"), []byte("run by make.sh on the official C library (shared/tfnative)\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
