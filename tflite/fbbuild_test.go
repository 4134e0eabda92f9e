package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A tiny flatbuffer writer for tests: it lays out every object after the one referring to it,
// so all offsets are forward, as the format requires.

// fbt is a table to encode: element i is the value of slot i; a nil value (or nil slice, nil
// fbt) leaves the slot absent. Supported values: uint8, int8, bool, int32, uint32, float32,
// int64, uint64, string, []byte (16-byte aligned data), []int32, []float32, []int64, fbt, []fbt,
// []string.
type fbt []any

type fbEnc struct{ b []byte }

// fbRepeat encodes as a vector of n references to one copy of table t.
type fbRepeat struct {
	n int
	t fbt
}

func encodeFB(root fbt, ident string) []byte {
	e := &fbEnc{b: make([]byte, 8)}
	copy(e.b[4:], ident)
	pos := e.table(root)
	binary.LittleEndian.PutUint32(e.b, uint32(pos))
	return e.b
}

func (e *fbEnc) pad(align int) {
	for len(e.b)%align != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *fbEnc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }

func present(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case fbt:
		return x != nil
	case []fbt:
		return x != nil
	case []byte:
		return x != nil
	case []int32:
		return x != nil
	case []float32:
		return x != nil
	case []int64:
		return x != nil
	case []string:
		return x != nil
	}
	return true
}

func inlineSize(v any) int {
	switch v.(type) {
	case uint8, int8, bool:
		return 1
	case int64, uint64:
		return 8
	}
	return 4
}

// table writes t (vtable first, then the table, then its children) and returns its position.
func (e *fbEnc) table(t fbt) int {
	offs := make([]int, len(t))
	size := 4
	for i, v := range t {
		if !present(v) {
			continue
		}
		sz := inlineSize(v)
		size = (size + sz - 1) / sz * sz
		offs[i] = size
		size += sz
	}
	size = (size + 7) / 8 * 8
	e.pad(2)
	vt := len(e.b)
	e.b = binary.LittleEndian.AppendUint16(e.b, uint16(4+2*len(t)))
	e.b = binary.LittleEndian.AppendUint16(e.b, uint16(size))
	for _, o := range offs {
		e.b = binary.LittleEndian.AppendUint16(e.b, uint16(o))
	}
	e.pad(8)
	pos := len(e.b)
	e.b = append(e.b, make([]byte, size)...)
	binary.LittleEndian.PutUint32(e.b[pos:], uint32(int32(pos-vt)))
	for i, v := range t {
		if !present(v) {
			continue
		}
		p := pos + offs[i]
		switch x := v.(type) {
		case uint8:
			e.b[p] = x
		case int8:
			e.b[p] = byte(x)
		case bool:
			if x {
				e.b[p] = 1
			}
		case int32:
			binary.LittleEndian.PutUint32(e.b[p:], uint32(x))
		case uint32:
			binary.LittleEndian.PutUint32(e.b[p:], x)
		case float32:
			binary.LittleEndian.PutUint32(e.b[p:], math.Float32bits(x))
		case int64:
			binary.LittleEndian.PutUint64(e.b[p:], uint64(x))
		case uint64:
			binary.LittleEndian.PutUint64(e.b[p:], x)
		}
	}
	for i, v := range t {
		if !present(v) || inlineSize(v) != 4 {
			continue
		}
		p := pos + offs[i]
		var child int
		switch x := v.(type) {
		case int32, uint32, float32:
			continue
		case string:
			child = e.bytesVec([]byte(x), 4, true)
		case []byte:
			child = e.bytesVec(x, 16, false)
		case []int32:
			child = e.vec(len(x), 4, 4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, uint32(x[i])) })
		case []float32:
			child = e.vec(len(x), 4, 4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, math.Float32bits(x[i])) })
		case []int64:
			child = e.vec(len(x), 8, 8, func(b []byte, i int) { binary.LittleEndian.PutUint64(b, uint64(x[i])) })
		case fbt:
			child = e.table(x)
		case []fbt:
			child = e.refs(len(x), func(i int) int { return e.table(x[i]) })
		case []string:
			child = e.refs(len(x), func(i int) int { return e.bytesVec([]byte(x[i]), 4, true) })
		case fbRepeat:
			shared := -1
			child = e.refs(x.n, func(int) int {
				if shared < 0 {
					shared = e.table(x.t)
				}
				return shared
			})
		default:
			panic(fmt.Sprintf("fbt: unsupported value %T", v))
		}
		binary.LittleEndian.PutUint32(e.b[p:], uint32(child-p))
	}
	return pos
}

// vec writes a vector of n scalars whose data starts align-aligned, returning its position.
func (e *fbEnc) vec(n, elem, align int, put func([]byte, int)) int {
	for (len(e.b)+4)%align != 0 {
		e.b = append(e.b, 0)
	}
	pos := len(e.b)
	e.u32(uint32(n))
	start := len(e.b)
	e.b = append(e.b, make([]byte, n*elem)...)
	for i := 0; i < n; i++ {
		put(e.b[start+i*elem:], i)
	}
	return pos
}

func (e *fbEnc) bytesVec(b []byte, align int, nul bool) int {
	pos := e.vec(len(b), 1, align, func(dst []byte, i int) { dst[0] = b[i] })
	if nul {
		e.b = append(e.b, 0)
	}
	return pos
}

// refs writes a vector of n references, then each referenced object.
func (e *fbEnc) refs(n int, write func(int) int) int {
	e.pad(4)
	pos := len(e.b)
	e.u32(uint32(n))
	slots := len(e.b)
	e.b = append(e.b, make([]byte, 4*n)...)
	for i := 0; i < n; i++ {
		child := write(i)
		p := slots + 4*i
		binary.LittleEndian.PutUint32(e.b[p:], uint32(child-p))
	}
	return pos
}

// Helpers that build TFLite schema tables.

func tModel(opcodes, subgraphs, buffers []fbt) fbt {
	return fbt{uint32(3), opcodes, subgraphs, "test model", buffers}
}

func tOpcode(code int32) fbt {
	return fbt{int8(min(code, 127)), nil, int32(1), code}
}

func tCustomOpcode(name string) fbt {
	return fbt{int8(opCustom), name, int32(1), int32(opCustom)}
}

func tTensor(name string, typ DataType, shape []int32, buffer uint32) fbt {
	return fbt{shape, int8(typ), buffer, name}
}

func tOp(opcode uint32, in, out []int32, optsType uint8, opts fbt) fbt {
	var typ any
	if optsType != 0 {
		typ = optsType
	}
	return fbt{opcode, in, out, typ, opts}
}

func tSubgraph(tensors []fbt, in, out []int32, ops []fbt) fbt {
	return fbt{tensors, in, out, ops, "main"}
}

func tBuffer(data []byte) fbt { return fbt{data} }

func int32Bytes(v ...int32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, uint32(x))
	}
	return b
}

func float32Bytes(v ...float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}
