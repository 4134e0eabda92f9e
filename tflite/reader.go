package tflite

import (
	"errors"
	"fmt"
	"math"

	"github.com/edge-agent/edge-agent/tflite/internal/fb"
)

// The model reader: it walks the TFLite schema's tables (through the bounds-checked flatbuffer
// reader in internal/fb) into the plain structs of model.go, checking every index, shape, type
// and buffer on the way. It knows nothing of kernels.

// parser turns the flatbuffer into plain structs. budget bounds the slices it allocates by the
// file size, so a file whose vectors all point at the same large table cannot make it allocate
// without bound.
type parser struct {
	b      fb.Buf
	budget int64
	dense  int64 // bytes left for densified sparse tensors
}

// charge takes n units (about one per allocated element) from the budget.
func (p *parser) charge(n int) error {
	p.budget -= int64(n)
	if p.budget < 0 {
		return fmt.Errorf("the model declares more data than its %d bytes can hold", len(p.b))
	}
	return nil
}

// str reads a string field, charging its length: many tables may share one long string.
func (p *parser) str(t fb.Table, slot int) (string, error) {
	v, ok, err := t.Vector(slot, 1)
	if !ok {
		return "", err
	}
	if err := p.charge(v.Len()); err != nil {
		return "", err
	}
	return string(v.Bytes()), nil
}

func (p *parser) model() (*Model, error) {
	root, err := p.b.Root("TFL3")
	if err != nil {
		return nil, fmt.Errorf("not a TFLite model: %w", err)
	}
	m := &Model{}
	if m.version, err = root.Uint32(0, 0); err != nil {
		return nil, fmt.Errorf("model version: %w", err)
	}
	if m.version != schemaVersion {
		return nil, fmt.Errorf("schema version %d, want %d", m.version, schemaVersion)
	}
	if m.description, err = p.str(root, 3); err != nil {
		return nil, fmt.Errorf("model description: %w", err)
	}
	if err := p.buffers(root, m); err != nil {
		return nil, err
	}
	if err := p.opcodes(root, m); err != nil {
		return nil, err
	}
	subs, ok, err := root.Vector(2, 4)
	if err != nil {
		return nil, fmt.Errorf("subgraphs: %w", err)
	}
	if !ok || subs.Len() == 0 {
		return nil, errors.New("the model has no subgraph")
	}
	if subs.Len() > maxSubgraphs {
		return nil, fmt.Errorf("%d subgraphs, more than the %d allowed", subs.Len(), maxSubgraphs)
	}
	if err := p.charge(64 * subs.Len()); err != nil {
		return nil, err
	}
	m.subgraphs = make([]subgraph, subs.Len())
	for i := range m.subgraphs {
		t, err := subs.Table(i)
		if err != nil {
			return nil, fmt.Errorf("subgraph %d: %w", i, err)
		}
		if err := p.subgraph(t, m, &m.subgraphs[i]); err != nil {
			return nil, fmt.Errorf("subgraph %d: %w", i, err)
		}
	}
	if err := p.metadata(root, m); err != nil {
		return nil, err
	}
	if err := p.signatures(root, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (p *parser) buffers(root fb.Table, m *Model) error {
	v, _, err := root.Vector(4, 4)
	if err != nil {
		return fmt.Errorf("buffers: %w", err)
	}
	if err := p.charge(8 * v.Len()); err != nil {
		return err
	}
	m.buffers = make([][]byte, v.Len())
	for i := range m.buffers {
		t, err := v.Table(i)
		if err != nil {
			return fmt.Errorf("buffer %d: %w", i, err)
		}
		data, ok, err := t.Vector(0, 1)
		if err != nil {
			return fmt.Errorf("buffer %d: data: %w", i, err)
		}
		if ok && data.Len() > 0 {
			m.buffers[i] = data.Bytes()
			continue
		}
		// Models over 2 GB keep buffers after the flatbuffer; the schema says an offset is only
		// meaningful when > 1.
		off, err := t.Uint64(1, 0)
		if err != nil {
			return fmt.Errorf("buffer %d: offset: %w", i, err)
		}
		size, err := t.Uint64(2, 0)
		if err != nil {
			return fmt.Errorf("buffer %d: size: %w", i, err)
		}
		if off > 1 {
			if off > uint64(len(p.b)) || size > uint64(len(p.b))-off {
				return fmt.Errorf("buffer %d: external data [%d, +%d) outside the %d-byte file", i, off, size, len(p.b))
			}
			m.buffers[i] = p.b[off : off+size : off+size]
		}
	}
	return nil
}

func (p *parser) opcodes(root fb.Table, m *Model) error {
	v, _, err := root.Vector(1, 4)
	if err != nil {
		return fmt.Errorf("operator codes: %w", err)
	}
	if err := p.charge(16 * v.Len()); err != nil {
		return err
	}
	m.opcodes = make([]opCode, v.Len())
	for i := range m.opcodes {
		c := &m.opcodes[i]
		t, err := v.Table(i)
		if err == nil {
			var dep int8
			dep, err = t.Int8(0, 0)
			if err == nil {
				c.builtin, err = t.Int32(3, 0)
			}
			// Old files set only the byte field, new ones set both (the byte saturated at 127
			// for larger codes): the effective code is the larger.
			c.builtin = max(c.builtin, int32(dep))
		}
		if err == nil {
			c.custom, err = p.str(t, 1)
		}
		if err == nil {
			c.version, err = t.Int32(2, 1)
		}
		if err == nil && c.builtin < 0 {
			err = fmt.Errorf("negative builtin code %d", c.builtin)
		}
		if err != nil {
			return fmt.Errorf("operator code %d: %w", i, err)
		}
	}
	return nil
}

func (p *parser) subgraph(t fb.Table, m *Model, sg *subgraph) error {
	var err error
	if sg.name, err = p.str(t, 4); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	tv, _, err := t.Vector(0, 4)
	if err != nil {
		return fmt.Errorf("tensors: %w", err)
	}
	if tv.Len() > maxTensors {
		return fmt.Errorf("%d tensors, more than the %d allowed", tv.Len(), maxTensors)
	}
	if err := p.charge(64 * tv.Len()); err != nil {
		return err
	}
	sg.tensors = make([]tensorDef, tv.Len())
	for i := range sg.tensors {
		tt, err := tv.Table(i)
		if err == nil {
			err = p.tensor(tt, m, &sg.tensors[i])
		}
		if err != nil {
			return fmt.Errorf("tensor %d: %w", i, err)
		}
	}
	nt := len(sg.tensors)
	if sg.inputs, err = p.indices(t, 1, nt, false, maxTensors); err != nil {
		return fmt.Errorf("inputs: %w", err)
	}
	if sg.outputs, err = p.indices(t, 2, nt, false, maxTensors); err != nil {
		return fmt.Errorf("outputs: %w", err)
	}
	ov, _, err := t.Vector(3, 4)
	if err != nil {
		return fmt.Errorf("operators: %w", err)
	}
	if ov.Len() > maxOperators {
		return fmt.Errorf("%d operators, more than the %d allowed", ov.Len(), maxOperators)
	}
	if err := p.charge(64 * ov.Len()); err != nil {
		return err
	}
	sg.ops = make([]operatorDef, ov.Len())
	for i := range sg.ops {
		ot, err := ov.Table(i)
		if err == nil {
			err = p.operator(ot, m, nt, &sg.ops[i])
		}
		if err != nil {
			return fmt.Errorf("operator %d: %w", i, err)
		}
	}
	return nil
}

// indices reads a vector of tensor indices, each in [0, n) (or -1 when optional is set).
func (p *parser) indices(t fb.Table, slot, n int, optional bool, limit int) ([]int, error) {
	v, _, err := t.Vector(slot, 4)
	if err != nil {
		return nil, err
	}
	if v.Len() > limit {
		return nil, fmt.Errorf("%d entries, more than the %d allowed", v.Len(), limit)
	}
	if err := p.charge(v.Len()); err != nil {
		return nil, err
	}
	s := make([]int, v.Len())
	for i := range s {
		x := int(v.Int32(i))
		if (x < 0 || x >= n) && !(optional && x == -1) {
			return nil, fmt.Errorf("tensor index %d out of range [0, %d)", x, n)
		}
		s[i] = x
	}
	return s, nil
}

func (p *parser) tensor(t fb.Table, m *Model, td *tensorDef) error {
	var err error
	if td.name, err = p.str(t, 3); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	typ, err := t.Int8(1, 0)
	if err != nil {
		return fmt.Errorf("type: %w", err)
	}
	if typ < 0 || typ > maxSchemaType {
		return fmt.Errorf("%q: unknown type %d", td.name, typ)
	}
	td.typ = DataType(typ)
	if td.shape, err = p.shape(t, 0, false); err != nil {
		return fmt.Errorf("%q: shape: %w", td.name, err)
	}
	if td.shapeSignature, err = p.shape(t, 7, true); err != nil {
		return fmt.Errorf("%q: shape signature: %w", td.name, err)
	}
	if td.shapeSignature != nil {
		if len(td.shapeSignature) != len(td.shape) {
			return fmt.Errorf("%q: shape signature %v does not match shape %v", td.name, td.shapeSignature, td.shape)
		}
		for i, d := range td.shapeSignature {
			if d != -1 && d != td.shape[i] {
				return fmt.Errorf("%q: shape signature %v does not match shape %v", td.name, td.shapeSignature, td.shape)
			}
		}
	}
	if sz := td.typ.Size(); sz > 0 {
		if _, ok := byteSize(td.shape, sz); !ok {
			return fmt.Errorf("%q: shape %v is too large", td.name, td.shape)
		}
	}
	buf, err := t.Uint32(2, 0)
	if err != nil {
		return fmt.Errorf("%q: buffer: %w", td.name, err)
	}
	if int64(buf) >= int64(len(m.buffers)) {
		if buf != 0 {
			return fmt.Errorf("%q: buffer %d out of range [0, %d)", td.name, buf, len(m.buffers))
		}
	}
	td.buffer = int(buf)
	sp, hasSparsity, err := t.Table(6)
	if err != nil {
		return fmt.Errorf("%q: sparsity: %w", td.name, err)
	}
	if data := m.bufferData(td.buffer); len(data) > 0 && !hasSparsity {
		if sz := td.typ.Size(); sz > 0 {
			want, _ := byteSize(td.shape, sz)
			if len(data) != want {
				return fmt.Errorf("%q: constant buffer %d holds %d bytes, shape %v of %s needs %d",
					td.name, td.buffer, len(data), td.shape, td.typ, want)
			}
		}
	}
	if td.variable, err = t.Bool(5, false); err != nil {
		return fmt.Errorf("%q: is_variable: %w", td.name, err)
	}
	if hasSparsity {
		if err := p.densify(sp, m, td); err != nil {
			return fmt.Errorf("%q: sparse tensor: %w", td.name, err)
		}
	}
	q, ok, err := t.Table(4)
	if err != nil {
		return fmt.Errorf("%q: quantization: %w", td.name, err)
	}
	if ok {
		if td.quant, err = p.quantization(q, td); err != nil {
			return err
		}
	}
	return nil
}

// maxSchemaType is the largest TensorType in the schema (INT4).
const maxSchemaType = 17

// shape reads a vector of dimensions; dims must be >= 0, or >= -1 when dynamic is set. An
// absent vector gives nil for a signature and [] for a shape.
func (p *parser) shape(t fb.Table, slot int, dynamic bool) ([]int, error) {
	v, ok, err := t.Vector(slot, 4)
	if err != nil {
		return nil, err
	}
	if !ok {
		if dynamic {
			return nil, nil
		}
		return []int{}, nil
	}
	if v.Len() > maxRank {
		return nil, fmt.Errorf("rank %d, more than the %d allowed", v.Len(), maxRank)
	}
	if err := p.charge(v.Len()); err != nil {
		return nil, err
	}
	s := make([]int, v.Len())
	for i := range s {
		d := int(v.Int32(i))
		if d < 0 && !(dynamic && d == -1) {
			return nil, fmt.Errorf("dimension %d is %d", i, d)
		}
		s[i] = d
	}
	return s, nil
}

func (p *parser) quantization(q fb.Table, td *tensorDef) (*Quantization, error) {
	details, err := q.Uint8(4, 0)
	if err != nil {
		return nil, fmt.Errorf("%q: quantization details: %w", td.name, err)
	}
	if details != 0 {
		return nil, fmt.Errorf("tensor %q: custom quantization: %w", td.name, ErrUnsupported)
	}
	scales, _, err := q.Vector(2, 4)
	if err != nil {
		return nil, fmt.Errorf("%q: quantization scale: %w", td.name, err)
	}
	zps, _, err := q.Vector(3, 8)
	if err != nil {
		return nil, fmt.Errorf("%q: quantization zero point: %w", td.name, err)
	}
	if scales.Len() == 0 || zps.Len() == 0 {
		// The reference interpreter treats a tensor missing either as not quantized.
		return nil, nil
	}
	if scales.Len() != zps.Len() {
		return nil, fmt.Errorf("%q: %d quantization scales but %d zero points", td.name, scales.Len(), zps.Len())
	}
	axis, err := q.Int32(6, 0)
	if err != nil {
		return nil, fmt.Errorf("%q: quantized dimension: %w", td.name, err)
	}
	if scales.Len() > 1 {
		if len(td.shape) == 1 && td.shape[0] == scales.Len() && (axis < 0 || int(axis) >= len(td.shape)) {
			// Converters have written the filter's axis (3) on the 1-D per-channel bias of a
			// convolution; the reference interpreter accepts it, and the only axis is 0.
			axis = 0
		}
		if axis < 0 || int(axis) >= len(td.shape) || td.shape[axis] != scales.Len() {
			return nil, fmt.Errorf("%q: %d per-channel scales do not match dimension %d of shape %v",
				td.name, scales.Len(), axis, td.shape)
		}
	}
	if err := p.charge(3 * scales.Len()); err != nil {
		return nil, err
	}
	qp := &Quantization{Scale: make([]float32, scales.Len()), ZeroPoint: make([]int64, zps.Len()), Axis: int(axis)}
	for i := range qp.Scale {
		qp.Scale[i] = scales.Float32(i)
		qp.ZeroPoint[i] = zps.Int64(i)
		if s := qp.Scale[i]; !(s >= 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("%q: quantization scale %v", td.name, s)
		}
	}
	return qp, nil
}

func (p *parser) operator(t fb.Table, m *Model, nt int, op *operatorDef) error {
	idx, err := t.Uint32(0, 0)
	if err != nil {
		return fmt.Errorf("opcode index: %w", err)
	}
	if int64(idx) >= int64(len(m.opcodes)) {
		return fmt.Errorf("opcode index %d out of range [0, %d)", idx, len(m.opcodes))
	}
	op.opcode = int(idx)
	if op.inputs, err = p.indices(t, 1, nt, true, maxOpTensors); err != nil {
		return fmt.Errorf("%s inputs: %w", m.opcodes[idx].name(), err)
	}
	if op.outputs, err = p.indices(t, 2, nt, false, maxOpTensors); err != nil {
		return fmt.Errorf("%s outputs: %w", m.opcodes[idx].name(), err)
	}
	if op.optsType, err = t.Uint8(3, 0); err != nil {
		return fmt.Errorf("builtin options type: %w", err)
	}
	ot, ok, err := t.Table(4)
	if err != nil {
		return fmt.Errorf("builtin options: %w", err)
	}
	if ok {
		if op.optsType == 0 {
			return errors.New("builtin options without a type")
		}
		if err := validateOptions(ot, op.optsType); err != nil {
			return fmt.Errorf("builtin options: %w", err)
		}
		op.opts = tableOptions{t: ot, ok: true}
	}
	custom, ok, err := t.Vector(5, 1)
	if err != nil {
		return fmt.Errorf("custom options: %w", err)
	}
	if ok {
		op.custom = custom.Bytes()
	} else {
		off, err1 := t.Uint64(9, 0)
		size, err2 := t.Uint64(10, 0)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("large custom options: %w", err)
		}
		if off > 1 {
			if off > uint64(len(p.b)) || size > uint64(len(p.b))-off {
				return fmt.Errorf("custom options [%d, +%d) outside the %d-byte file", off, size, len(p.b))
			}
			op.custom = p.b[off : off+size : off+size]
		}
	}
	// Kernels parse custom options once per operator; operators sharing one large options
	// vector must not multiply that work beyond the file size.
	return p.charge(len(op.custom))
}

// optionVectors lists, per BuiltinOptions union type, the slots holding int32 vectors, which
// kernels read through options.Int32s: they are checked at load like everything else.
var optionVectors = map[uint8][]int{
	3:  {1, 2}, // ConcatEmbeddingsOptions
	17: {0},    // ReshapeOptions.new_shape
	30: {0},    // SqueezeOptions.squeeze_dims
}

// validateOptions checks that every field of an options table lies inside it and that its
// vectors lie inside the file, so the options accessors cannot fail later.
func validateOptions(t fb.Table, typ uint8) error {
	for slot := 0; slot < t.Slots(); slot++ {
		if _, err := t.Field(slot, 1); err != nil {
			return err
		}
	}
	for _, slot := range optionVectors[typ] {
		v, _, err := t.Vector(slot, 4)
		if err != nil {
			return fmt.Errorf("field %d: %w", slot, err)
		}
		if v.Len() > maxOptionVector {
			return fmt.Errorf("field %d: %d entries, more than the %d allowed", slot, v.Len(), maxOptionVector)
		}
	}
	return nil
}

func (p *parser) metadata(root fb.Table, m *Model) error {
	v, _, err := root.Vector(6, 4)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if err := p.charge(16 * v.Len()); err != nil {
		return err
	}
	m.metadata = make([]metadataEntry, v.Len())
	for i := range m.metadata {
		e := &m.metadata[i]
		t, err := v.Table(i)
		var buf uint32
		if err == nil {
			e.name, err = p.str(t, 0)
		}
		if err == nil {
			buf, err = t.Uint32(1, 0)
		}
		if err == nil && int64(buf) >= int64(len(m.buffers)) {
			err = fmt.Errorf("buffer %d out of range [0, %d)", buf, len(m.buffers))
		}
		if err != nil {
			return fmt.Errorf("metadata %d: %w", i, err)
		}
		e.buffer = int(buf)
	}
	return nil
}

func (p *parser) signatures(root fb.Table, m *Model) error {
	v, _, err := root.Vector(7, 4)
	if err != nil {
		return fmt.Errorf("signature defs: %w", err)
	}
	if err := p.charge(32 * v.Len()); err != nil {
		return err
	}
	m.signatures = make([]Signature, v.Len())
	for i := range m.signatures {
		s := &m.signatures[i]
		t, err := v.Table(i)
		if err != nil {
			return fmt.Errorf("signature %d: %w", i, err)
		}
		if s.Key, err = p.str(t, 2); err != nil {
			return fmt.Errorf("signature %d: key: %w", i, err)
		}
		sub, err := t.Uint32(4, 0)
		if err != nil {
			return fmt.Errorf("signature %q: subgraph: %w", s.Key, err)
		}
		if int64(sub) >= int64(len(m.subgraphs)) {
			return fmt.Errorf("signature %q: subgraph %d out of range [0, %d)", s.Key, sub, len(m.subgraphs))
		}
		s.Subgraph = int(sub)
		nt := len(m.subgraphs[sub].tensors)
		if s.Inputs, err = p.tensorMap(t, 0, nt); err != nil {
			return fmt.Errorf("signature %q: inputs: %w", s.Key, err)
		}
		if s.Outputs, err = p.tensorMap(t, 1, nt); err != nil {
			return fmt.Errorf("signature %q: outputs: %w", s.Key, err)
		}
	}
	return nil
}

func (p *parser) tensorMap(t fb.Table, slot, nt int) (map[string]int, error) {
	v, _, err := t.Vector(slot, 4)
	if err != nil {
		return nil, err
	}
	if err := p.charge(32 * v.Len()); err != nil {
		return nil, err
	}
	out := make(map[string]int, v.Len())
	for i := 0; i < v.Len(); i++ {
		e, err := v.Table(i)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		name, err := p.str(e, 0)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		idx, err := e.Uint32(1, 0)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", name, err)
		}
		if int64(idx) >= int64(nt) {
			return nil, fmt.Errorf("entry %q: tensor %d out of range [0, %d)", name, idx, nt)
		}
		out[name] = int(idx)
	}
	return out, nil
}
