package tflite

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Limits on what a model may declare. They bound the work and memory of loading a hostile
// file; real models stay far below them.
const (
	maxModelSize   = math.MaxInt32 // flatbuffers use 32-bit offsets
	maxRank        = 16
	maxSubgraphs   = 1 << 10
	maxTensors     = 1 << 16 // per subgraph
	maxOperators   = 1 << 16 // per subgraph
	maxOpTensors   = 1 << 12 // inputs, or outputs, of one operator
	maxTensorBytes = math.MaxInt32
	// maxOptionVector caps int32 vectors in builtin options (shapes, axes): kernels copy them
	// once per operator, and operators may share one options table.
	maxOptionVector = 64
	schemaVersion   = 3
)

// Model is a parsed and validated TFLite model. It is immutable and safe for concurrent use;
// any number of interpreters may be built from it.
type Model struct {
	raw         []byte // the file; buffers and options tables point into it
	sum         [32]byte
	version     uint32
	description string
	opcodes     []opCode
	subgraphs   []subgraph
	buffers     [][]byte // nil for a buffer without data
	metadata    []metadataEntry
	signatures  []Signature
	meta        *ModelMetadata // nil if the model carries none
	metaErr     error          // why the metadata or its files could not be read
	labels      []string
}

// opCode is an OperatorCode: a builtin code, or CUSTOM with a custom code.
type opCode struct {
	builtin int32
	custom  string
	version int32
}

func (c opCode) name() string {
	if c.builtin == opCustom {
		if c.custom == "" {
			return "CUSTOM"
		}
		return c.custom
	}
	return OpName(c.builtin)
}

type subgraph struct {
	name            string
	tensors         []tensorDef
	inputs, outputs []int
	ops             []operatorDef
}

type tensorDef struct {
	name           string
	typ            DataType
	shape          []int
	shapeSignature []int // nil if the model gives none
	buffer         int   // index into Model.buffers; 0 is the empty sentinel
	quant          *Quantization
	variable       bool
}

type operatorDef struct {
	opcode   int   // index into Model.opcodes
	inputs   []int // -1 for an omitted optional input
	outputs  []int
	optsType uint8 // the BuiltinOptions union type; 0 for none
	opts     tableOptions
	custom   []byte // custom options, pointing into the file
}

type metadataEntry struct {
	name   string
	buffer int
}

// Signature is one of the model's SignatureDefs: a named entry point mapping alias names to
// tensor indices of a subgraph.
type Signature struct {
	Key      string
	Subgraph int
	Inputs   map[string]int // alias -> tensor index in the subgraph
	Outputs  map[string]int
}

// TensorInfo describes a model input or output as declared in the file.
type TensorInfo struct {
	Index          int // index in the main subgraph's tensor list
	Name           string
	Type           DataType
	Shape          []int
	ShapeSignature []int // the declared shape with -1 for dynamic dimensions
	Quantization   *Quantization
}

// LoadFile reads and validates the model at path.
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tflite: %w", err)
	}
	if st.Size() > maxModelSize {
		return nil, fmt.Errorf("tflite: %s: %w: %d bytes is more than the %d a model may have",
			path, ErrInvalidModel, st.Size(), maxModelSize)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("tflite: read %s: %w", path, err)
	}
	m, err := Load(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Load parses and validates a model held in b. The model keeps b (constant tensors are copied
// when an interpreter is built, but options and metadata are read from it), so the caller must
// not modify b afterwards.
func Load(b []byte) (*Model, error) {
	if len(b) > maxModelSize {
		return nil, fmt.Errorf("tflite: %w: %d bytes is more than the %d a model may have",
			ErrInvalidModel, len(b), maxModelSize)
	}
	p := &parser{b: fbBuf(b), budget: 4*int64(len(b)) + 1<<16}
	m, err := p.model()
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return nil, fmt.Errorf("tflite: load model: %w", err)
		}
		return nil, fmt.Errorf("tflite: %w: %w", ErrInvalidModel, err)
	}
	m.raw = b
	m.sum = sha256.Sum256(b)
	m.loadMetadata()
	return m, nil
}

// parser turns the flatbuffer into plain structs. budget bounds the slices it allocates by the
// file size, so a file whose vectors all point at the same large table cannot make it allocate
// without bound.
type parser struct {
	b      fbBuf
	budget int64
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
func (p *parser) str(t fbTable, slot int) (string, error) {
	v, ok, err := t.vector(slot, 1)
	if !ok {
		return "", err
	}
	if err := p.charge(v.n); err != nil {
		return "", err
	}
	return string(v.bytes()), nil
}

func (p *parser) model() (*Model, error) {
	root, err := p.b.root("TFL3")
	if err != nil {
		return nil, fmt.Errorf("not a TFLite model: %w", err)
	}
	m := &Model{}
	if m.version, err = root.uint32(0, 0); err != nil {
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
	subs, ok, err := root.vector(2, 4)
	if err != nil {
		return nil, fmt.Errorf("subgraphs: %w", err)
	}
	if !ok || subs.n == 0 {
		return nil, errors.New("the model has no subgraph")
	}
	if subs.n > maxSubgraphs {
		return nil, fmt.Errorf("%d subgraphs, more than the %d allowed", subs.n, maxSubgraphs)
	}
	if err := p.charge(64 * subs.n); err != nil {
		return nil, err
	}
	m.subgraphs = make([]subgraph, subs.n)
	for i := range m.subgraphs {
		t, err := subs.table(i)
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

func (p *parser) buffers(root fbTable, m *Model) error {
	v, _, err := root.vector(4, 4)
	if err != nil {
		return fmt.Errorf("buffers: %w", err)
	}
	if err := p.charge(8 * v.n); err != nil {
		return err
	}
	m.buffers = make([][]byte, v.n)
	for i := range m.buffers {
		t, err := v.table(i)
		if err != nil {
			return fmt.Errorf("buffer %d: %w", i, err)
		}
		data, ok, err := t.vector(0, 1)
		if err != nil {
			return fmt.Errorf("buffer %d: data: %w", i, err)
		}
		if ok && data.n > 0 {
			m.buffers[i] = data.bytes()
			continue
		}
		// Models over 2 GB keep buffers after the flatbuffer; the schema says an offset is only
		// meaningful when > 1.
		off, err := t.uint64(1, 0)
		if err != nil {
			return fmt.Errorf("buffer %d: offset: %w", i, err)
		}
		size, err := t.uint64(2, 0)
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

func (p *parser) opcodes(root fbTable, m *Model) error {
	v, _, err := root.vector(1, 4)
	if err != nil {
		return fmt.Errorf("operator codes: %w", err)
	}
	if err := p.charge(16 * v.n); err != nil {
		return err
	}
	m.opcodes = make([]opCode, v.n)
	for i := range m.opcodes {
		c := &m.opcodes[i]
		t, err := v.table(i)
		if err == nil {
			var dep int8
			dep, err = t.int8(0, 0)
			if err == nil {
				c.builtin, err = t.int32(3, 0)
			}
			// Old files set only the byte field, new ones set both (the byte saturated at 127
			// for larger codes): the effective code is the larger.
			c.builtin = max(c.builtin, int32(dep))
		}
		if err == nil {
			c.custom, err = p.str(t, 1)
		}
		if err == nil {
			c.version, err = t.int32(2, 1)
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

func (p *parser) subgraph(t fbTable, m *Model, sg *subgraph) error {
	var err error
	if sg.name, err = p.str(t, 4); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	tv, _, err := t.vector(0, 4)
	if err != nil {
		return fmt.Errorf("tensors: %w", err)
	}
	if tv.n > maxTensors {
		return fmt.Errorf("%d tensors, more than the %d allowed", tv.n, maxTensors)
	}
	if err := p.charge(64 * tv.n); err != nil {
		return err
	}
	sg.tensors = make([]tensorDef, tv.n)
	for i := range sg.tensors {
		tt, err := tv.table(i)
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
	ov, _, err := t.vector(3, 4)
	if err != nil {
		return fmt.Errorf("operators: %w", err)
	}
	if ov.n > maxOperators {
		return fmt.Errorf("%d operators, more than the %d allowed", ov.n, maxOperators)
	}
	if err := p.charge(64 * ov.n); err != nil {
		return err
	}
	sg.ops = make([]operatorDef, ov.n)
	for i := range sg.ops {
		ot, err := ov.table(i)
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
func (p *parser) indices(t fbTable, slot, n int, optional bool, limit int) ([]int, error) {
	v, _, err := t.vector(slot, 4)
	if err != nil {
		return nil, err
	}
	if v.n > limit {
		return nil, fmt.Errorf("%d entries, more than the %d allowed", v.n, limit)
	}
	if err := p.charge(v.n); err != nil {
		return nil, err
	}
	s := make([]int, v.n)
	for i := range s {
		x := int(v.int32(i))
		if (x < 0 || x >= n) && !(optional && x == -1) {
			return nil, fmt.Errorf("tensor index %d out of range [0, %d)", x, n)
		}
		s[i] = x
	}
	return s, nil
}

func (p *parser) tensor(t fbTable, m *Model, td *tensorDef) error {
	var err error
	if td.name, err = p.str(t, 3); err != nil {
		return fmt.Errorf("name: %w", err)
	}
	typ, err := t.int8(1, 0)
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
	buf, err := t.uint32(2, 0)
	if err != nil {
		return fmt.Errorf("%q: buffer: %w", td.name, err)
	}
	if int64(buf) >= int64(len(m.buffers)) {
		if buf != 0 {
			return fmt.Errorf("%q: buffer %d out of range [0, %d)", td.name, buf, len(m.buffers))
		}
	}
	td.buffer = int(buf)
	if data := m.bufferData(td.buffer); len(data) > 0 {
		if sz := td.typ.Size(); sz > 0 {
			want, _ := byteSize(td.shape, sz)
			if len(data) != want {
				return fmt.Errorf("%q: constant buffer %d holds %d bytes, shape %v of %s needs %d",
					td.name, td.buffer, len(data), td.shape, td.typ, want)
			}
		}
	}
	if td.variable, err = t.bool(5, false); err != nil {
		return fmt.Errorf("%q: is_variable: %w", td.name, err)
	}
	if _, ok, err := t.table(6); err != nil || ok {
		if err != nil {
			return fmt.Errorf("%q: sparsity: %w", td.name, err)
		}
		return fmt.Errorf("tensor %q: sparse tensors: %w", td.name, ErrUnsupported)
	}
	q, ok, err := t.table(4)
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
func (p *parser) shape(t fbTable, slot int, dynamic bool) ([]int, error) {
	v, ok, err := t.vector(slot, 4)
	if err != nil {
		return nil, err
	}
	if !ok {
		if dynamic {
			return nil, nil
		}
		return []int{}, nil
	}
	if v.n > maxRank {
		return nil, fmt.Errorf("rank %d, more than the %d allowed", v.n, maxRank)
	}
	if err := p.charge(v.n); err != nil {
		return nil, err
	}
	s := make([]int, v.n)
	for i := range s {
		d := int(v.int32(i))
		if d < 0 && !(dynamic && d == -1) {
			return nil, fmt.Errorf("dimension %d is %d", i, d)
		}
		s[i] = d
	}
	return s, nil
}

func (p *parser) quantization(q fbTable, td *tensorDef) (*Quantization, error) {
	details, err := q.uint8(4, 0)
	if err != nil {
		return nil, fmt.Errorf("%q: quantization details: %w", td.name, err)
	}
	if details != 0 {
		return nil, fmt.Errorf("tensor %q: custom quantization: %w", td.name, ErrUnsupported)
	}
	scales, _, err := q.vector(2, 4)
	if err != nil {
		return nil, fmt.Errorf("%q: quantization scale: %w", td.name, err)
	}
	zps, _, err := q.vector(3, 8)
	if err != nil {
		return nil, fmt.Errorf("%q: quantization zero point: %w", td.name, err)
	}
	if scales.n == 0 || zps.n == 0 {
		// The reference interpreter treats a tensor missing either as not quantized.
		return nil, nil
	}
	if scales.n != zps.n {
		return nil, fmt.Errorf("%q: %d quantization scales but %d zero points", td.name, scales.n, zps.n)
	}
	axis, err := q.int32(6, 0)
	if err != nil {
		return nil, fmt.Errorf("%q: quantized dimension: %w", td.name, err)
	}
	if scales.n > 1 {
		if len(td.shape) == 1 && td.shape[0] == scales.n && (axis < 0 || int(axis) >= len(td.shape)) {
			// Converters have written the filter's axis (3) on the 1-D per-channel bias of a
			// convolution; the reference interpreter accepts it, and the only axis is 0.
			axis = 0
		}
		if axis < 0 || int(axis) >= len(td.shape) || td.shape[axis] != scales.n {
			return nil, fmt.Errorf("%q: %d per-channel scales do not match dimension %d of shape %v",
				td.name, scales.n, axis, td.shape)
		}
	}
	if err := p.charge(3 * scales.n); err != nil {
		return nil, err
	}
	qp := &Quantization{Scale: make([]float32, scales.n), ZeroPoint: make([]int64, zps.n), Axis: int(axis)}
	for i := range qp.Scale {
		qp.Scale[i] = scales.float32(i)
		qp.ZeroPoint[i] = zps.int64(i)
		if s := qp.Scale[i]; !(s >= 0) || math.IsInf(float64(s), 0) {
			return nil, fmt.Errorf("%q: quantization scale %v", td.name, s)
		}
	}
	return qp, nil
}

func (p *parser) operator(t fbTable, m *Model, nt int, op *operatorDef) error {
	idx, err := t.uint32(0, 0)
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
	if op.optsType, err = t.uint8(3, 0); err != nil {
		return fmt.Errorf("builtin options type: %w", err)
	}
	ot, ok, err := t.table(4)
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
	custom, ok, err := t.vector(5, 1)
	if err != nil {
		return fmt.Errorf("custom options: %w", err)
	}
	if ok {
		op.custom = custom.bytes()
	} else {
		off, err1 := t.uint64(9, 0)
		size, err2 := t.uint64(10, 0)
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
func validateOptions(t fbTable, typ uint8) error {
	for slot := 0; slot < t.slots; slot++ {
		if _, err := t.field(slot, 1); err != nil {
			return err
		}
	}
	for _, slot := range optionVectors[typ] {
		v, _, err := t.vector(slot, 4)
		if err != nil {
			return fmt.Errorf("field %d: %w", slot, err)
		}
		if v.n > maxOptionVector {
			return fmt.Errorf("field %d: %d entries, more than the %d allowed", slot, v.n, maxOptionVector)
		}
	}
	return nil
}

func (p *parser) metadata(root fbTable, m *Model) error {
	v, _, err := root.vector(6, 4)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if err := p.charge(16 * v.n); err != nil {
		return err
	}
	m.metadata = make([]metadataEntry, v.n)
	for i := range m.metadata {
		e := &m.metadata[i]
		t, err := v.table(i)
		var buf uint32
		if err == nil {
			e.name, err = p.str(t, 0)
		}
		if err == nil {
			buf, err = t.uint32(1, 0)
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

func (p *parser) signatures(root fbTable, m *Model) error {
	v, _, err := root.vector(7, 4)
	if err != nil {
		return fmt.Errorf("signature defs: %w", err)
	}
	if err := p.charge(32 * v.n); err != nil {
		return err
	}
	m.signatures = make([]Signature, v.n)
	for i := range m.signatures {
		s := &m.signatures[i]
		t, err := v.table(i)
		if err != nil {
			return fmt.Errorf("signature %d: %w", i, err)
		}
		if s.Key, err = p.str(t, 2); err != nil {
			return fmt.Errorf("signature %d: key: %w", i, err)
		}
		sub, err := t.uint32(4, 0)
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

func (p *parser) tensorMap(t fbTable, slot, nt int) (map[string]int, error) {
	v, _, err := t.vector(slot, 4)
	if err != nil {
		return nil, err
	}
	if err := p.charge(32 * v.n); err != nil {
		return nil, err
	}
	out := make(map[string]int, v.n)
	for i := 0; i < v.n; i++ {
		e, err := v.table(i)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		name, err := p.str(e, 0)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		idx, err := e.uint32(1, 0)
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

// bufferData returns the bytes of buffer i, nil if it has none or i is out of range.
func (m *Model) bufferData(i int) []byte {
	if i <= 0 || i >= len(m.buffers) {
		return nil
	}
	return m.buffers[i]
}

// byteSize returns the product of shape times elemSize, and false if it exceeds
// maxTensorBytes or a dimension is negative.
func byteSize(shape []int, elemSize int) (int, bool) {
	n := int64(elemSize)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > maxTensorBytes/int64(d) {
			return 0, false
		}
		n *= int64(d)
	}
	return int(n), true
}

// Version returns the schema version of the file (always 3 for a loaded model).
func (m *Model) Version() uint32 { return m.version }

// Description returns the model's description string.
func (m *Model) Description() string { return m.description }

// SHA256 returns the lowercase hex SHA-256 of the model file.
func (m *Model) SHA256() string { return hex.EncodeToString(m.sum[:]) }

// Size returns the size of the model file in bytes.
func (m *Model) Size() int { return len(m.raw) }

// SubgraphCount returns the number of subgraphs; the interpreter runs subgraph 0.
func (m *Model) SubgraphCount() int { return len(m.subgraphs) }

// Inputs describes the main subgraph's inputs.
func (m *Model) Inputs() []TensorInfo { return m.tensorInfos(m.subgraphs[0].inputs) }

// Outputs describes the main subgraph's outputs.
func (m *Model) Outputs() []TensorInfo { return m.tensorInfos(m.subgraphs[0].outputs) }

func (m *Model) tensorInfos(idx []int) []TensorInfo {
	out := make([]TensorInfo, len(idx))
	for i, ti := range idx {
		td := &m.subgraphs[0].tensors[ti]
		out[i] = TensorInfo{
			Index:          ti,
			Name:           td.name,
			Type:           td.typ,
			Shape:          append([]int(nil), td.shape...),
			ShapeSignature: append([]int(nil), td.shapeSignature...),
			Quantization:   td.quant.clone(),
		}
		if td.shapeSignature == nil {
			out[i].ShapeSignature = append([]int(nil), td.shape...)
		}
	}
	return out
}

func (q *Quantization) clone() *Quantization {
	if q == nil {
		return nil
	}
	return &Quantization{
		Scale:     append([]float32(nil), q.Scale...),
		ZeroPoint: append([]int64(nil), q.ZeroPoint...),
		Axis:      q.Axis,
	}
}

// Signatures returns the model's signature definitions.
func (m *Model) Signatures() []Signature {
	out := make([]Signature, len(m.signatures))
	for i, s := range m.signatures {
		out[i] = Signature{Key: s.Key, Subgraph: s.Subgraph, Inputs: cloneMap(s.Inputs), Outputs: cloneMap(s.Outputs)}
	}
	return out
}

func cloneMap(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// OpCounts returns how many times each op appears in the main subgraph, by name: the schema's
// builtin name ("CONV_2D") or the custom code ("TFLite_Detection_PostProcess").
func (m *Model) OpCounts() map[string]int {
	counts := make(map[string]int)
	for _, op := range m.subgraphs[0].ops {
		counts[m.opcodes[op.opcode].name()]++
	}
	return counts
}

// Labels returns the class labels embedded in the model (index = line): the label file the
// metadata names for an output (TENSOR_AXIS_LABELS for classifiers, else TENSOR_VALUE_LABELS for
// detectors' class ids), else a labels*.txt in the associated-files zip; nil if there is none.
func (m *Model) Labels() []string { return append([]string(nil), m.labels...) }
