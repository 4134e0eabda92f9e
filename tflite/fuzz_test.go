package tflite

import (
	"errors"
	"os"
	"testing"
)

// fuzzSeeds adds every shipped model and the test-built graphs to the corpus.
func fuzzSeeds(f *testing.F) {
	for _, path := range realModels(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(reshapeModel())
	f.Add(dynamicModel())
	f.Add(chainOfReshapes(3))
	f.Add(newChain().bytes())
}

// FuzzLoadModel loads arbitrary bytes as a model, builds an interpreter and, when the model is
// cheap to run, invokes it: nothing may panic or hang, and every load error is classified.
func FuzzLoadModel(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzLoadBody(t, b) })
}

// fuzzLoadBody is FuzzLoadModel's check of one input.
func fuzzLoadBody(t *testing.T, b []byte) {
	m, err := Load(b)
	if err != nil {
		if m != nil {
			t.Fatal("Load returned a model and an error")
		}
		if !errors.Is(err, ErrInvalidModel) && !errors.Is(err, ErrUnsupported) {
			t.Fatalf("Load error wraps no sentinel: %v", err)
		}
		return
	}
	_ = m.OpCounts()
	_, _ = m.Inputs(), m.Outputs()
	_, _ = m.Metadata()
	_, _ = m.Labels(), m.Signatures()
	if len(b) > 1<<18 {
		// Building an interpreter for the large shipped models copies and prepares megabytes of
		// weights under coverage instrumentation, which would starve the fuzzer; their mutations
		// are still loaded and validated above.
		return
	}
	ip, err := NewInterpreter(m, WithMemoryLimit(4<<20))
	if err != nil {
		return
	}
	defer ip.Close()
	if invokeCost(ip) <= 1<<24 {
		_ = ip.Invoke()
	}
	for i := 0; i < ip.InputCount(); i++ {
		sig := ip.Input(i).ShapeSignature()
		for d := range sig {
			if sig[d] == -1 {
				sig[d] = 2
			}
		}
		if ip.ResizeInput(i, sig) == nil && invokeCost(ip) <= 1<<24 {
			_ = ip.Invoke()
		}
	}
}

// invokeCost is a rough upper bound of the work of one Invoke: for each operator, its output
// elements times its input elements. It keeps the fuzzer from running a hostile graph whose
// convolutions would take minutes.
func invokeCost(ip *Interpreter) int {
	cost := 0
	for _, n := range ip.nodes {
		in := 1
		for _, t := range n.inputs {
			if t != nil {
				in += t.NumElements()
			}
		}
		for _, t := range n.outputs {
			cost += t.NumElements() * min(in, 1<<31)
			if cost > 1<<40 {
				return cost
			}
		}
	}
	return cost
}

// FuzzFlatbuffer walks arbitrary bytes as flatbuffer tables, reading every slot as every kind
// of field: the reader must return errors, never panic.
func FuzzFlatbuffer(f *testing.F) {
	f.Add(reshapeModel())
	f.Add(dynamicModel())
	f.Add(newChain().bytes())
	if b, err := os.ReadFile(modelHelloFloat); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := fbBuf(b).root("")
		if err != nil {
			return
		}
		budget := 10000
		walkTable(root, 0, &budget)
		o := tableOptions{t: root, ok: true}
		for slot := 0; slot < 8; slot++ {
			_ = o.Bool(slot, true)
			_ = o.Int8(slot, 1)
			_ = o.Int32(slot, 1)
			_ = o.Float32(slot, 1)
			_ = o.Int32s(slot)
		}
	})
}

func walkTable(t fbTable, depth int, budget *int) {
	if depth > 4 {
		return
	}
	for slot := 0; slot < min(t.slots, 16); slot++ {
		if *budget--; *budget < 0 {
			return
		}
		_, _ = t.uint8(slot, 0)
		_, _ = t.int32(slot, 0)
		_, _ = t.uint64(slot, 0)
		_, _ = t.float32(slot, 0)
		_, _ = t.string(slot)
		if sub, ok, err := t.table(slot); ok && err == nil {
			walkTable(sub, depth+1, budget)
		}
		for _, size := range []int{1, 4, 8} {
			v, ok, err := t.vector(slot, size)
			if !ok || err != nil {
				continue
			}
			for i := 0; i < min(v.n, 4); i++ {
				switch size {
				case 1:
					_ = v.bytes()
				case 4:
					_, _ = v.uint32(i), v.float32(i)
					_, _ = v.string(i)
					if sub, err := v.table(i); err == nil {
						walkTable(sub, depth+1, budget)
					}
				case 8:
					_ = v.int64(i)
				}
			}
		}
	}
}
