package tflite

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// reshapeModel builds a graph using only RESHAPE and SQUEEZE:
//
//	in [1,2,3] -RESHAPE(options [3,-1])-> a [3,2] -RESHAPE(const shape [1,6,1])-> b [1,6,1]
//	-SQUEEZE(all)-> out [6]
func reshapeModel() []byte {
	tensors := []fbt{
		tTensor("in", Float32, []int32{1, 2, 3}, 0),
		tTensor("a", Float32, []int32{3, 2}, 0),
		tTensor("shape", Int32, []int32{3}, 1),
		tTensor("b", Float32, []int32{1, 6, 1}, 0),
		tTensor("out", Float32, []int32{6}, 0),
	}
	ops := []fbt{
		tOp(0, []int32{0}, []int32{1}, 17, fbt{[]int32{3, -1}}),
		tOp(0, []int32{1, 2}, []int32{3}, 17, nil),
		tOp(1, []int32{3}, []int32{4}, 0, nil),
	}
	return encodeFB(tModel(
		[]fbt{tOpcode(opReshape), tOpcode(opSqueeze)},
		[]fbt{tSubgraph(tensors, []int32{0}, []int32{4}, ops)},
		[]fbt{tBuffer(nil), tBuffer(int32Bytes(1, 6, 1))},
	), "TFL3")
}

func TestReshapeSqueezeGraph(t *testing.T) {
	m, err := Load(reshapeModel())
	if err != nil {
		t.Fatal(err)
	}
	if got := m.OpCounts(); got["RESHAPE"] != 2 || got["SQUEEZE"] != 1 || len(got) != 2 {
		t.Errorf("op counts %v", got)
	}
	ip, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	in := []float32{1, 2, 3, 4, 5, 6}
	copy(ip.Input(0).Float32s(), in)
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	out := ip.Output(0)
	if !slices.Equal(out.Shape(), []int{6}) {
		t.Errorf("output shape %v, want [6]", out.Shape())
	}
	if !slices.Equal(out.Float32s(), in) {
		t.Errorf("output %v, want %v", out.Float32s(), in)
	}
	if ip.tensors[1].Shape()[1] != 2 || !slices.Equal(ip.tensors[3].Shape(), []int{1, 6, 1}) {
		t.Errorf("intermediate shapes %v %v", ip.tensors[1].Shape(), ip.tensors[3].Shape())
	}
}

func TestReshapeKernel(t *testing.T) {
	cases := []struct {
		name  string
		in    []int
		opts  mapOptions
		shape *Tensor // second input
		want  []int
		err   string
	}{
		{name: "options", in: []int{2, 3}, opts: mapOptions{0: []int32{3, 2}}, want: []int{3, 2}},
		{name: "infer", in: []int{2, 3, 4}, opts: mapOptions{0: []int32{-1, 4}}, want: []int{6, 4}},
		{name: "const tensor wins", in: []int{2, 3}, opts: mapOptions{0: []int32{1, 6}}, shape: constInt32([]int{2}, 6, 1), want: []int{6, 1}},
		{name: "scalar legacy", in: []int{1, 1}, opts: mapOptions{0: []int32{0}}, want: []int{}},
		{name: "count mismatch", in: []int{2, 3}, opts: mapOptions{0: []int32{4, 2}}, err: "cannot reshape"},
		{name: "two unknown", in: []int{2, 3}, opts: mapOptions{0: []int32{-1, -1}}, err: "bad new shape"},
		{name: "not divisible", in: []int{2, 3}, opts: mapOptions{0: []int32{-1, 4}}, err: "cannot reshape"},
		{name: "no shape", in: []int{2, 3}, err: "no new shape"},
		{name: "overflow", in: []int{2, 3}, opts: mapOptions{0: []int32{1 << 30, 1 << 30, -1}}, err: "too large"},
		{name: "dynamic shape", in: []int{2, 3}, shape: newTensor("s", Int32, []int{2}, nil), err: "known only at run time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals := make([]float32, numElements(c.in))
			for i := range vals {
				vals[i] = float32(i)
			}
			inputs := []*Tensor{tensorF32(c.in, vals...)}
			if c.shape != nil {
				inputs = append(inputs, c.shape)
			}
			out := newTensor("out", Float32, []int{1}, nil)
			err := runOp(t, "RESHAPE", newReshape, c.opts, inputs, []*Tensor{out})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape(), c.want) || !slices.Equal(out.Float32s(), vals) {
				t.Errorf("got %v %v, want %v %v", out.Shape(), out.Float32s(), c.want, vals)
			}
		})
	}
}

func TestSqueezeKernel(t *testing.T) {
	cases := []struct {
		name string
		in   []int
		dims []int32
		want []int
		err  string
	}{
		{name: "all", in: []int{1, 3, 1, 2}, want: []int{3, 2}},
		{name: "listed", in: []int{1, 3, 1, 2}, dims: []int32{2}, want: []int{1, 3, 2}},
		{name: "negative", in: []int{1, 3, 1}, dims: []int32{-1}, want: []int{1, 3}},
		{name: "not one", in: []int{1, 3}, dims: []int32{1}, err: "cannot squeeze"},
		{name: "out of range", in: []int{1, 3}, dims: []int32{2}, err: "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals := make([]float32, numElements(c.in))
			for i := range vals {
				vals[i] = float32(i) + 0.5
			}
			opts := mapOptions{}
			if c.dims != nil {
				opts[0] = c.dims
			}
			out := newTensor("out", Float32, []int{1}, nil)
			err := runOp(t, "SQUEEZE", newSqueeze, opts, []*Tensor{tensorF32(c.in, vals...)}, []*Tensor{out})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape(), c.want) || !slices.Equal(out.Float32s(), vals) {
				t.Errorf("got %v %v, want %v %v", out.Shape(), out.Float32s(), c.want, vals)
			}
		})
	}
}

func TestReshapeTypeMismatch(t *testing.T) {
	out := newTensor("out", Int8, []int{1}, nil)
	err := runOp(t, "RESHAPE", newReshape, mapOptions{0: []int32{6}}, []*Tensor{tensorF32([]int{2, 3})}, []*Tensor{out})
	if err == nil || !strings.Contains(err.Error(), "float32") {
		t.Fatalf("err %v", err)
	}
	if _, err := newReshape(&node{op: "RESHAPE", opts: mapOptions{}}); err == nil {
		t.Error("RESHAPE without inputs accepted")
	}
	if _, err := newSqueeze(&node{op: "SQUEEZE", opts: mapOptions{}}); err == nil {
		t.Error("SQUEEZE without inputs accepted")
	}
	if errors.Is(err, ErrUnsupported) {
		t.Error("type mismatch reported as unsupported")
	}
}

func constInt32(shape []int, vals ...int32) *Tensor {
	t := newTensor("shape", Int32, shape, nil)
	copy(t.Int32s(), vals)
	t.constant = true
	return t
}
