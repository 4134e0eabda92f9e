package fb

import (
	"errors"
	"fmt"
	"math"
)

// FlexBuffers is the schemaless format custom ops use for their options. Only the subset that
// op options need is read here: scalars (int, uint, float, bool, null, and their indirect
// forms), keys and maps. Every read is bounds-checked, so hostile bytes yield an error.

// ErrFlexBuffer is wrapped by every error about malformed FlexBuffer bytes.
var ErrFlexBuffer = errors.New("malformed flexbuffer")

// FlexType is the FlexBuffers value type (the upper six bits of a packed type byte).
type FlexType uint8

// The value types this reader knows.
const (
	FlexNull          FlexType = 0
	FlexInt           FlexType = 1
	FlexUInt          FlexType = 2
	FlexFloat         FlexType = 3
	FlexKey           FlexType = 4
	FlexString        FlexType = 5
	FlexIndirectInt   FlexType = 6
	FlexIndirectUInt  FlexType = 7
	FlexIndirectFloat FlexType = 8
	FlexMapType       FlexType = 9
	FlexBool          FlexType = 26
)

// FlexValue is a reference to one value inside a FlexBuffer.
type FlexValue struct {
	buf         []byte
	pos         int // where the value (or the offset to it) is stored
	parentWidth int // byte width of the slot at pos
	byteWidth   int // byte width of the pointed-to data, for offset types
	typ         FlexType
}

// FlexRoot returns the root value of a FlexBuffer.
func FlexRoot(buf []byte) (FlexValue, error) {
	if len(buf) < 3 {
		return FlexValue{}, fmt.Errorf("%w: %d bytes is too short", ErrFlexBuffer, len(buf))
	}
	width := int(buf[len(buf)-1])
	if !validWidth(width) {
		return FlexValue{}, fmt.Errorf("%w: root byte width %d", ErrFlexBuffer, width)
	}
	pos := len(buf) - 2 - width
	if pos < 0 {
		return FlexValue{}, fmt.Errorf("%w: root does not fit", ErrFlexBuffer)
	}
	return newFlexValue(buf, pos, width, buf[len(buf)-2]), nil
}

func newFlexValue(buf []byte, pos, parentWidth int, packed byte) FlexValue {
	return FlexValue{buf: buf, pos: pos, parentWidth: parentWidth, byteWidth: 1 << (packed & 3), typ: FlexType(packed >> 2)}
}

func validWidth(w int) bool { return w == 1 || w == 2 || w == 4 || w == 8 }

// flexReadUint reads a little-endian unsigned integer of width bytes at pos.
func flexReadUint(buf []byte, pos, width int) (uint64, error) {
	if pos < 0 || !validWidth(width) || pos > len(buf)-width {
		return 0, fmt.Errorf("%w: %d-byte read at %d outside %d bytes", ErrFlexBuffer, width, pos, len(buf))
	}
	var v uint64
	for i := width - 1; i >= 0; i-- {
		v = v<<8 | uint64(buf[pos+i])
	}
	return v, nil
}

// flexReadInt reads a little-endian signed integer of width bytes at pos.
func flexReadInt(buf []byte, pos, width int) (int64, error) {
	u, err := flexReadUint(buf, pos, width)
	if err != nil {
		return 0, err
	}
	shift := 64 - 8*uint(width)
	return int64(u<<shift) >> shift, nil
}

func flexReadFloat(buf []byte, pos, width int) (float64, error) {
	u, err := flexReadUint(buf, pos, width)
	if err != nil {
		return 0, err
	}
	switch width {
	case 4:
		return float64(math.Float32frombits(uint32(u))), nil
	case 8:
		return math.Float64frombits(u), nil
	}
	return 0, fmt.Errorf("%w: %d-byte float", ErrFlexBuffer, width)
}

// flexIndirect follows the offset stored at pos (width bytes wide); offsets point backwards.
func flexIndirect(buf []byte, pos, width int) (int, error) {
	off, err := flexReadUint(buf, pos, width)
	if err != nil {
		return 0, err
	}
	if off > uint64(pos) {
		return 0, fmt.Errorf("%w: offset %d at %d points before the buffer", ErrFlexBuffer, off, pos)
	}
	return pos - int(off), nil
}

// IsNull reports whether the value is null (absent map keys read as null).
func (v FlexValue) IsNull() bool { return v.typ == FlexNull }

// AsInt64 converts a numeric or bool value to an integer, as flexbuffers' AsInt64 does (floats
// are truncated, null is 0).
func (v FlexValue) AsInt64() (int64, error) {
	switch v.typ {
	case FlexNull:
		return 0, nil
	case FlexInt:
		return flexReadInt(v.buf, v.pos, v.parentWidth)
	case FlexUInt, FlexBool:
		u, err := flexReadUint(v.buf, v.pos, v.parentWidth)
		return int64(u), err
	case FlexFloat:
		f, err := flexReadFloat(v.buf, v.pos, v.parentWidth)
		return floatToInt64(f), err
	case FlexIndirectInt:
		p, err := flexIndirect(v.buf, v.pos, v.parentWidth)
		if err != nil {
			return 0, err
		}
		return flexReadInt(v.buf, p, v.byteWidth)
	case FlexIndirectUInt:
		p, err := flexIndirect(v.buf, v.pos, v.parentWidth)
		if err != nil {
			return 0, err
		}
		u, err := flexReadUint(v.buf, p, v.byteWidth)
		return int64(u), err
	case FlexIndirectFloat:
		p, err := flexIndirect(v.buf, v.pos, v.parentWidth)
		if err != nil {
			return 0, err
		}
		f, err := flexReadFloat(v.buf, p, v.byteWidth)
		return floatToInt64(f), err
	}
	return 0, fmt.Errorf("%w: type %d is not a number", ErrFlexBuffer, v.typ)
}

func floatToInt64(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// AsInt32 is AsInt64 with a range check.
func (v FlexValue) AsInt32() (int32, error) {
	i, err := v.AsInt64()
	if err != nil {
		return 0, err
	}
	if i < math.MinInt32 || i > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %d does not fit in int32", ErrFlexBuffer, i)
	}
	return int32(i), nil
}

// AsFloat64 converts a numeric or bool value to a float (null is 0).
func (v FlexValue) AsFloat64() (float64, error) {
	switch v.typ {
	case FlexFloat:
		return flexReadFloat(v.buf, v.pos, v.parentWidth)
	case FlexIndirectFloat:
		p, err := flexIndirect(v.buf, v.pos, v.parentWidth)
		if err != nil {
			return 0, err
		}
		return flexReadFloat(v.buf, p, v.byteWidth)
	case FlexUInt, FlexIndirectUInt, FlexBool:
		i, err := v.AsInt64()
		return float64(uint64(i)), err
	}
	i, err := v.AsInt64()
	return float64(i), err
}

// AsBool reports whether a value is true: a bool, or any non-zero number.
func (v FlexValue) AsBool() (bool, error) {
	i, err := v.AsInt64()
	return i != 0, err
}

// FlexMap is a FlexBuffers map: a sorted vector of keys and a vector of values.
type FlexMap struct {
	buf       []byte
	values    int // position of the first value
	width     int // byte width of a value slot
	size      int
	keys      int // position of the first key offset
	keysWidth int
}

// AsMap returns the map a value refers to.
func (v FlexValue) AsMap() (FlexMap, error) {
	if v.typ != FlexMapType {
		return FlexMap{}, fmt.Errorf("%w: type %d is not a map", ErrFlexBuffer, v.typ)
	}
	values, err := flexIndirect(v.buf, v.pos, v.parentWidth)
	if err != nil {
		return FlexMap{}, err
	}
	w := v.byteWidth
	m := FlexMap{buf: v.buf, values: values, width: w}
	// Before the values: the keys vector offset, the keys' byte width and the size.
	size, err := flexReadUint(v.buf, values-w, w)
	if err != nil {
		return FlexMap{}, err
	}
	// Values are size slots plus one type byte each.
	if size > uint64(len(v.buf)) || uint64(values)+size*uint64(w+1) > uint64(len(v.buf)) {
		return FlexMap{}, fmt.Errorf("%w: map of %d entries does not fit", ErrFlexBuffer, size)
	}
	m.size = int(size)
	kw, err := flexReadUint(v.buf, values-2*w, w)
	if err != nil {
		return FlexMap{}, err
	}
	if !validWidth(int(kw)) {
		return FlexMap{}, fmt.Errorf("%w: keys byte width %d", ErrFlexBuffer, kw)
	}
	m.keysWidth = int(kw)
	if m.keys, err = flexIndirect(v.buf, values-3*w, w); err != nil {
		return FlexMap{}, err
	}
	ksize, err := flexReadUint(v.buf, m.keys-m.keysWidth, m.keysWidth)
	if err != nil {
		return FlexMap{}, err
	}
	if ksize != size {
		return FlexMap{}, fmt.Errorf("%w: map has %d keys and %d values", ErrFlexBuffer, ksize, size)
	}
	if uint64(m.keys)+size*uint64(m.keysWidth) > uint64(len(v.buf)) {
		return FlexMap{}, fmt.Errorf("%w: map keys do not fit", ErrFlexBuffer)
	}
	return m, nil
}

// Key returns the i-th key (a NUL-terminated string).
func (m FlexMap) Key(i int) ([]byte, error) {
	start, err := flexIndirect(m.buf, m.keys+i*m.keysWidth, m.keysWidth)
	if err != nil {
		return nil, err
	}
	for end := start; end < len(m.buf); end++ {
		if m.buf[end] == 0 {
			return m.buf[start:end], nil
		}
	}
	return nil, fmt.Errorf("%w: unterminated key at %d", ErrFlexBuffer, start)
}

// Value returns the i-th value.
func (m FlexMap) Value(i int) FlexValue {
	return newFlexValue(m.buf, m.values+i*m.width, m.width, m.buf[m.values+m.size*m.width+i])
}

// Get returns the value stored under key, or a null value if the map has no such key.
func (m FlexMap) Get(key string) (FlexValue, error) {
	for i := 0; i < m.size; i++ {
		k, err := m.Key(i)
		if err != nil {
			return FlexValue{}, err
		}
		if string(k) == key {
			return m.Value(i), nil
		}
	}
	return FlexValue{typ: FlexNull}, nil
}

// Len returns the number of entries.
func (m FlexMap) Len() int { return m.size }
