package tflite

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

// Every hostile input must give an error naming the problem, never a panic.

// chainModel is a valid two-RESHAPE model whose parts the hostile cases replace.
type chainModel struct {
	opcodes []fbt
	tensors []fbt
	ops     []fbt
	buffers []fbt
	in, out []int32
	extra   fbt // model slots 5 and up (metadata_buffer, metadata, signature_defs)
}

func newChain() *chainModel {
	return &chainModel{
		opcodes: []fbt{tOpcode(opReshape)},
		tensors: []fbt{
			tTensor("in", Float32, []int32{2, 3}, 0),
			tTensor("mid", Float32, []int32{3, 2}, 0),
			tTensor("out", Float32, []int32{6}, 0),
		},
		ops: []fbt{
			tOp(0, []int32{0}, []int32{1}, 17, fbt{[]int32{3, 2}}),
			tOp(0, []int32{1}, []int32{2}, 17, fbt{[]int32{6}}),
		},
		buffers: []fbt{tBuffer(nil)},
		in:      []int32{0},
		out:     []int32{2},
	}
}

func (c *chainModel) bytes() []byte {
	root := tModel(c.opcodes, []fbt{tSubgraph(c.tensors, c.in, c.out, c.ops)}, c.buffers)
	root = append(root, c.extra...)
	return encodeFB(root, "TFL3")
}

// build loads the model and builds an interpreter.
func (c *chainModel) build(opts ...Option) (*Interpreter, error) {
	m, err := Load(c.bytes())
	if err != nil {
		return nil, err
	}
	return NewInterpreter(m, opts...)
}

func TestChainModelValid(t *testing.T) {
	ip, err := newChain().build()
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	copy(ip.Input(0).Float32s(), []float32{1, 2, 3, 4, 5, 6})
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	if got := ip.Output(0).Float32s(); len(got) != 6 || got[5] != 6 {
		t.Errorf("output %v", got)
	}
}

func TestHostileGraphs(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *chainModel)
		is     error // sentinel the error must wrap
		want   string
	}{
		{"out of order", func(c *chainModel) { c.ops[0], c.ops[1] = c.ops[1], c.ops[0] },
			ErrInvalidModel, "operator 0 (RESHAPE) reads tensor 1 (\"mid\") before any operator writes it"},
		{"cycle", func(c *chainModel) {
			c.ops[0] = tOp(0, []int32{2}, []int32{1}, 17, fbt{[]int32{3, 2}})
		}, ErrInvalidModel, "reads tensor 2"},
		{"self loop", func(c *chainModel) {
			c.ops[1] = tOp(0, []int32{2}, []int32{2}, 17, fbt{[]int32{6}})
		}, ErrInvalidModel, "reads tensor 2"},
		{"written twice", func(c *chainModel) {
			c.ops = append(c.ops, tOp(0, []int32{1}, []int32{2}, 17, fbt{[]int32{6}}))
		}, ErrInvalidModel, "already written"},
		{"writes input", func(c *chainModel) {
			c.ops[1] = tOp(0, []int32{1}, []int32{0}, 17, fbt{[]int32{2, 3}})
		}, ErrInvalidModel, "writes graph input"},
		{"output never written", func(c *chainModel) { c.ops = c.ops[:1] },
			ErrInvalidModel, "graph output 2 (\"out\") is written by no operator"},
		{"input index out of range", func(c *chainModel) {
			c.ops[1] = tOp(0, []int32{7}, []int32{2}, 17, nil)
		}, ErrInvalidModel, "operator 1: RESHAPE inputs: tensor index 7 out of range [0, 3)"},
		{"output index -1", func(c *chainModel) {
			c.ops[1] = tOp(0, []int32{1}, []int32{-1}, 17, nil)
		}, ErrInvalidModel, "tensor index -1 out of range"},
		{"graph input out of range", func(c *chainModel) { c.in = []int32{3} },
			ErrInvalidModel, "inputs: tensor index 3 out of range"},
		{"opcode index out of range", func(c *chainModel) {
			c.ops[0] = tOp(5, []int32{0}, []int32{1}, 17, nil)
		}, ErrInvalidModel, "opcode index 5 out of range [0, 1)"},
		{"unsupported builtin", func(c *chainModel) {
			c.opcodes = append(c.opcodes, tOpcode(66))
			c.ops[1] = tOp(1, []int32{1}, []int32{2}, 0, nil)
		}, ErrUnsupported, "operator 1 (SIN, builtin code 66): unsupported op"},
		{"unsupported extended builtin", func(c *chainModel) {
			// Codes above 127 live in the int32 field; the byte holds the placeholder.
			c.opcodes = append(c.opcodes, fbt{int8(127), nil, int32(1), int32(151)})
			c.ops[1] = tOp(1, []int32{1}, []int32{2}, 0, nil)
		}, ErrUnsupported, "operator 1 (DYNAMIC_UPDATE_SLICE, builtin code 151)"},
		{"old file byte code only", func(c *chainModel) {
			c.opcodes = append(c.opcodes, fbt{int8(66)})
			c.ops[1] = tOp(1, []int32{1}, []int32{2}, 0, nil)
		}, ErrUnsupported, "operator 1 (SIN, builtin code 66)"},
		{"unsupported custom", func(c *chainModel) {
			c.opcodes = append(c.opcodes, tCustomOpcode("MyFancyOp"))
			c.ops[1] = tOp(1, []int32{1}, []int32{2}, 0, nil)
		}, ErrUnsupported, "operator 1 (custom op \"MyFancyOp\"): unsupported op"},
		{"kernel rejects", func(c *chainModel) {
			c.ops[1] = tOp(0, []int32{1}, []int32{2}, 17, fbt{[]int32{7}})
		}, ErrInvalidModel, "operator 1 (RESHAPE): cannot reshape [3 2] (6 elements) to [7]"},
		{"options of the wrong type", func(c *chainModel) {
			c.ops[1] = tOp(0, []int32{1}, []int32{2}, 30, fbt{[]int32{6}})
		}, ErrInvalidModel, "builtin options of union type 30, want 17"},
		{"options without type", func(c *chainModel) {
			c.ops[1] = fbt{uint32(0), []int32{1}, []int32{2}, nil, fbt{[]int32{6}}}
		}, ErrInvalidModel, "builtin options without a type"},
		{"constant size mismatch", func(c *chainModel) {
			c.tensors = append(c.tensors, tTensor("w", Float32, []int32{4}, 1))
			c.buffers = append(c.buffers, tBuffer(float32Bytes(1, 2, 3)))
		}, ErrInvalidModel, "\"w\": constant buffer 1 holds 12 bytes, shape [4] of float32 needs 16"},
		{"buffer index out of range", func(c *chainModel) {
			c.tensors[1] = tTensor("mid", Float32, []int32{3, 2}, 9)
		}, ErrInvalidModel, "buffer 9 out of range [0, 1)"},
		{"negative dimension", func(c *chainModel) {
			c.tensors[1] = tTensor("mid", Float32, []int32{3, -2}, 0)
		}, ErrInvalidModel, "dimension 1 is -2"},
		{"shape overflow", func(c *chainModel) {
			c.tensors[1] = tTensor("mid", Float32, []int32{1 << 30, 1 << 30, 1 << 30}, 0)
		}, ErrInvalidModel, "is too large"},
		{"rank too large", func(c *chainModel) {
			c.tensors[1] = tTensor("mid", Float32, make([]int32, 40), 0)
		}, ErrInvalidModel, "rank 40, more than the 16 allowed"},
		{"unknown type", func(c *chainModel) {
			c.tensors[1] = tTensor("mid", DataType(99), []int32{3, 2}, 0)
		}, ErrInvalidModel, "unknown type 99"},
		{"string activation", func(c *chainModel) {
			c.tensors[1] = tTensor("mid", String, []int32{3, 2}, 0)
		}, ErrUnsupported, "string tensors"},
		{"constant graph input", func(c *chainModel) {
			c.tensors[0] = tTensor("in", Float32, []int32{2, 3}, 1)
			c.buffers = append(c.buffers, tBuffer(float32Bytes(1, 2, 3, 4, 5, 6)))
		}, ErrInvalidModel, "graph input 0 (\"in\") is a constant"},
		{"sparsity without data", func(c *chainModel) {
			c.tensors[1] = fbt{[]int32{3, 2}, int8(Float32), uint32(0), "mid", nil, nil, fbt{[]int32{0, 1}}}
		}, ErrInvalidModel, "\"mid\": sparse tensor: sparsity on a tensor without constant data"},
		{"custom quantization", func(c *chainModel) {
			c.tensors[1] = fbt{[]int32{3, 2}, int8(Float32), uint32(0), "mid",
				fbt{nil, nil, []float32{1}, []int64{0}, uint8(1), fbt{[]byte{1}}}}
		}, ErrUnsupported, "custom quantization"},
		{"quantization counts differ", func(c *chainModel) {
			c.tensors[1] = fbt{[]int32{3, 2}, int8(Float32), uint32(0), "mid",
				fbt{nil, nil, []float32{1, 2}, []int64{0}}}
		}, ErrInvalidModel, "2 quantization scales but 1 zero points"},
		{"per-channel axis mismatch", func(c *chainModel) {
			c.tensors[1] = fbt{[]int32{3, 2}, int8(Float32), uint32(0), "mid",
				fbt{nil, nil, []float32{1, 2, 3}, []int64{0, 0, 0}, nil, nil, int32(1)}}
		}, ErrInvalidModel, "3 per-channel scales do not match dimension 1"},
		{"negative scale", func(c *chainModel) {
			c.tensors[1] = fbt{[]int32{3, 2}, int8(Float32), uint32(0), "mid",
				fbt{nil, nil, []float32{-1}, []int64{0}}}
		}, ErrInvalidModel, "quantization scale -1"},
		{"shape signature mismatch", func(c *chainModel) {
			c.tensors[0] = fbt{[]int32{2, 3}, int8(Float32), uint32(0), "in", nil, nil, nil, []int32{-1, 4}}
		}, ErrInvalidModel, "shape signature [-1 4] does not match shape [2 3]"},
		{"external buffer outside file", func(c *chainModel) {
			c.buffers = append(c.buffers, fbt{nil, uint64(1 << 40), uint64(16)})
		}, ErrInvalidModel, "external data"},
		{"large custom options outside file", func(c *chainModel) {
			c.ops[0] = fbt{uint32(0), []int32{0}, []int32{1}, uint8(17), fbt{[]int32{3, 2}},
				nil, nil, nil, nil, uint64(1 << 40), uint64(8)}
		}, ErrInvalidModel, "custom options"},
		{"memory limit", nil, ErrMemoryLimit, "the model needs a 96-byte arena and 0 bytes of folded constants, the limit is 40"},
		{"no subgraph", func(c *chainModel) {}, ErrInvalidModel, "no subgraph"},
		{"signature subgraph out of range", func(c *chainModel) {
			c.extra = fbt{nil, nil, []fbt{{[]fbt{{"x", uint32(0)}}, nil, "sig", nil, uint32(3)}}}
		}, ErrInvalidModel, "signature \"sig\": subgraph 3 out of range"},
		{"signature tensor out of range", func(c *chainModel) {
			c.extra = fbt{nil, nil, []fbt{{[]fbt{{"x", uint32(30)}}, nil, "sig"}}}
		}, ErrInvalidModel, "entry \"x\": tensor 30 out of range"},
		{"metadata buffer out of range", func(c *chainModel) {
			c.extra = fbt{nil, []fbt{{"TFLITE_METADATA", uint32(4)}}}
		}, ErrInvalidModel, "metadata 0: buffer 4 out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newChain()
			var opts []Option
			switch tc.name {
			case "memory limit":
				opts = append(opts, WithMemoryLimit(40))
			case "no subgraph":
				b := encodeFB(fbt{uint32(3), c.opcodes, []fbt{}, "", c.buffers}, "TFL3")
				_, err := Load(b)
				checkErr(t, err, tc.is, tc.want)
				return
			}
			if tc.mutate != nil {
				tc.mutate(c)
			}
			ip, err := c.build(opts...)
			if err == nil {
				ip.Close()
			}
			checkErr(t, err, tc.is, tc.want)
		})
	}
}

func checkErr(t *testing.T, err, is error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\nwant it to contain %q", err, want)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q does not wrap %v", err, is)
	}
	if is != ErrUnsupported && errors.Is(err, ErrUnsupported) {
		t.Errorf("error %q wrongly wraps %v", err, ErrUnsupported)
	}
}

// Raw-byte corruptions of a valid file: the reader must reject each with ErrInvalidModel.
func TestHostileBytes(t *testing.T) {
	good := newChain().bytes()
	root := int(binary.LittleEndian.Uint32(good))
	cases := []struct {
		name   string
		mutate func(b []byte) []byte
		want   string
	}{
		{"empty", func(b []byte) []byte { return nil }, "too short"},
		{"wrong identifier", func(b []byte) []byte { copy(b[4:], "TFL2"); return b }, "file identifier is \"TFL2\""},
		{"root offset past end", func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 0xfffffff0); return b }, "outside the buffer"},
		{"vtable offset past end", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[root:], 0x80000000)
			return b
		}, "vtable"},
		{"vtable size odd", func(b []byte) []byte {
			vt := root - int(int32(binary.LittleEndian.Uint32(b[root:])))
			binary.LittleEndian.PutUint16(b[vt:], 7)
			return b
		}, "bad vtable size 7"},
		{"inline size past end", func(b []byte) []byte {
			vt := root - int(int32(binary.LittleEndian.Uint32(b[root:])))
			binary.LittleEndian.PutUint16(b[vt+2:], 0xffff)
			return b
		}, "bad inline size"},
		{"field outside table", func(b []byte) []byte {
			vt := root - int(int32(binary.LittleEndian.Uint32(b[root:])))
			binary.LittleEndian.PutUint16(b[vt+4:], 0xfff0) // version field
			return b
		}, "model version: field 0: offset 65520 outside the table"},
		{"schema version", func(b []byte) []byte {
			vt := root - int(int32(binary.LittleEndian.Uint32(b[root:])))
			binary.LittleEndian.PutUint32(b[root+int(binary.LittleEndian.Uint16(b[vt+4:])):], 2)
			return b
		}, "schema version 2, want 3"},
		{"huge vector length", func(b []byte) []byte {
			// The subgraphs vector (model slot 2) claims 2^32-1 elements.
			vt := root - int(int32(binary.LittleEndian.Uint32(b[root:])))
			p := root + int(binary.LittleEndian.Uint16(b[vt+4+2*2:]))
			v := p + int(binary.LittleEndian.Uint32(b[p:]))
			binary.LittleEndian.PutUint32(b[v:], 0xffffffff)
			return b
		}, "4294967295 elements of 4 bytes overrun the buffer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.mutate(append([]byte(nil), good...))
			_, err := Load(b)
			checkErr(t, err, ErrInvalidModel, c.want)
		})
	}
}

// Every truncation of a real model must be rejected without a panic.
func TestTruncatedModels(t *testing.T) {
	for _, path := range []string{modelHelloFloat, modelSin} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		accepted := 0
		for n := 0; n < len(b); n++ {
			m, err := Load(b[:n:n])
			if err != nil {
				if !errors.Is(err, ErrInvalidModel) {
					t.Fatalf("%s[:%d]: %v does not wrap ErrInvalidModel", path, n, err)
				}
				continue
			}
			// A cut that only drops trailing bytes nothing points to still loads.
			accepted++
			if ip, err := NewInterpreter(m, WithMemoryLimit(1<<20)); err == nil {
				_ = ip.Invoke()
				ip.Close()
			}
		}
		if accepted > 64 {
			t.Errorf("%s: %d truncations accepted", path, accepted)
		}
	}
}

// Many tensors sharing one large quantization table would make the parser allocate far more
// than the file holds; the parse budget stops it with an error.
func TestSharedTableAmplification(t *testing.T) {
	scales := make([]float32, 4096)
	for i := range scales {
		scales[i] = 1
	}
	shared := fbt{[]int32{4096}, int8(Float32), uint32(0), "t", fbt{nil, nil, scales, make([]int64, 4096)}, nil, nil, nil}
	sub := fbt{fbRepeat{n: 4096, t: shared}, []int32{}, []int32{}, []fbt{}, "main"}
	b := encodeFB(tModel([]fbt{}, []fbt{sub}, []fbt{tBuffer(nil)}), "TFL3")
	if len(b) > 100_000 {
		t.Fatalf("test model is %d bytes, want a small file", len(b))
	}
	_, err := Load(b)
	checkErr(t, err, ErrInvalidModel, "the model declares more data than its")

	// The same sharing on a small scale is legal and loads.
	shared[4] = fbt{nil, nil, []float32{1}, []int64{0}}
	shared[0] = []int32{1}
	sub[0] = fbRepeat{n: 16, t: shared}
	if _, err := Load(encodeFB(tModel([]fbt{}, []fbt{sub}, []fbt{tBuffer(nil)}), "TFL3")); err != nil {
		t.Fatal(err)
	}
}

// Tensors sharing one long name string are charged for every copy of it.
func TestSharedStringAmplification(t *testing.T) {
	shared := tTensor(strings.Repeat("n", 20000), Float32, []int32{1}, 0)
	sub := fbt{fbRepeat{n: 4096, t: shared}, []int32{}, []int32{}, []fbt{}, "main"}
	_, err := Load(encodeFB(tModel([]fbt{}, []fbt{sub}, []fbt{tBuffer(nil)}), "TFL3"))
	checkErr(t, err, ErrInvalidModel, "the model declares more data than its")
}

// Operators sharing one large custom-options vector are charged for every operator.
func TestSharedCustomOptionsAmplification(t *testing.T) {
	c := newChain()
	c.opcodes = append(c.opcodes, tCustomOpcode("Big"))
	op := fbt{uint32(1), []int32{1}, []int32{2}, nil, nil, make([]byte, 20000)}
	c.ops = []fbt{c.ops[0]}
	sub := fbt{c.tensors, c.in, c.out, []fbt{c.ops[0]}, "main"}
	sub[3] = fbRepeat{n: 4096, t: op}
	_, err := Load(encodeFB(tModel(c.opcodes, []fbt{sub}, c.buffers), "TFL3"))
	checkErr(t, err, ErrInvalidModel, "the model declares more data than its")
}

func TestOptionVectorTooLong(t *testing.T) {
	c := newChain()
	c.ops[1] = tOp(0, []int32{1}, []int32{2}, 17, fbt{make([]int32, 65)})
	_, err := c.build()
	checkErr(t, err, ErrInvalidModel, "operator 1: builtin options: field 0: 65 entries, more than the 64 allowed")
}
