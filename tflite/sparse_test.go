package tflite

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// Sparse constants: built as the TFLite converter writes them, read back densified.

// sparseDimT is a DimensionMetadata table: DENSE of the given size, or SPARSE_CSR with int32
// (or, if u8, uint8) segments and indices.
func sparseDimT(size int32, segments, indices []int32, u8 bool) fbt {
	if segments == nil {
		return fbt{int8(0), size}
	}
	vec := func(v []int32) (uint8, fbt) {
		if !u8 {
			return sparseInt32Vector, fbt{v}
		}
		b := make([]byte, len(v))
		for i, x := range v {
			b[i] = byte(x)
		}
		return sparseUint8Vector, fbt{b}
	}
	st, s := vec(segments)
	it, i := vec(indices)
	return fbt{int8(1), nil, st, s, it, i}
}

// sparseModel is out = x + W, with W a [rows, cols] float32 constant stored sparse; with densify
// set, W goes through a DENSIFY op first.
func sparseModel(shape []int32, sparsity fbt, values []float32, densify bool) []byte {
	buffers := []fbt{tBuffer(nil), tBuffer(float32Bytes(values...))}
	tensors := []fbt{
		tTensor("x", Float32, shape, 0),
		{shape, int8(Float32), uint32(1), "w", nil, nil, sparsity},
		tTensor("out", Float32, shape, 0),
	}
	opcodes := []fbt{tOpcode(opAdd)}
	ops := []fbt{tOp(0, []int32{0, 1}, []int32{2}, optAdd, fbt{})}
	if densify {
		tensors = append(tensors, tTensor("dense", Float32, shape, 0))
		opcodes = append(opcodes, tOpcode(opDensify))
		ops = []fbt{tOp(1, []int32{1}, []int32{3}, 0, nil), tOp(0, []int32{0, 3}, []int32{2}, optAdd, fbt{})}
	}
	return encodeFB(tModel(opcodes, []fbt{tSubgraph(tensors, []int32{0}, []int32{2}, ops)}, buffers), "TFL3")
}

// runSparse loads a sparse model and returns W (x is zero).
func runSparse(t *testing.T, b []byte) ([]float32, error) {
	t.Helper()
	m, err := Load(b)
	if err != nil {
		return nil, err
	}
	ip, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(ip.Output(0).Float32s()), nil
}

func TestSparseTensors(t *testing.T) {
	csr := fbt{[]int32{0, 1}, nil, []fbt{
		sparseDimT(4, nil, nil, false),
		sparseDimT(0, []int32{0, 3, 4, 5, 6}, []int32{0, 2, 3, 1, 2, 3}, false),
	}}
	dense := []float32{1, 0, 2, 3, 0, 4, 0, 0, 0, 0, 5, 0, 0, 0, 0, 6}
	cases := []struct {
		name     string
		shape    []int32
		sparsity fbt
		values   []float32
		want     []float32
	}{
		{"CSR", []int32{4, 4}, csr, []float32{1, 2, 3, 4, 5, 6}, dense},
		{"CSR with uint8 indices", []int32{4, 4}, fbt{[]int32{0, 1}, nil, []fbt{
			sparseDimT(4, nil, nil, false),
			sparseDimT(0, []int32{0, 3, 4, 5, 6}, []int32{0, 2, 3, 1, 2, 3}, true),
		}}, []float32{1, 2, 3, 4, 5, 6}, dense},
		// Column-major: the first traversed dimension is the columns.
		{"CSC", []int32{2, 3}, fbt{[]int32{1, 0}, nil, []fbt{
			sparseDimT(3, nil, nil, false),
			sparseDimT(0, []int32{0, 1, 1, 3}, []int32{1, 0, 1}, false),
		}}, []float32{7, 8, 9}, []float32{0, 0, 8, 7, 0, 9}},
		// 2x2 blocks, blocks (0,0) and (1,1) stored.
		{"block", []int32{4, 4}, fbt{[]int32{0, 1, 2, 3}, []int32{0, 1}, []fbt{
			sparseDimT(2, nil, nil, false),
			sparseDimT(0, []int32{0, 1, 2}, []int32{0, 1}, false),
			sparseDimT(2, nil, nil, false),
			sparseDimT(2, nil, nil, false),
		}}, []float32{1, 2, 3, 4, 5, 6, 7, 8}, []float32{1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 5, 6, 0, 0, 7, 8}},
		// Every dimension dense: the values are the tensor.
		{"all dense", []int32{2, 2}, fbt{[]int32{0, 1}, nil, []fbt{sparseDimT(2, nil, nil, false), sparseDimT(2, nil, nil, false)}},
			[]float32{1, 2, 3, 4}, []float32{1, 2, 3, 4}},
		{"empty rows", []int32{3, 2}, fbt{[]int32{0, 1}, nil, []fbt{
			sparseDimT(3, nil, nil, false), sparseDimT(0, []int32{0, 0, 0, 1}, []int32{1}, false),
		}}, []float32{5}, []float32{0, 0, 0, 0, 0, 5}},
	}
	for _, c := range cases {
		for _, densify := range []bool{false, true} {
			got, err := runSparse(t, sparseModel(c.shape, c.sparsity, c.values, densify))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s (densify %v): %v, want %v", c.name, densify, got, c.want)
			}
		}
	}
}

func TestSparseTensorsHostile(t *testing.T) {
	dim := func(size int32) fbt { return sparseDimT(size, nil, nil, false) }
	csr := func(seg, idx []int32) fbt { return sparseDimT(0, seg, idx, false) }
	cases := []struct {
		name     string
		shape    []int32
		sparsity fbt
		values   []float32
		want     string
	}{
		{"index out of range", []int32{2, 2}, fbt{[]int32{0, 1}, nil, []fbt{dim(2), csr([]int32{0, 1, 2}, []int32{0, 2})}}, []float32{1, 2}, "index 2 out of range"},
		{"negative index", []int32{2, 2}, fbt{[]int32{0, 1}, nil, []fbt{dim(2), csr([]int32{0, 1, 2}, []int32{0, -1})}}, []float32{1, 2}, "out of range"},
		{"segments descend", []int32{2, 2}, fbt{[]int32{0, 1}, nil, []fbt{dim(2), csr([]int32{0, 2, 1}, []int32{0, 1})}}, []float32{1, 2}, "ascending"},
		{"segments past indices", []int32{2, 2}, fbt{[]int32{0, 1}, nil, []fbt{dim(2), csr([]int32{0, 1, 9}, []int32{0, 1})}}, []float32{1, 2}, "ascending"},
		{"too few segments", []int32{3, 2}, fbt{[]int32{0, 1}, nil, []fbt{dim(3), csr([]int32{0, 1}, []int32{0})}}, []float32{1}, "segment"},
		{"more values than the structure", []int32{2, 2}, fbt{[]int32{0, 1}, nil, []fbt{dim(2), csr([]int32{0, 1, 2}, []int32{0, 1})}}, []float32{1, 2, 3}, "holds 2 values, the buffer 3"},
		{"fewer values", []int32{2, 2}, fbt{[]int32{0, 1}, nil, []fbt{dim(2), csr([]int32{0, 2, 4}, []int32{0, 1, 0, 1})}}, []float32{1, 2}, "more than the buffer"},
		{"traversal repeats", []int32{2, 2}, fbt{[]int32{0, 0}, nil, []fbt{dim(2), dim(2)}}, []float32{1, 2, 3, 4}, "traversal order"},
		{"traversal too short", []int32{2, 2}, fbt{[]int32{0}, nil, []fbt{dim(2)}}, []float32{1, 2, 3, 4}, "traversed dimensions"},
		{"dense size wrong", []int32{2, 2}, fbt{[]int32{0, 1}, nil, []fbt{dim(3), dim(2)}}, []float32{1, 2, 3, 4}, "dense dimension 0 has size 3"},
		{"block does not divide", []int32{3, 4}, fbt{[]int32{0, 1, 2}, []int32{0}, []fbt{dim(1), dim(4), dim(2)}}, []float32{1}, "does not divide"},
		{"block map out of range", []int32{2, 2}, fbt{[]int32{0, 1, 2}, []int32{5}, []fbt{dim(2), dim(2), dim(1)}}, []float32{1}, "block map"},
		{"unknown format", []int32{2}, fbt{[]int32{0}, nil, []fbt{{int8(7), int32(2)}}}, []float32{1, 2}, "format 7"},
		{"unknown index type", []int32{2}, fbt{[]int32{0}, nil, []fbt{{int8(1), nil, uint8(9), fbt{[]int32{0, 1}}, uint8(1), fbt{[]int32{0}}}}}, []float32{1}, "index vector type 9"},
		{"missing indices", []int32{2}, fbt{[]int32{0}, nil, []fbt{{int8(1), nil, uint8(1), fbt{[]int32{0, 1}}}}}, []float32{1}, "missing"},
	}
	for _, c := range cases {
		_, err := runSparse(t, sparseModel(c.shape, c.sparsity, c.values, false))
		if err == nil || !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrInvalidModel containing %q", c.name, err, c.want)
		}
	}
	// A dense size far beyond the file: refused before any allocation.
	huge := fbt{[]int32{0, 1}, nil, []fbt{dim(1 << 14), csr(make([]int32, 1<<14+1), nil)}}
	_, err := runSparse(t, sparseModel([]int32{1 << 14, 1 << 14}, huge, []float32{1}, false))
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "times its size") {
		t.Errorf("huge dense tensor: %v", err)
	}
}
