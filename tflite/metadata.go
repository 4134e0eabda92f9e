package tflite

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/edge-agent/edge-agent/tflite/internal/fb"
)

// Model metadata (tflite-support's metadata_schema.fbs): a ModelMetadata flatbuffer with file
// identifier "M001" in the buffer of the model's "TFLITE_METADATA" metadata entry, plus a zip of
// associated files (label lists, ...) appended to the model file.

const (
	metadataName        = "TFLITE_METADATA"
	maxAssociatedBytes  = 8 << 20 // uncompressed size read from one associated file
	fileTypeAxisLabels  = 2       // AssociatedFileType.TENSOR_AXIS_LABELS
	fileTypeValueLabels = 3       // AssociatedFileType.TENSOR_VALUE_LABELS
)

// ModelMetadata is the human-readable part of a model's TFLite metadata.
type ModelMetadata struct {
	Name        string
	Description string
	Version     string
	Author      string
	License     string
	// AssociatedFiles names the files the metadata refers to, model-level and per tensor.
	AssociatedFiles []AssociatedFile
}

// AssociatedFile is a file packed in the model's zip and described by its metadata.
type AssociatedFile struct {
	Name   string
	Type   int8   // the schema's AssociatedFileType: 2 = TENSOR_AXIS_LABELS, 3 = TENSOR_VALUE_LABELS, ...
	Tensor string // "output 0", "input 1", or "" for a model-level file
}

// Metadata returns the model's TFLite metadata (nil if it has none) and the error met while
// reading it or its associated files, if any. A model with broken metadata still loads and runs:
// the runtime does not need it.
func (m *Model) Metadata() (*ModelMetadata, error) {
	if m.meta == nil {
		return nil, m.metaErr
	}
	md := *m.meta
	md.AssociatedFiles = append([]AssociatedFile(nil), m.meta.AssociatedFiles...)
	return &md, m.metaErr
}

// loadMetadata parses the metadata and the label file; failures are kept in metaErr.
func (m *Model) loadMetadata() {
	var labelFile string // the label file the metadata names, if any
	for _, e := range m.metadata {
		if e.name != metadataName {
			continue
		}
		md, labels, err := parseModelMetadata(m.bufferData(e.buffer))
		if err != nil {
			m.metaErr = fmt.Errorf("tflite: %s: %w", metadataName, err)
			return
		}
		m.meta, labelFile = md, labels
		break
	}
	zr, err := zip.NewReader(bytes.NewReader(m.raw), int64(len(m.raw)))
	if err != nil {
		if labelFile != "" {
			m.metaErr = fmt.Errorf("tflite: associated files: %w", err)
		}
		return
	}
	var f *zip.File
	for _, zf := range zr.File {
		if labelFile != "" && zf.Name == labelFile {
			f = zf
			break
		}
		base := strings.ToLower(path.Base(zf.Name))
		if f == nil && strings.HasPrefix(base, "labels") && strings.HasSuffix(base, ".txt") {
			f = zf
		}
	}
	if f == nil {
		if labelFile != "" {
			m.metaErr = fmt.Errorf("tflite: associated file %q is not in the model's zip", labelFile)
		}
		return
	}
	labels, err := readLabels(f)
	if err != nil {
		m.metaErr = fmt.Errorf("tflite: associated file %q: %w", f.Name, err)
		return
	}
	m.labels = labels
}

func readLabels(f *zip.File) ([]string, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxAssociatedBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxAssociatedBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxAssociatedBytes)
	}
	return ParseLabels(b), nil
}

// ParseLabels splits a label file into lines (index = line number), accepting \n or \r\n line
// ends and ignoring a final newline.
func ParseLabels(b []byte) []string {
	s := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// parseModelMetadata reads a ModelMetadata flatbuffer; labels names the label file of subgraph
// 0's outputs: the first TENSOR_AXIS_LABELS file (classifiers), else the first
// TENSOR_VALUE_LABELS file (detectors' class ids).
func parseModelMetadata(b []byte) (md *ModelMetadata, labels string, err error) {
	root, err := fb.Buf(b).Root("M001")
	if err != nil {
		return nil, "", err
	}
	md = &ModelMetadata{}
	for _, f := range []struct {
		slot int
		dst  *string
	}{{0, &md.Name}, {1, &md.Description}, {2, &md.Version}, {4, &md.Author}, {5, &md.License}} {
		if *f.dst, err = root.String(f.slot); err != nil {
			return nil, "", fmt.Errorf("field %d: %w", f.slot, err)
		}
	}
	// Entries and their names are charged to a budget proportional to the metadata's size, so
	// entries sharing one table cannot make the parser allocate without bound.
	budget := 4*len(b) + 1024
	var axisLabels, valueLabels string
	add := func(t fb.Table, slot int, tensor string) error {
		v, _, err := t.Vector(slot, 4)
		if err != nil {
			return err
		}
		if budget -= 32 * v.Len(); budget < 0 {
			return errors.New("too many associated files")
		}
		for i := 0; i < v.Len(); i++ {
			ft, err := v.Table(i)
			if err != nil {
				return err
			}
			var af AssociatedFile
			if af.Name, err = ft.String(0); err != nil {
				return err
			}
			if budget -= len(af.Name); budget < 0 {
				return errors.New("associated file names too long")
			}
			if af.Type, err = ft.Int8(2, 0); err != nil {
				return err
			}
			af.Tensor = tensor
			md.AssociatedFiles = append(md.AssociatedFiles, af)
			if strings.HasPrefix(tensor, "output") {
				switch {
				case af.Type == fileTypeAxisLabels && axisLabels == "":
					axisLabels = af.Name
				case af.Type == fileTypeValueLabels && valueLabels == "":
					valueLabels = af.Name
				}
			}
		}
		return nil
	}
	if err := add(root, 6, ""); err != nil {
		return nil, "", fmt.Errorf("associated files: %w", err)
	}
	subs, _, err := root.Vector(3, 4)
	if err != nil {
		return nil, "", fmt.Errorf("subgraph metadata: %w", err)
	}
	if subs.Len() > 0 {
		sg, err := subs.Table(0)
		if err != nil {
			return nil, "", fmt.Errorf("subgraph metadata: %w", err)
		}
		if err := add(sg, 4, ""); err != nil {
			return nil, "", fmt.Errorf("subgraph associated files: %w", err)
		}
		for _, kind := range []string{"input", "output"} {
			slot := 2
			if kind == "output" {
				slot = 3
			}
			tv, _, err := sg.Vector(slot, 4)
			if err != nil {
				return nil, "", fmt.Errorf("%s tensor metadata: %w", kind, err)
			}
			if budget -= 32 * tv.Len(); budget < 0 {
				return nil, "", errors.New("too many tensor metadata")
			}
			for i := 0; i < tv.Len(); i++ {
				tt, err := tv.Table(i)
				if err != nil {
					return nil, "", fmt.Errorf("%s tensor metadata %d: %w", kind, i, err)
				}
				if err := add(tt, 6, fmt.Sprintf("%s %d", kind, i)); err != nil {
					return nil, "", fmt.Errorf("%s tensor metadata %d: %w", kind, i, err)
				}
			}
		}
	}
	if axisLabels != "" {
		return md, axisLabels, nil
	}
	return md, valueLabels, nil
}
