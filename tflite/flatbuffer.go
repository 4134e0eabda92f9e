package tflite

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A bounds-checked reader for the FlatBuffers wire format. Every access checks its offset
// against the buffer, so a hostile file yields an error (or, for the option accessors, the
// default value) and never an index panic. Offsets are computed in int64 so that 32-bit uoffsets
// cannot overflow int on 32-bit ARM.
//
// Layout reminder: a table starts with an int32 soffset to its vtable (vtable = table - soffset);
// the vtable holds its own size, the table's inline size and one uint16 field offset per slot
// (0 = absent). References (tables, vectors, strings) are uint32 offsets relative to where they
// are stored. A vector starts with its uint32 element count.

var le = binary.LittleEndian

// fbBuf is a flatbuffer's bytes.
type fbBuf []byte

// fbTable is a validated table: its vtable and inline area lie inside the buffer.
type fbTable struct {
	b     fbBuf
	pos   int // start of the table (its soffset)
	vt    int // start of its vtable
	slots int // number of field slots in the vtable
	size  int // inline size of the table in bytes, including the soffset
}

// fbVector is a validated vector: n elements of elemSize bytes start at pos.
type fbVector struct {
	b        fbBuf
	pos      int
	n        int
	elemSize int
}

// uoffset follows the uint32 offset stored at pos.
func (b fbBuf) uoffset(pos int) (int, error) {
	if pos < 0 || int64(pos)+4 > int64(len(b)) {
		return 0, fmt.Errorf("offset at %d outside the buffer (%d bytes)", pos, len(b))
	}
	target := int64(pos) + int64(le.Uint32(b[pos:]))
	if target >= int64(len(b)) {
		return 0, fmt.Errorf("offset at %d points to %d, outside the buffer (%d bytes)", pos, target, len(b))
	}
	return int(target), nil
}

// table validates the table starting at pos.
func (b fbBuf) table(pos int) (fbTable, error) {
	if pos < 0 || int64(pos)+4 > int64(len(b)) {
		return fbTable{}, fmt.Errorf("table at %d outside the buffer (%d bytes)", pos, len(b))
	}
	vt := int64(pos) - int64(int32(le.Uint32(b[pos:])))
	if vt < 0 || vt+4 > int64(len(b)) {
		return fbTable{}, fmt.Errorf("table at %d: vtable at %d outside the buffer", pos, vt)
	}
	vtSize := int(le.Uint16(b[vt:]))
	tSize := int(le.Uint16(b[vt+2:]))
	if vtSize < 4 || vtSize%2 != 0 || vt+int64(vtSize) > int64(len(b)) {
		return fbTable{}, fmt.Errorf("table at %d: bad vtable size %d", pos, vtSize)
	}
	if tSize < 4 || int64(pos)+int64(tSize) > int64(len(b)) {
		return fbTable{}, fmt.Errorf("table at %d: bad inline size %d", pos, tSize)
	}
	return fbTable{b: b, pos: pos, vt: int(vt), slots: (vtSize - 4) / 2, size: tSize}, nil
}

// root returns the root table and checks the 4-byte file identifier when ident is not empty.
func (b fbBuf) root(ident string) (fbTable, error) {
	if len(b) < 8 {
		return fbTable{}, fmt.Errorf("%d bytes is too short for a flatbuffer", len(b))
	}
	if ident != "" && string(b[4:8]) != ident {
		return fbTable{}, fmt.Errorf("file identifier is %q, want %q", b[4:8], ident)
	}
	pos, err := b.uoffset(0)
	if err != nil {
		return fbTable{}, fmt.Errorf("root: %w", err)
	}
	return b.table(pos)
}

// field returns the absolute position of the slot's inline value of the given size, or -1 if
// the field is absent. A field whose value does not fit inside the table is an error.
func (t fbTable) field(slot, size int) (int, error) {
	if slot < 0 || slot >= t.slots {
		return -1, nil
	}
	o := int(le.Uint16(t.b[t.vt+4+2*slot:]))
	if o == 0 {
		return -1, nil
	}
	if o < 4 || o+size > t.size {
		return -1, fmt.Errorf("field %d: offset %d outside the table (%d bytes)", slot, o, t.size)
	}
	return t.pos + o, nil
}

func (t fbTable) uint8(slot int, def uint8) (uint8, error) {
	p, err := t.field(slot, 1)
	if p < 0 {
		return def, err
	}
	return t.b[p], nil
}

func (t fbTable) int8(slot int, def int8) (int8, error) {
	v, err := t.uint8(slot, uint8(def))
	return int8(v), err
}

func (t fbTable) bool(slot int, def bool) (bool, error) {
	d := uint8(0)
	if def {
		d = 1
	}
	v, err := t.uint8(slot, d)
	return v != 0, err
}

func (t fbTable) uint32(slot int, def uint32) (uint32, error) {
	p, err := t.field(slot, 4)
	if p < 0 {
		return def, err
	}
	return le.Uint32(t.b[p:]), nil
}

func (t fbTable) int32(slot int, def int32) (int32, error) {
	v, err := t.uint32(slot, uint32(def))
	return int32(v), err
}

func (t fbTable) float32(slot int, def float32) (float32, error) {
	v, err := t.uint32(slot, math.Float32bits(def))
	return math.Float32frombits(v), err
}

func (t fbTable) uint64(slot int, def uint64) (uint64, error) {
	p, err := t.field(slot, 8)
	if p < 0 {
		return def, err
	}
	return le.Uint64(t.b[p:]), nil
}

// ref follows the reference stored in the slot; -1 if absent.
func (t fbTable) ref(slot int) (int, error) {
	p, err := t.field(slot, 4)
	if p < 0 {
		return -1, err
	}
	return t.b.uoffset(p)
}

// table returns the sub-table in the slot; ok is false if it is absent.
func (t fbTable) table(slot int) (sub fbTable, ok bool, err error) {
	p, err := t.ref(slot)
	if p < 0 || err != nil {
		return fbTable{}, false, err
	}
	sub, err = t.b.table(p)
	return sub, err == nil, err
}

// vector returns the vector in the slot; ok is false if it is absent.
func (t fbTable) vector(slot, elemSize int) (v fbVector, ok bool, err error) {
	p, err := t.ref(slot)
	if p < 0 || err != nil {
		return fbVector{}, false, err
	}
	v, err = t.b.vectorAt(p, elemSize)
	return v, err == nil, err
}

// vectorAt validates the vector whose length prefix is at pos.
func (b fbBuf) vectorAt(pos, elemSize int) (fbVector, error) {
	if int64(pos)+4 > int64(len(b)) {
		return fbVector{}, fmt.Errorf("vector at %d outside the buffer", pos)
	}
	n := int64(le.Uint32(b[pos:]))
	if int64(pos)+4+n*int64(elemSize) > int64(len(b)) {
		return fbVector{}, fmt.Errorf("vector at %d: %d elements of %d bytes overrun the buffer (%d bytes)",
			pos, n, elemSize, len(b))
	}
	return fbVector{b: b, pos: pos + 4, n: int(n), elemSize: elemSize}, nil
}

// string returns the string in the slot ("" if absent).
func (t fbTable) string(slot int) (string, error) {
	v, ok, err := t.vector(slot, 1)
	if !ok {
		return "", err
	}
	return string(v.bytes()), nil
}

func (v fbVector) bytes() []byte { return v.b[v.pos : v.pos+v.n : v.pos+v.n] }

func (v fbVector) uint32(i int) uint32 { return le.Uint32(v.b[v.pos+4*i:]) }

func (v fbVector) int32(i int) int32 { return int32(v.uint32(i)) }

func (v fbVector) float32(i int) float32 { return math.Float32frombits(v.uint32(i)) }

func (v fbVector) int64(i int) int64 { return int64(le.Uint64(v.b[v.pos+8*i:])) }

// table returns element i of a vector of tables.
func (v fbVector) table(i int) (fbTable, error) {
	p, err := v.b.uoffset(v.pos + 4*i)
	if err != nil {
		return fbTable{}, err
	}
	return v.b.table(p)
}

// string returns element i of a vector of strings.
func (v fbVector) string(i int) (string, error) {
	p, err := v.b.uoffset(v.pos + 4*i)
	if err != nil {
		return "", err
	}
	s, err := v.b.vectorAt(p, 1)
	if err != nil {
		return "", err
	}
	return string(s.bytes()), nil
}

// tableOptions implements options over a builtin-options table validated at load. A read that
// does not fit (which validation rules out for the fields kernels use) yields the default.
type tableOptions struct {
	t  fbTable
	ok bool // false: the operator has no options table, every read yields the default
}

func (o tableOptions) Bool(slot int, def bool) bool {
	if !o.ok {
		return def
	}
	v, err := o.t.bool(slot, def)
	if err != nil {
		return def
	}
	return v
}

func (o tableOptions) Int8(slot int, def int8) int8 {
	if !o.ok {
		return def
	}
	v, err := o.t.int8(slot, def)
	if err != nil {
		return def
	}
	return v
}

func (o tableOptions) Int32(slot int, def int32) int32 {
	if !o.ok {
		return def
	}
	v, err := o.t.int32(slot, def)
	if err != nil {
		return def
	}
	return v
}

func (o tableOptions) Float32(slot int, def float32) float32 {
	if !o.ok {
		return def
	}
	v, err := o.t.float32(slot, def)
	if err != nil {
		return def
	}
	return v
}

// Int32s returns nil for a vector longer than maxOptionVector, which the loader rejects for the
// fields it knows.
func (o tableOptions) Int32s(slot int) []int32 {
	if !o.ok {
		return nil
	}
	v, ok, err := o.t.vector(slot, 4)
	if !ok || err != nil || v.n > maxOptionVector {
		return nil
	}
	s := make([]int32, v.n)
	for i := range s {
		s[i] = v.int32(i)
	}
	return s
}
