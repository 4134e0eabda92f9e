package nativetest

import (
	"encoding/binary"
	"fmt"
)

// ClearBadQuantizedDimension returns a copy of a .tflite file in which every tensor whose
// quantization names a quantized_dimension at or beyond its rank gets dimension 0, and how many
// it changed. tflite-micro's person_detect.tflite sets dimension 3 on its rank-1 bias tensors,
// which hold a single scale: the dimension means nothing there and the pure-Go runtime and
// tflite-micro ignore it, but TensorFlow Lite 2.9 refuses the file. The patched copy computes
// the same; the tests use it to run an int8 convolution model on the official runtime.
//
// It walks the flatbuffer without bounds checks beyond the slice's own: use it on files the
// project's loader accepted.
func ClearBadQuantizedDimension(model []byte) (b []byte, n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, n, err = nil, 0, fmt.Errorf("nativetest: malformed flatbuffer: %v", r)
		}
	}()
	b = append([]byte(nil), model...)
	le := binary.LittleEndian
	u32 := func(p int) int { return int(le.Uint32(b[p:])) }
	field := func(table, i int) int { // position of field i, or 0 if absent
		vt := table - int(int32(le.Uint32(b[table:])))
		if 4+2*i >= int(le.Uint16(b[vt:])) {
			return 0
		}
		if off := int(le.Uint16(b[vt+4+2*i:])); off != 0 {
			return table + off
		}
		return 0
	}
	vector := func(table, i int) (start, length int) {
		p := field(table, i)
		if p == 0 {
			return 0, 0
		}
		v := p + u32(p)
		return v + 4, u32(v)
	}
	deref := func(p int) int { return p + u32(p) }
	// Model.subgraphs is field 2, SubGraph.tensors 0, Tensor.shape 0 and .quantization 4,
	// QuantizationParameters.quantized_dimension 6.
	root := u32(0)
	sgs, nsg := vector(root, 2)
	for s := range nsg {
		sg := deref(sgs + 4*s)
		ts, nt := vector(sg, 0)
		for k := range nt {
			t := deref(ts + 4*k)
			_, rank := vector(t, 0)
			q := field(t, 4)
			if q == 0 {
				continue
			}
			qd := field(deref(q), 6)
			if qd == 0 {
				continue
			}
			if d := int(int32(le.Uint32(b[qd:]))); d != 0 && d >= rank {
				le.PutUint32(b[qd:], 0)
				n++
			}
		}
	}
	return b, n, nil
}
