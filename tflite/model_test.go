package tflite

import (
	"bufio"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	modelClassifyQuant = "../testdata/models/classify_quant/mobilenet_v1_0.25_224_quant.tflite"
	modelClassifyFloat = "../testdata/models/classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite"
	modelPerson        = "../testdata/models/int8_person/person_detect.tflite"
	modelHelloFloat    = "../testdata/models/tiny/hello_world_float.tflite"
	modelHelloInt8     = "../testdata/models/tiny/hello_world_int8.tflite"
	modelMnist         = "../testdata/models/tiny/mnist_model.tflite"
	modelSin           = "../testdata/models/tiny/sin_model.tflite"
	modelDetect        = "../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
)

// realModels lists every .tflite file shipped in the repository.
func realModels(t testing.TB) []string {
	t.Helper()
	a, _ := filepath.Glob("../testdata/models/*/*.tflite")
	b, _ := filepath.Glob("../models/*.tflite")
	files := append(a, b...)
	if len(files) < 8 {
		t.Fatalf("found %d models, want the 8 shipped ones", len(files))
	}
	return files
}

func mustLoad(t testing.TB, path string) *Model {
	t.Helper()
	m, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// io is a declared input or output as the MANIFEST documents it.
type ioWant struct {
	typ   DataType
	shape []int
	scale float32 // 0: no quantization
	zp    int64
}

func checkIO(t *testing.T, what string, got []TensorInfo, want []ioWant) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Type != w.typ || !slices.Equal(g.Shape, w.shape) {
			t.Errorf("%s %d (%s): %s %v, want %s %v", what, i, g.Name, g.Type, g.Shape, w.typ, w.shape)
		}
		if w.scale == 0 {
			if g.Quantization != nil {
				t.Errorf("%s %d: quantization %+v, want none", what, i, g.Quantization)
			}
			continue
		}
		q := g.Quantization
		if q == nil || len(q.Scale) != 1 || math.Abs(float64(q.Scale[0]-w.scale)) > 1e-6 || q.ZeroPoint[0] != w.zp {
			t.Errorf("%s %d: quantization %+v, want (%v, %d)", what, i, q, w.scale, w.zp)
		}
	}
}

func TestLoadRealModels(t *testing.T) {
	cases := []struct {
		path    string
		ops     map[string]int
		inputs  []ioWant
		outputs []ioWant
	}{
		{
			// MobileNet v1: one stem conv, 13 depthwise + 13 pointwise blocks and the 1x1
			// logits conv.
			path:    modelClassifyQuant,
			ops:     map[string]int{"CONV_2D": 15, "DEPTHWISE_CONV_2D": 13, "AVERAGE_POOL_2D": 1, "RESHAPE": 1, "SOFTMAX": 1},
			inputs:  []ioWant{{UInt8, []int{1, 224, 224, 3}, 0.0078125, 128}},
			outputs: []ioWant{{UInt8, []int{1, 1001}, 0.00390625, 0}},
		},
		{
			path:    modelClassifyFloat,
			ops:     map[string]int{"CONV_2D": 15, "DEPTHWISE_CONV_2D": 13, "AVERAGE_POOL_2D": 1, "SQUEEZE": 1, "SOFTMAX": 1},
			inputs:  []ioWant{{Float32, []int{1, 224, 224, 3}, 0, 0}},
			outputs: []ioWant{{Float32, []int{1, 1001}, 0, 0}},
		},
		{
			// SSD MobileNet v1: the backbone's 13 depthwise blocks; the file declares the four
			// post-process outputs with shape [].
			path: modelDetect,
			ops: map[string]int{"CONV_2D": 34, "DEPTHWISE_CONV_2D": 13, "CONCATENATION": 2, "LOGISTIC": 1,
				"RESHAPE": 13, "TFLite_Detection_PostProcess": 1},
			inputs: []ioWant{{UInt8, []int{1, 300, 300, 3}, 0.0078125, 128}},
			outputs: []ioWant{{Float32, []int{}, 0, 0}, {Float32, []int{}, 0, 0},
				{Float32, []int{}, 0, 0}, {Float32, []int{}, 0, 0}},
		},
		{
			path:    modelPerson,
			ops:     map[string]int{"CONV_2D": 14, "DEPTHWISE_CONV_2D": 14, "AVERAGE_POOL_2D": 1, "RESHAPE": 1, "SOFTMAX": 1},
			inputs:  []ioWant{{Int8, []int{1, 96, 96, 1}, 0.0078431, -1}},
			outputs: []ioWant{{Int8, []int{1, 2}, 0.00390625, -128}},
		},
		{
			path:    modelHelloFloat,
			ops:     map[string]int{"FULLY_CONNECTED": 3},
			inputs:  []ioWant{{Float32, []int{1, 1}, 0, 0}},
			outputs: []ioWant{{Float32, []int{1, 1}, 0, 0}},
		},
		{
			path:    modelHelloInt8,
			ops:     map[string]int{"FULLY_CONNECTED": 3},
			inputs:  []ioWant{{Int8, []int{1, 1}, 0.02448, -128}},
			outputs: []ioWant{{Int8, []int{1, 1}, 0.0082910, 5}},
		},
		{
			path:    modelMnist,
			ops:     map[string]int{"FULLY_CONNECTED": 3, "SOFTMAX": 1},
			inputs:  []ioWant{{Float32, []int{1, 784}, 0, 0}},
			outputs: []ioWant{{Float32, []int{1, 10}, 0, 0}},
		},
		{
			path:    modelSin,
			ops:     map[string]int{"FULLY_CONNECTED": 3, "LOGISTIC": 2},
			inputs:  []ioWant{{Float32, []int{1, 1}, 0, 0}},
			outputs: []ioWant{{Float32, []int{1, 1}, 0, 0}},
		},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			m := mustLoad(t, c.path)
			if m.Version() != 3 {
				t.Errorf("version %d", m.Version())
			}
			if got := m.OpCounts(); !mapsEqual(got, c.ops) {
				t.Errorf("op counts %v, want %v", got, c.ops)
			}
			checkIO(t, "input", m.Inputs(), c.inputs)
			checkIO(t, "output", m.Outputs(), c.outputs)
		})
	}
}

// The person detector's 1-D per-channel biases carry the filter's quantized dimension (3);
// the loader maps it to axis 0 instead of rejecting the model.
func TestPerChannelBiasAxis(t *testing.T) {
	m := mustLoad(t, modelPerson)
	found := 0
	for _, td := range m.subgraphs[0].tensors {
		if q := td.quant; q != nil && q.PerChannel() && len(td.shape) == 1 {
			found++
			if q.Axis != 0 || len(q.Scale) != td.shape[0] {
				t.Errorf("%s: axis %d, %d scales, shape %v", td.name, q.Axis, len(q.Scale), td.shape)
			}
		}
	}
	if found == 0 {
		t.Error("no per-channel 1-D tensor found")
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The SHA-256 matches the independently computed SHA256SUMS shipped with the test models.
func TestModelSHA256(t *testing.T) {
	f, err := os.Open("../testdata/models/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checked := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || !strings.HasSuffix(name, ".tflite") {
			continue
		}
		m := mustLoad(t, filepath.Join("../testdata/models", name))
		if m.SHA256() != sum {
			t.Errorf("%s: sha256 %s, want %s", name, m.SHA256(), sum)
		}
		if st, _ := os.Stat(filepath.Join("../testdata/models", name)); int64(m.Size()) != st.Size() {
			t.Errorf("%s: size %d, want %d", name, m.Size(), st.Size())
		}
		checked++
	}
	if checked != 9 {
		t.Errorf("checked %d models, want 9", checked)
	}
}

func TestLabelsFromMetadata(t *testing.T) {
	want := readLines(t, "../testdata/models/classify_quant/labels.txt")
	if len(want) != 1001 {
		t.Fatalf("labels.txt has %d lines", len(want))
	}
	for _, path := range []string{modelClassifyFloat, modelClassifyQuant} {
		m := mustLoad(t, path)
		if got := m.Labels(); !slices.Equal(got, want) {
			t.Errorf("%s: %d labels (first %q), want the %d of labels.txt", path, len(got), first(got), len(want))
		}
		md, err := m.Metadata()
		if err != nil || md == nil {
			t.Fatalf("%s: metadata %v, %v", path, md, err)
		}
		if !strings.HasPrefix(md.Name, "MobileNetV1 image classifier") || md.Author != "TensorFlow" {
			t.Errorf("%s: metadata %+v", path, md)
		}
		if !slices.Contains(md.AssociatedFiles, AssociatedFile{Name: "labels.txt", Type: 2, Tensor: "output 0"}) {
			t.Errorf("%s: associated files %+v", path, md.AssociatedFiles)
		}
	}
	// The detector names its class-id label map (TENSOR_VALUE_LABELS); it is the shipped one.
	m := mustLoad(t, modelDetect)
	if got, want := m.Labels(), readLines(t, "../models/labelmap.txt"); !slices.Equal(got, want) {
		t.Errorf("detector labels: %d (first %q), want %d", len(got), first(got), len(want))
	}
	// A model without metadata has no labels and no error.
	m = mustLoad(t, modelHelloFloat)
	if md, err := m.Metadata(); md != nil || err != nil || m.Labels() != nil {
		t.Errorf("hello_world metadata %v %v labels %v", md, err, m.Labels())
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return ParseLabels(b)
}

func TestSignatures(t *testing.T) {
	m := mustLoad(t, modelHelloFloat)
	sigs := m.Signatures()
	if len(sigs) != 1 || sigs[0].Key != "serving_default" || sigs[0].Subgraph != 0 {
		t.Fatalf("signatures %+v", sigs)
	}
	in, out := m.Inputs()[0], m.Outputs()[0]
	if sigs[0].Inputs["dense_input"] != in.Index || sigs[0].Outputs["dense_2"] != out.Index {
		t.Errorf("signature maps %+v, inputs %d outputs %d", sigs[0], in.Index, out.Index)
	}
	if !slices.Equal(in.ShapeSignature, []int{-1, 1}) {
		t.Errorf("shape signature %v, want [-1 1]", in.ShapeSignature)
	}
	// TOCO-era files carry no signatures and no shape signature.
	m = mustLoad(t, modelSin)
	if len(m.Signatures()) != 0 || !slices.Equal(m.Inputs()[0].ShapeSignature, []int{1, 1}) {
		t.Errorf("sin model: %+v %v", m.Signatures(), m.Inputs()[0].ShapeSignature)
	}
}

func TestParseLabels(t *testing.T) {
	cases := map[string][]string{
		"":            nil,
		"a":           {"a"},
		"a\nb\n":      {"a", "b"},
		"a\r\nb\r\n":  {"a", "b"},
		"a\n\nc\n":    {"a", "", "c"},
		"???\nperson": {"???", "person"},
	}
	for in, want := range cases {
		if got := ParseLabels([]byte(in)); !slices.Equal(got, want) {
			t.Errorf("ParseLabels(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpName(t *testing.T) {
	cases := map[int32]string{
		0: "ADD", 3: "CONV_2D", 32: "CUSTOM", 66: "SIN", 117: "HARD_SWISH", 127: "PLACEHOLDER_FOR_GREATER_OP_CODES",
		150: "GELU", 205: "REDUCE_WINDOW", 225: "TEMP_STREAMING_CONV_2D", 206: "BUILTIN_206", -1: "BUILTIN_-1",
	}
	for code, want := range cases {
		if got := OpName(code); got != want {
			t.Errorf("OpName(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.tflite")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "text.tflite")
	if err := os.WriteFile(path, []byte("this is not a model at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path)
	if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), "not a TFLite model") || !strings.Contains(err.Error(), path) {
		t.Errorf("text file: %v", err)
	}
}
