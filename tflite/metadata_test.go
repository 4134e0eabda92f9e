package tflite

import (
	"archive/zip"
	"bytes"
	"slices"
	"strings"
	"testing"
)

// withZip appends a zip holding files to model, as the metadata populator does.
func withZip(t *testing.T, model []byte, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write(model)
	zw := zip.NewWriter(&buf)
	zw.SetOffset(int64(len(model)))
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// metadataModel returns the chain model with a TFLITE_METADATA buffer holding md.
func metadataModel(md []byte) []byte {
	c := newChain()
	c.buffers = append(c.buffers, tBuffer(md))
	c.extra = fbt{nil, []fbt{{"TFLITE_METADATA", uint32(1)}}}
	return c.bytes()
}

func TestLabelsFallbackWithoutMetadata(t *testing.T) {
	b := withZip(t, newChain().bytes(), map[string]string{"readme.txt": "x", "labels_en.txt": "cat\ndog\n"})
	m, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Labels(); !slices.Equal(got, []string{"cat", "dog"}) {
		t.Errorf("labels %q", got)
	}
	if md, err := m.Metadata(); md != nil || err != nil {
		t.Errorf("metadata %v %v", md, err)
	}
}

func TestLabelsNamedByMetadata(t *testing.T) {
	// Output 0 names "classes.txt" as its axis labels; labels.txt is a decoy.
	md := encodeFB(fbt{"my model", "desc", "v2", []fbt{{
		"main", nil, nil,
		[]fbt{{"scores", nil, nil, nil, nil, nil, []fbt{{"classes.txt", nil, int8(fileTypeAxisLabels)}}}},
	}}, "me", "MIT"}, "M001")
	b := withZip(t, metadataModel(md), map[string]string{"classes.txt": "a\r\nb\r\nc", "labels.txt": "wrong\n"})
	m, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Labels(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("labels %q", got)
	}
	got, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	want := ModelMetadata{Name: "my model", Description: "desc", Version: "v2", Author: "me", License: "MIT",
		AssociatedFiles: []AssociatedFile{{Name: "classes.txt", Type: fileTypeAxisLabels, Tensor: "output 0"}}}
	if got.Name != want.Name || got.Description != want.Description || got.Version != want.Version ||
		got.Author != want.Author || got.License != want.License || !slices.Equal(got.AssociatedFiles, want.AssociatedFiles) {
		t.Errorf("metadata %+v, want %+v", got, want)
	}
}

// Broken metadata never stops a model from loading: the error is reported by Metadata.
func TestBrokenMetadata(t *testing.T) {
	big := strings.Repeat("label\n", maxAssociatedBytes/6+10)
	named := encodeFB(fbt{"m", nil, nil, []fbt{{nil, nil, nil,
		[]fbt{{nil, nil, nil, nil, nil, nil, []fbt{{"labels.txt", nil, int8(fileTypeAxisLabels)}}}}}}}, "M001")
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"not a flatbuffer", metadataModel([]byte("garbage!garbage!")), "TFLITE_METADATA"},
		{"wrong identifier", metadataModel(encodeFB(fbt{"m"}, "XXXX")), "file identifier"},
		{"no zip", metadataModel(named), "associated files: zip: not a valid zip file"},
		{"named file missing", withZip(t, metadataModel(named), map[string]string{"other.txt": "x"}), "\"labels.txt\" is not in the model's zip"},
		{"label file too large", withZip(t, metadataModel(named), map[string]string{"labels.txt": big}), "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := Load(c.b)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if _, err := m.Metadata(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Metadata error %v, want %q", err, c.want)
			}
			if m.Labels() != nil {
				t.Errorf("labels %d", len(m.Labels()))
			}
			ip, err := NewInterpreter(m)
			if err != nil {
				t.Fatal(err)
			}
			ip.Close()
		})
	}
}

// Buffers of models over 2 GB live after the flatbuffer, addressed by offset and size.
func TestExternalBuffer(t *testing.T) {
	build := func(off uint64) []byte {
		c := newChain()
		c.tensors = append(c.tensors, tTensor("ext", Int32, []int32{2}, 1))
		c.buffers = append(c.buffers, fbt{nil, off, uint64(8)})
		return c.bytes()
	}
	b := build(2)
	off := (len(b) + 15) &^ 15
	b = build(uint64(off))
	if len(b) > off {
		t.Fatalf("model grew to %d bytes", len(b))
	}
	b = append(b, make([]byte, off-len(b))...)
	b = append(b, int32Bytes(41, 42)...)
	m, err := Load(b)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ip.Close()
	if got := ip.tensors[3].Int32s(); !slices.Equal(got, []int32{41, 42}) || !ip.tensors[3].constant {
		t.Errorf("external buffer %v", got)
	}
}
