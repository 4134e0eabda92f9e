package tflite

import (
	"errors"
	"testing"
)

func TestNewTensor(t *testing.T) {
	q := &Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{3}}
	x, err := NewTensor("x", Int8, []int{2, 3}, q)
	if err != nil {
		t.Fatal(err)
	}
	q.Scale[0] = 9 // the tensor keeps its own copy
	if x.Name() != "x" || x.NumElements() != 6 || len(x.Int8s()) != 6 || x.Quantization().Scale[0] != 0.5 {
		t.Errorf("tensor %q %v %v %+v", x.Name(), x.Shape(), x.Int8s(), x.Quantization())
	}
	if _, err := NewTensor("s", String, []int{1}, nil); err == nil {
		t.Error("string tensor accepted")
	}
	if _, err := NewTensor("big", Float32, []int{1 << 20, 1 << 20}, nil); !errors.Is(err, ErrInvalidShape) {
		t.Errorf("huge tensor: %v", err)
	}
	if _, err := NewTensor("neg", Float32, []int{-1}, nil); !errors.Is(err, ErrInvalidShape) {
		t.Errorf("negative dimension: %v", err)
	}
}
