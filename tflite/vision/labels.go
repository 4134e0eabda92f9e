// Package vision turns images into model inputs and model outputs into results: image decoding
// and bilinear resizing into an input tensor; the task of a model told from its outputs (TaskOf)
// and one Decoder for every task: top-K classification, SSD detections as pixel boxes of the
// original image, pose keypoints in its pixels, segmentation class shares with the mask as a
// PNG, and the raw outputs of any other model; and label files.
package vision

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Limits on label files, so that a wrong path (a model, a video) fails fast instead of being
// read into memory.
const (
	MaxLabelFileSize = 4 << 20
	maxLabelLine     = 4 << 10
)

// ErrLabels is wrapped by errors about a malformed label file.
var ErrLabels = errors.New("bad label file")

// unusedLabel marks ids a model never outputs (COCO label maps have gaps).
const unusedLabel = "???"

// Labels maps class indices to names: the name of class i is line i of a label file.
type Labels []string

// Name returns the label of class i, or "" if there is none (out of range, or "???").
func (l Labels) Name(i int) string {
	if i < 0 || i >= len(l) || l[i] == unusedLabel {
		return ""
	}
	return l[i]
}

// ParseLabels reads a label file: one label per line, surrounding spaces trimmed; blank lines
// keep their index.
func ParseLabels(r io.Reader) (Labels, error) {
	var labels Labels
	sc := bufio.NewScanner(io.LimitReader(r, MaxLabelFileSize+1))
	sc.Buffer(make([]byte, 0, 4096), maxLabelLine)
	size := 0
	for sc.Scan() {
		size += len(sc.Bytes()) + 1
		if size > MaxLabelFileSize {
			return nil, fmt.Errorf("%w: larger than %d bytes", ErrLabels, MaxLabelFileSize)
		}
		line := sc.Text()
		if strings.ContainsRune(line, 0) {
			return nil, fmt.Errorf("%w: line %d holds a NUL byte (not a text file?)", ErrLabels, len(labels)+1)
		}
		labels = append(labels, strings.TrimSpace(line))
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: line %d longer than %d bytes", ErrLabels, len(labels)+1, maxLabelLine)
		}
		return nil, fmt.Errorf("read labels: %w", err)
	}
	return labels, nil
}

// LoadLabels reads the label file at path.
func LoadLabels(path string) (Labels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	defer f.Close()
	l, err := ParseLabels(f)
	if err != nil {
		return nil, fmt.Errorf("labels %s: %w", path, err)
	}
	return l, nil
}
