// Package tflite is a TensorFlow Lite runtime in pure Go: it reads .tflite flatbuffers (schema
// version 3), validates the whole graph at load time, plans tensor memory once and runs the
// builtin ops that image classifiers and SSD detectors use, float and quantized, with TFLite's
// integer arithmetic so quantized outputs match the official runtime.
package tflite
