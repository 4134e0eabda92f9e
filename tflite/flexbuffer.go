package tflite

import (
	"errors"
	"fmt"
	"math"
)

// FlexBuffers is the schemaless format custom ops use for their options. Only the subset that
// op options need is read here: scalars (int, uint, float, bool, null, and their indirect
// forms), keys and maps. Every read is bounds-checked, so hostile bytes yield an error.

// errFlexBuffer is wrapped by every error about malformed FlexBuffer bytes.
var errFlexBuffer = errors.New("malformed flexbuffer")

// flexType is the FlexBuffers value type (the upper six bits of a packed type byte).
type flexType uint8

const (
	flexNull          flexType = 0
	flexInt           flexType = 1
	flexUInt          flexType = 2
	flexFloat         flexType = 3
	flexKey           flexType = 4
	flexString        flexType = 5
	flexIndirectInt   flexType = 6
	flexIndirectUInt  flexType = 7
	flexIndirectFloat flexType = 8
	flexMap           flexType = 9
	flexBool          flexType = 26
)

// flexValue is a reference to one value inside a FlexBuffer.
type flexValue struct {
	buf         []byte
	pos         int // where the value (or the offset to it) is stored
	parentWidth int // byte width of the slot at pos
	byteWidth   int // byte width of the pointed-to data, for offset types
	typ         flexType
}

// flexRoot returns the root value of a FlexBuffer.
func flexRoot(buf []byte) (flexValue, error) {
	if len(buf) < 3 {
		return flexValue{}, fmt.Errorf("%w: %d bytes is too short", errFlexBuffer, len(buf))
	}
	width := int(buf[len(buf)-1])
	if !validWidth(width) {
		return flexValue{}, fmt.Errorf("%w: root byte width %d", errFlexBuffer, width)
	}
	pos := len(buf) - 2 - width
	if pos < 0 {
		return flexValue{}, fmt.Errorf("%w: root does not fit", errFlexBuffer)
	}
	return newFlexValue(buf, pos, width, buf[len(buf)-2]), nil
}

func newFlexValue(buf []byte, pos, parentWidth int, packed byte) flexValue {
	return flexValue{buf: buf, pos: pos, parentWidth: parentWidth, byteWidth: 1 << (packed & 3), typ: flexType(packed >> 2)}
}

func validWidth(w int) bool { return w == 1 || w == 2 || w == 4 || w == 8 }

// readUint reads a little-endian unsigned integer of width bytes at pos.
func flexReadUint(buf []byte, pos, width int) (uint64, error) {
	if pos < 0 || !validWidth(width) || pos > len(buf)-width {
		return 0, fmt.Errorf("%w: %d-byte read at %d outside %d bytes", errFlexBuffer, width, pos, len(buf))
	}
	var v uint64
	for i := width - 1; i >= 0; i-- {
		v = v<<8 | uint64(buf[pos+i])
	}
	return v, nil
}

// readInt reads a little-endian signed integer of width bytes at pos.
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
	return 0, fmt.Errorf("%w: %d-byte float", errFlexBuffer, width)
}

// indirect follows the offset stored at pos (width bytes wide); offsets point backwards.
func flexIndirect(buf []byte, pos, width int) (int, error) {
	off, err := flexReadUint(buf, pos, width)
	if err != nil {
		return 0, err
	}
	if off > uint64(pos) {
		return 0, fmt.Errorf("%w: offset %d at %d points before the buffer", errFlexBuffer, off, pos)
	}
	return pos - int(off), nil
}

func (v flexValue) isNull() bool { return v.typ == flexNull }

// asInt64 converts a numeric or bool value to an integer, as flexbuffers' AsInt64 does (floats
// are truncated, null is 0).
func (v flexValue) asInt64() (int64, error) {
	switch v.typ {
	case flexNull:
		return 0, nil
	case flexInt:
		return flexReadInt(v.buf, v.pos, v.parentWidth)
	case flexUInt, flexBool:
		u, err := flexReadUint(v.buf, v.pos, v.parentWidth)
		return int64(u), err
	case flexFloat:
		f, err := flexReadFloat(v.buf, v.pos, v.parentWidth)
		return floatToInt64(f), err
	case flexIndirectInt:
		p, err := flexIndirect(v.buf, v.pos, v.parentWidth)
		if err != nil {
			return 0, err
		}
		return flexReadInt(v.buf, p, v.byteWidth)
	case flexIndirectUInt:
		p, err := flexIndirect(v.buf, v.pos, v.parentWidth)
		if err != nil {
			return 0, err
		}
		u, err := flexReadUint(v.buf, p, v.byteWidth)
		return int64(u), err
	case flexIndirectFloat:
		p, err := flexIndirect(v.buf, v.pos, v.parentWidth)
		if err != nil {
			return 0, err
		}
		f, err := flexReadFloat(v.buf, p, v.byteWidth)
		return floatToInt64(f), err
	}
	return 0, fmt.Errorf("%w: type %d is not a number", errFlexBuffer, v.typ)
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

// asInt32 is asInt64 with a range check.
func (v flexValue) asInt32() (int32, error) {
	i, err := v.asInt64()
	if err != nil {
		return 0, err
	}
	if i < math.MinInt32 || i > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %d does not fit in int32", errFlexBuffer, i)
	}
	return int32(i), nil
}

// asFloat64 converts a numeric or bool value to a float (null is 0).
func (v flexValue) asFloat64() (float64, error) {
	switch v.typ {
	case flexFloat:
		return flexReadFloat(v.buf, v.pos, v.parentWidth)
	case flexIndirectFloat:
		p, err := flexIndirect(v.buf, v.pos, v.parentWidth)
		if err != nil {
			return 0, err
		}
		return flexReadFloat(v.buf, p, v.byteWidth)
	case flexUInt, flexIndirectUInt, flexBool:
		i, err := v.asInt64()
		return float64(uint64(i)), err
	}
	i, err := v.asInt64()
	return float64(i), err
}

// asBool reports whether a value is true: a bool, or any non-zero number.
func (v flexValue) asBool() (bool, error) {
	i, err := v.asInt64()
	return i != 0, err
}

// flexMapValue is a FlexBuffers map: a sorted vector of keys and a vector of values.
type flexMapValue struct {
	buf       []byte
	values    int // position of the first value
	width     int // byte width of a value slot
	size      int
	keys      int // position of the first key offset
	keysWidth int
}

// asMap returns the map a value refers to.
func (v flexValue) asMap() (flexMapValue, error) {
	if v.typ != flexMap {
		return flexMapValue{}, fmt.Errorf("%w: type %d is not a map", errFlexBuffer, v.typ)
	}
	values, err := flexIndirect(v.buf, v.pos, v.parentWidth)
	if err != nil {
		return flexMapValue{}, err
	}
	w := v.byteWidth
	m := flexMapValue{buf: v.buf, values: values, width: w}
	// Before the values: the keys vector offset, the keys' byte width and the size.
	size, err := flexReadUint(v.buf, values-w, w)
	if err != nil {
		return flexMapValue{}, err
	}
	// Values are size slots plus one type byte each.
	if size > uint64(len(v.buf)) || uint64(values)+size*uint64(w+1) > uint64(len(v.buf)) {
		return flexMapValue{}, fmt.Errorf("%w: map of %d entries does not fit", errFlexBuffer, size)
	}
	m.size = int(size)
	kw, err := flexReadUint(v.buf, values-2*w, w)
	if err != nil {
		return flexMapValue{}, err
	}
	if !validWidth(int(kw)) {
		return flexMapValue{}, fmt.Errorf("%w: keys byte width %d", errFlexBuffer, kw)
	}
	m.keysWidth = int(kw)
	if m.keys, err = flexIndirect(v.buf, values-3*w, w); err != nil {
		return flexMapValue{}, err
	}
	ksize, err := flexReadUint(v.buf, m.keys-m.keysWidth, m.keysWidth)
	if err != nil {
		return flexMapValue{}, err
	}
	if ksize != size {
		return flexMapValue{}, fmt.Errorf("%w: map has %d keys and %d values", errFlexBuffer, ksize, size)
	}
	if uint64(m.keys)+size*uint64(m.keysWidth) > uint64(len(v.buf)) {
		return flexMapValue{}, fmt.Errorf("%w: map keys do not fit", errFlexBuffer)
	}
	return m, nil
}

// key returns the i-th key (a NUL-terminated string).
func (m flexMapValue) key(i int) ([]byte, error) {
	start, err := flexIndirect(m.buf, m.keys+i*m.keysWidth, m.keysWidth)
	if err != nil {
		return nil, err
	}
	for end := start; end < len(m.buf); end++ {
		if m.buf[end] == 0 {
			return m.buf[start:end], nil
		}
	}
	return nil, fmt.Errorf("%w: unterminated key at %d", errFlexBuffer, start)
}

// value returns the i-th value.
func (m flexMapValue) value(i int) flexValue {
	return newFlexValue(m.buf, m.values+i*m.width, m.width, m.buf[m.values+m.size*m.width+i])
}

// get returns the value stored under key, or a null value if the map has no such key.
func (m flexMapValue) get(key string) (flexValue, error) {
	for i := 0; i < m.size; i++ {
		k, err := m.key(i)
		if err != nil {
			return flexValue{}, err
		}
		if string(k) == key {
			return m.value(i), nil
		}
	}
	return flexValue{typ: flexNull}, nil
}
