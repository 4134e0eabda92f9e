// Package fb reads the FlatBuffers and FlexBuffers wire formats with a check on every access, so
// that hostile bytes give an error and never a panic. It knows the formats, not the TFLite schema.
package fb

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A bounds-checked reader for the FlatBuffers wire format. Every access checks its offset
// against the buffer, so a hostile file yields an error and never an index panic. Offsets are computed in int64 so that 32-bit uoffsets
// cannot overflow int on 32-bit ARM.
//
// Layout reminder: a table starts with an int32 soffset to its vtable (vtable = table - soffset);
// the vtable holds its own size, the table's inline size and one uint16 field offset per slot
// (0 = absent). References (tables, vectors, strings) are uint32 offsets relative to where they
// are stored. A vector starts with its uint32 element count.

var le = binary.LittleEndian

// Buf is a flatbuffer's bytes.
type Buf []byte

// Table is a validated table: its vtable and inline area lie inside the buffer. Its field
// accessors take the field's slot (its index in the schema's table) and check that the value
// lies inside the table.
type Table struct {
	b     Buf
	pos   int // start of the table (its soffset)
	vt    int // start of its vtable
	slots int // number of field slots in the vtable
	size  int // inline size of the table in bytes, including the soffset
}

// Vector is a validated vector: n elements of elemSize bytes start at pos, all inside the
// buffer, so its element accessors need no error for an index in [0, Len()).
type Vector struct {
	b        Buf
	pos      int
	n        int
	elemSize int
}

// uoffset follows the uint32 offset stored at pos.
func (b Buf) uoffset(pos int) (int, error) {
	if pos < 0 || int64(pos)+4 > int64(len(b)) {
		return 0, fmt.Errorf("offset at %d outside the buffer (%d bytes)", pos, len(b))
	}
	target := int64(pos) + int64(le.Uint32(b[pos:]))
	if target >= int64(len(b)) {
		return 0, fmt.Errorf("offset at %d points to %d, outside the buffer (%d bytes)", pos, target, len(b))
	}
	return int(target), nil
}

// Table validates the table starting at pos.
func (b Buf) Table(pos int) (Table, error) {
	if pos < 0 || int64(pos)+4 > int64(len(b)) {
		return Table{}, fmt.Errorf("table at %d outside the buffer (%d bytes)", pos, len(b))
	}
	vt := int64(pos) - int64(int32(le.Uint32(b[pos:])))
	if vt < 0 || vt+4 > int64(len(b)) {
		return Table{}, fmt.Errorf("table at %d: vtable at %d outside the buffer", pos, vt)
	}
	vtSize := int(le.Uint16(b[vt:]))
	tSize := int(le.Uint16(b[vt+2:]))
	if vtSize < 4 || vtSize%2 != 0 || vt+int64(vtSize) > int64(len(b)) {
		return Table{}, fmt.Errorf("table at %d: bad vtable size %d", pos, vtSize)
	}
	if tSize < 4 || int64(pos)+int64(tSize) > int64(len(b)) {
		return Table{}, fmt.Errorf("table at %d: bad inline size %d", pos, tSize)
	}
	return Table{b: b, pos: pos, vt: int(vt), slots: (vtSize - 4) / 2, size: tSize}, nil
}

// Root returns the root table and checks the 4-byte file identifier when ident is not empty.
func (b Buf) Root(ident string) (Table, error) {
	if len(b) < 8 {
		return Table{}, fmt.Errorf("%d bytes is too short for a flatbuffer", len(b))
	}
	if ident != "" && string(b[4:8]) != ident {
		return Table{}, fmt.Errorf("file identifier is %q, want %q", b[4:8], ident)
	}
	pos, err := b.uoffset(0)
	if err != nil {
		return Table{}, fmt.Errorf("root: %w", err)
	}
	return b.Table(pos)
}

// Field returns the absolute position of the slot's inline value of the given size, or -1 if
// the field is absent. A field whose value does not fit inside the table is an error.
func (t Table) Field(slot, size int) (int, error) {
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

// Uint8 reads a 1-byte scalar field, def if absent.
func (t Table) Uint8(slot int, def uint8) (uint8, error) {
	p, err := t.Field(slot, 1)
	if p < 0 {
		return def, err
	}
	return t.b[p], nil
}

// Int8 reads a 1-byte signed field (enums such as TensorType), def if absent.
func (t Table) Int8(slot int, def int8) (int8, error) {
	v, err := t.Uint8(slot, uint8(def))
	return int8(v), err
}

// Bool reads a bool field, def if absent.
func (t Table) Bool(slot int, def bool) (bool, error) {
	d := uint8(0)
	if def {
		d = 1
	}
	v, err := t.Uint8(slot, d)
	return v != 0, err
}

// Uint32 reads a 4-byte unsigned field, def if absent.
func (t Table) Uint32(slot int, def uint32) (uint32, error) {
	p, err := t.Field(slot, 4)
	if p < 0 {
		return def, err
	}
	return le.Uint32(t.b[p:]), nil
}

// Int32 reads a 4-byte signed field, def if absent.
func (t Table) Int32(slot int, def int32) (int32, error) {
	v, err := t.Uint32(slot, uint32(def))
	return int32(v), err
}

// Float32 reads a float field, def if absent.
func (t Table) Float32(slot int, def float32) (float32, error) {
	v, err := t.Uint32(slot, math.Float32bits(def))
	return math.Float32frombits(v), err
}

// Uint64 reads an 8-byte unsigned field, def if absent.
func (t Table) Uint64(slot int, def uint64) (uint64, error) {
	p, err := t.Field(slot, 8)
	if p < 0 {
		return def, err
	}
	return le.Uint64(t.b[p:]), nil
}

// ref follows the reference stored in the slot; -1 if absent.
func (t Table) ref(slot int) (int, error) {
	p, err := t.Field(slot, 4)
	if p < 0 {
		return -1, err
	}
	return t.b.uoffset(p)
}

// Table returns the sub-table in the slot; ok is false if it is absent.
func (t Table) Table(slot int) (sub Table, ok bool, err error) {
	p, err := t.ref(slot)
	if p < 0 || err != nil {
		return Table{}, false, err
	}
	sub, err = t.b.Table(p)
	return sub, err == nil, err
}

// Vector returns the vector in the slot; ok is false if it is absent.
func (t Table) Vector(slot, elemSize int) (v Vector, ok bool, err error) {
	p, err := t.ref(slot)
	if p < 0 || err != nil {
		return Vector{}, false, err
	}
	v, err = t.b.vectorAt(p, elemSize)
	return v, err == nil, err
}

// vectorAt validates the vector whose length prefix is at pos.
func (b Buf) vectorAt(pos, elemSize int) (Vector, error) {
	if int64(pos)+4 > int64(len(b)) {
		return Vector{}, fmt.Errorf("vector at %d outside the buffer", pos)
	}
	n := int64(le.Uint32(b[pos:]))
	if int64(pos)+4+n*int64(elemSize) > int64(len(b)) {
		return Vector{}, fmt.Errorf("vector at %d: %d elements of %d bytes overrun the buffer (%d bytes)",
			pos, n, elemSize, len(b))
	}
	return Vector{b: b, pos: pos + 4, n: int(n), elemSize: elemSize}, nil
}

// String returns the string in the slot ("" if absent).
func (t Table) String(slot int) (string, error) {
	v, ok, err := t.Vector(slot, 1)
	if !ok {
		return "", err
	}
	return string(v.Bytes()), nil
}

// Bytes returns the elements of a byte vector, pointing into the buffer.
func (v Vector) Bytes() []byte { return v.b[v.pos : v.pos+v.n : v.pos+v.n] }

// Uint32 returns element i of a vector of 4-byte scalars; i must be in [0, Len()).
func (v Vector) Uint32(i int) uint32 { return le.Uint32(v.b[v.pos+4*i:]) }

// Int32 returns element i of a vector of int32s.
func (v Vector) Int32(i int) int32 { return int32(v.Uint32(i)) }

// Float32 returns element i of a vector of floats.
func (v Vector) Float32(i int) float32 { return math.Float32frombits(v.Uint32(i)) }

// Int64 returns element i of a vector of 8-byte scalars.
func (v Vector) Int64(i int) int64 { return int64(le.Uint64(v.b[v.pos+8*i:])) }

// Table returns element i of a vector of tables.
func (v Vector) Table(i int) (Table, error) {
	p, err := v.b.uoffset(v.pos + 4*i)
	if err != nil {
		return Table{}, err
	}
	return v.b.Table(p)
}

// String returns element i of a vector of strings.
func (v Vector) String(i int) (string, error) {
	p, err := v.b.uoffset(v.pos + 4*i)
	if err != nil {
		return "", err
	}
	s, err := v.b.vectorAt(p, 1)
	if err != nil {
		return "", err
	}
	return string(s.Bytes()), nil
}

// Slots returns the number of field slots in the table's vtable (fields added to the schema
// after the file was written have no slot and read as absent).
func (t Table) Slots() int { return t.slots }

// Len returns the number of elements.
func (v Vector) Len() int { return v.n }

// Uint8 returns element i of a vector of bytes.
func (v Vector) Uint8(i int) uint8 { return v.b[v.pos+i] }

// Uint16 returns element i of a vector of 2-byte scalars.
func (v Vector) Uint16(i int) uint16 { return le.Uint16(v.b[v.pos+2*i:]) }
