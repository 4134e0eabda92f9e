package fb

import (
	"os"
	"testing"
)

const helloFloat = "../../../testdata/models/tiny/hello_world_float.tflite"

// TestModelRoot reads a real model's root table: the schema version, and the tensors of its
// first subgraph.
func TestModelRoot(t *testing.T) {
	b, err := os.ReadFile(helloFloat)
	if err != nil {
		t.Fatal(err)
	}
	root, err := Buf(b).Root("TFL3")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := root.Uint32(0, 0); err != nil || v != 3 {
		t.Fatalf("version = %d, %v; want 3", v, err)
	}
	subs, ok, err := root.Vector(2, 4)
	if !ok || err != nil || subs.Len() != 1 {
		t.Fatalf("subgraphs: %d, %v, %v", subs.Len(), ok, err)
	}
	sg, err := subs.Table(0)
	if err != nil {
		t.Fatal(err)
	}
	tensors, ok, err := sg.Vector(0, 4)
	if !ok || err != nil || tensors.Len() == 0 {
		t.Fatalf("tensors: %d, %v, %v", tensors.Len(), ok, err)
	}
	for i := range tensors.Len() {
		tt, err := tensors.Table(i)
		if err != nil {
			t.Fatal(err)
		}
		if name, err := tt.String(3); err != nil || name == "" {
			t.Errorf("tensor %d name %q, %v", i, name, err)
		}
	}
	if _, err := Buf(b).Root("M001"); err == nil {
		t.Error("wrong file identifier accepted")
	}
	for _, cut := range []int{0, 7, 12, len(b) / 2} {
		if r, err := Buf(b[:cut]).Root("TFL3"); err == nil {
			budget := 1000
			walkTable(r, 0, &budget) // must not panic on a truncated file
		}
	}
}

// FuzzFlatbuffer walks arbitrary bytes as flatbuffer tables, reading every slot as every kind
// of field: the reader must return errors, never panic.
func FuzzFlatbuffer(f *testing.F) {
	for _, path := range []string{helloFloat, "../../../testdata/models/tiny/sin_model.tflite"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		root, err := Buf(b).Root("")
		if err != nil {
			return
		}
		budget := 10000
		walkTable(root, 0, &budget)
	})
}

func walkTable(t Table, depth int, budget *int) {
	if depth > 4 {
		return
	}
	for slot := 0; slot < min(t.Slots(), 16); slot++ {
		if *budget--; *budget < 0 {
			return
		}
		_, _ = t.Uint8(slot, 0)
		_, _ = t.Int32(slot, 0)
		_, _ = t.Uint64(slot, 0)
		_, _ = t.Float32(slot, 0)
		_, _ = t.String(slot)
		if sub, ok, err := t.Table(slot); ok && err == nil {
			walkTable(sub, depth+1, budget)
		}
		for _, size := range []int{1, 4, 8} {
			v, ok, err := t.Vector(slot, size)
			if !ok || err != nil {
				continue
			}
			for i := 0; i < min(v.Len(), 4); i++ {
				switch size {
				case 1:
					_ = v.Bytes()
				case 4:
					_, _ = v.Uint32(i), v.Float32(i)
					_, _ = v.String(i)
					if sub, err := v.Table(i); err == nil {
						walkTable(sub, depth+1, budget)
					}
				case 8:
					_ = v.Int64(i)
				}
			}
		}
	}
}
