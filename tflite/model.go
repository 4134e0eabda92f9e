package tflite

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/edge-agent/edge-agent/tflite/internal/fb"
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
	dense          []byte // a sparse constant's values, densified at load; nil otherwise
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

// Load parses and validates a model held in b. The model keeps b (interpreters read options,
// metadata and, where they are aligned for their type, constant tensors from it), so the caller
// must not modify b afterwards.
func Load(b []byte) (*Model, error) {
	if len(b) > maxModelSize {
		return nil, fmt.Errorf("tflite: %w: %d bytes is more than the %d a model may have",
			ErrInvalidModel, len(b), maxModelSize)
	}
	p := &parser{b: fb.Buf(b), budget: 4*int64(len(b)) + 1<<16, dense: maxDensifyRatio*int64(len(b)) + 1<<20}
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

// tensorData returns the constant data of tensor td (densified if the file stores it sparse), nil
// if it has none.
func (m *Model) tensorData(td *tensorDef) []byte {
	if td.dense != nil {
		return td.dense
	}
	return m.bufferData(td.buffer)
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
