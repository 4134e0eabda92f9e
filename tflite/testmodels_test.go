package tflite

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated test models in testdata")

// slowClassifierPath is a float classifier made here for the agent's tests that need a model
// slower than any bound an operator can set (the shadow run's max_latency_ms is whole
// milliseconds, and the real MobileNets take under one here): 1.4 G multiply-adds, 10-20 ms on
// one core of this machine, seconds on a Pi.
const slowClassifierPath = "../testdata/models/synthetic/slow_classifier.tflite"

// slowClassifier builds it: input [1,224,224,3] float32, a 3x3 convolution to 32 channels and
// three 32 to 32 (SAME, RELU), MEAN over the image, FULLY_CONNECTED to 1001 classes (ImageNet's
// labels, as the MobileNets) and SOFTMAX. Weights are fixed pseudo-random values.
func slowClassifier() []byte {
	r := rand.New(rand.NewPCG(2026, 12))
	weights := func(n int, scale float32) []byte {
		v := make([]float32, n)
		for i := range v {
			v[i] = (r.Float32()*2 - 1) * scale
		}
		return float32Bytes(v...)
	}
	const c = 32
	buffers := []fbt{tBuffer(nil)}
	var tensors []fbt
	tensor := func(name string, typ DataType, shape []int32, data []byte) int32 {
		buf := uint32(0)
		if data != nil {
			buffers = append(buffers, tBuffer(data))
			buf = uint32(len(buffers) - 1)
		}
		tensors = append(tensors, tTensor(name, typ, shape, buf))
		return int32(len(tensors) - 1)
	}
	opcodes := []fbt{tOpcode(opConv2D), tOpcode(opMean), tOpcode(opFullyConnected), tOpcode(opSoftmax)}
	var ops []fbt
	x := tensor("input", Float32, []int32{1, 224, 224, 3}, nil)
	in := x
	for _, inC := range []int32{3, c, c, c} {
		w := tensor("conv_w", Float32, []int32{c, 3, 3, inC}, weights(c*9*int(inC), 0.3))
		b := tensor("conv_b", Float32, []int32{c}, weights(c, 0.1))
		y := tensor("conv", Float32, []int32{1, 224, 224, c}, nil)
		// Conv2DOptions: padding SAME, strides 1, RELU.
		ops = append(ops, tOp(0, []int32{x, w, b}, []int32{y}, optConv2D, fbt{int8(0), int32(1), int32(1), int8(actRelu)}))
		x = y
	}
	axes := tensor("axes", Int32, []int32{2}, int32Bytes(1, 2))
	mean := tensor("mean", Float32, []int32{1, c}, nil)
	ops = append(ops, tOp(1, []int32{x, axes}, []int32{mean}, optReducer, fbt{false}))
	fw := tensor("fc_w", Float32, []int32{1001, c}, weights(1001*c, 0.5))
	fb := tensor("fc_b", Float32, []int32{1001}, weights(1001, 0.1))
	logits := tensor("logits", Float32, []int32{1, 1001}, nil)
	ops = append(ops, tOp(2, []int32{mean, fw, fb}, []int32{logits}, optFullyConnected, fbt{int8(actNone)}))
	probs := tensor("probabilities", Float32, []int32{1, 1001}, nil)
	ops = append(ops, tOp(3, []int32{logits}, []int32{probs}, optSoftmax, fbt{float32(1)}))
	return encodeFB(tModel(opcodes, []fbt{tSubgraph(tensors, []int32{in}, []int32{probs}, ops)}, buffers), "TFL3")
}

// The committed slow classifier is what slowClassifier builds (go test ./tflite -run
// TestSlowClassifierFile -update rewrites it), and it classifies: 1001 probabilities summing to 1.
func TestSlowClassifierFile(t *testing.T) {
	want := slowClassifier()
	if *update {
		if err := os.WriteFile(slowClassifierPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(slowClassifierPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is not what slowClassifier builds (run with -update)", slowClassifierPath)
	}
	m, err := LoadFile(slowClassifierPath)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := NewInterpreter(m, WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	FillProbe(ip.Input(0))
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	p := ip.Output(0).Float32s()
	var sum float64
	for _, v := range p {
		sum += float64(v)
	}
	if len(p) != 1001 || sum < 0.999 || sum > 1.001 {
		t.Fatalf("%d outputs summing to %v, want 1001 probabilities", len(p), sum)
	}
}
