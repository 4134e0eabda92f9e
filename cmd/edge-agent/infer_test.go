package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

const (
	testModels     = "../../testdata/models/"
	quantClassify  = testModels + "classify_quant/mobilenet_v1_0.25_224_quant.tflite"
	floatClassify  = testModels + "classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite"
	imagenetLabels = testModels + "classify_quant/labels.txt"
	burgerJPEG     = testModels + "classify_quant/burger.jpg"
	burgerPNG      = testModels + "classify_quant/burger-224.png"
	catsJPEG       = testModels + "detect/cats_and_dogs.jpg"
)

func infer(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runInfer(context.Background(), args, &stdout, &stderr)
	return stdout.String(), err
}

func TestInferClassifyJSON(t *testing.T) {
	out, err := infer(t, "--model", quantClassify, "--image", burgerJPEG, "--labels", imagenetLabels, "--top", "3", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Classes []vision.Class `json:"classes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if len(res.Classes) != 3 {
		t.Fatalf("got %d classes, want 3: %s", len(res.Classes), out)
	}
	if c := res.Classes[0]; c.Index != 934 || c.Label != "cheeseburger" || math.Abs(float64(c.Score)-0.96) > 0.01 {
		t.Errorf("top class %+v, want 934 cheeseburger at 0.96 +- 0.01", c)
	}
	if !strings.HasPrefix(out, `{"classes":[{"index":934,"label":"cheeseburger","score":0.9`) {
		t.Errorf("JSON layout: %s", out)
	}
}

// The float model carries its labels in its metadata; the default normalisation is (x-127.5)/127.5.
func TestInferClassifyEmbeddedLabels(t *testing.T) {
	out, err := infer(t, "--model", floatClassify, "--image", burgerPNG, "--top", "2", "--threads", "2")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "934") || !strings.Contains(lines[0], "cheeseburger") {
		t.Errorf("output %q, want two lines, the first 934 cheeseburger", out)
	}
}

func TestInferDetectJSON(t *testing.T) {
	out, err := infer(t, "--model", "../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite",
		"--image", catsJPEG, "--labels", "../../models/labelmap.txt", "--json", "--max-results", "4", "--threads", "2")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Detections []vision.Detection `json:"detections"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	labels := ""
	for _, d := range res.Detections {
		labels += d.Label + " "
		b := d.Box
		if b.X < 0 || b.Y < 0 || b.W <= 0 || b.H <= 0 || b.X+b.W > 1200 || b.Y+b.H > 600 {
			t.Errorf("box %+v outside the 1200x600 image", b)
		}
	}
	// Published order (see tflite/models_test.go for the boxes).
	if labels != "cat cat cat dog " || res.Detections[0].Class != 16 || res.Detections[3].Class != 17 {
		t.Errorf("detections %s", out)
	}
	if !strings.HasPrefix(out, `{"detections":[{"label":"cat","class":16,"score":0.6`) || !strings.Contains(out, `"box":{"x":`) {
		t.Errorf("JSON layout: %s", out)
	}
	// The labels embedded in the model give the same names; a high threshold keeps only the best.
	out, err = infer(t, "--model", "../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite", "--image", catsJPEG, "--threshold", "0.62")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "cat ") {
		t.Errorf("threshold 0.62: %q, want one cat", out)
	}
}

// A grayscale int8 model: the image is converted to gray and offset by -128.
func TestInferGrayInt8(t *testing.T) {
	out, err := infer(t, "--model", testModels+"int8_person/person_detect.tflite", "--image", testModels+"int8_person/no_person.bmp", "--json", "--top", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, `{"classes":[{"index":0,`) {
		t.Errorf("no_person.bmp: %s, want class 0 (not a person) first", out)
	}
}

func TestInferErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.tflite")
	if err := os.WriteFile(corrupt, []byte("TFL3 but not really a model at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	badImage := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(badImage, []byte("\x89PNG\r\n\x1a\nnope"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := []string{"--model", quantClassify, "--image", burgerPNG}
	tests := []struct {
		name string
		args []string
		is   error  // errors.Is target, if any
		msg  string // substring of the error
	}{
		{"no args", nil, errUsage, "--model"},
		{"no image", []string{"--model", quantClassify}, errUsage, "--image"},
		{"unknown flag", append([]string{"--bogus"}, ok...), errUsage, "bogus"},
		{"bad number", append([]string{"--top", "x"}, ok...), errUsage, "top"},
		{"top zero", append([]string{"--top", "0"}, ok...), errUsage, "--top"},
		{"zero std", append([]string{"--std", "0"}, ok...), errUsage, "--std"},
		{"threads", append([]string{"--threads", "0"}, ok...), errUsage, "--threads"},
		{"positional", append(ok, "extra"), errUsage, "extra"},
		{"missing model", []string{"--model", filepath.Join(dir, "none.tflite"), "--image", burgerPNG}, os.ErrNotExist, "none.tflite"},
		{"corrupt model", []string{"--model", corrupt, "--image", burgerPNG}, tflite.ErrInvalidModel, "corrupt.tflite"},
		{"missing image", []string{"--model", quantClassify, "--image", filepath.Join(dir, "none.png")}, os.ErrNotExist, "none.png"},
		{"corrupt image", []string{"--model", quantClassify, "--image", badImage}, camera.ErrImage, "bad.png"},
		{"missing labels", append([]string{"--labels", filepath.Join(dir, "none.txt")}, ok...), os.ErrNotExist, "none.txt"},
		{"not an image model", []string{"--model", testModels + "tiny/hello_world_float.tflite", "--image", burgerPNG}, vision.ErrInput, "shape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := infer(t, tt.args...)
			if err == nil {
				t.Fatalf("no error; output %q", out)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			if out != "" {
				t.Errorf("printed %q on error", out)
			}
		})
	}
}

func inspect(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := runModelInspect(context.Background(), args, &stdout, &stderr)
	return stdout.String(), err
}

func TestModelInspect(t *testing.T) {
	path := "../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	out, err := inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"sha256:      " + hex.EncodeToString(sum[:]),
		"size:        4185023 bytes",
		"normalized_input_image_tensor            uint8    [1 300 300 3]  scale=0.0078125 zero_point=128",
		"TFLite_Detection_PostProcess:3           float32  []",
		"ops:         64 operators",
		"CONV_2D                          34",
		"TFLite_Detection_PostProcess     1",
		"labels:      90 embedded (person, bicycle, car, motorcycle, airplane, ...)",
		"runtime:     runs here (task detect)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err = inspect("--json", testModels+"tiny/hello_world_int8.tflite")
	if err != nil {
		t.Fatal(err)
	}
	var r inspectResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	in := r.Inputs[0]
	if len(r.Inputs) != 1 || in.Type != "int8" || len(in.Scale) != 1 || in.ZeroPoint[0] != -128 ||
		len(in.Signature) != 2 || in.Signature[0] != -1 || r.Labels != 0 ||
		len(r.Ops) != 1 || r.Ops[0] != (inspectOp{"FULLY_CONNECTED", 3, true}) || !r.Runs || r.Task != "raw" {
		t.Errorf("hello_world_int8: %s", out)
	}

	out, err = inspect(floatClassify)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"metadata:    MobileNetV1 image classifier — Identify the most prominent object",
		"labels:      1001 embedded (background, tench, goldfish,"} {
		if !strings.Contains(out, want) {
			t.Errorf("float classifier: output lacks %q:\n%s", want, out)
		}
	}

	// Per-channel quantization is summarised, not listed.
	out, err = inspect("--json", testModels+"int8_person/person_detect.tflite")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"type":"int8","shape":[1,96,96,1]`) {
		t.Errorf("person_detect: %s", out)
	}
}

func TestModelInspectErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "model.tflite")
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte{0xff}, 64), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		is   error
	}{
		{"no model", nil, errUsage},
		{"two models", []string{quantClassify, floatClassify}, errUsage},
		{"bad flag", []string{"--nope", quantClassify}, errUsage},
		{"missing", []string{filepath.Join(dir, "none.tflite")}, os.ErrNotExist},
		{"corrupt", []string{corrupt}, tflite.ErrInvalidModel},
	} {
		out, err := inspect(tt.args...)
		if !errors.Is(err, tt.is) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.is)
		}
		if out != "" {
			t.Errorf("%s: printed %q", tt.name, out)
		}
	}
}

const (
	poseModel    = testModels + "pose/movenet_single_pose_lightning_ptq.tflite"
	poseImage    = testModels + "pose/squat.bmp"
	segmentModel = testModels + "segment/deeplabv3_mnv2_dm05_pascal_quant.tflite"
	segmentImage = testModels + "segment/bird_segmentation.bmp"
	pascalLabels = testModels + "segment/pascal_voc_segmentation_labels.txt"
)

// MoveNet's keypoints come out in pixels of squat.bmp (500x610), near the published ones (the
// agent's OpenCV resize differs a little from the published check's, hence 0.05).
func TestInferPoseJSON(t *testing.T) {
	out, err := infer(t, "--model", poseModel, "--image", poseImage, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res vision.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if !strings.HasPrefix(out, `{"keypoints":[{"name":"nose","score":`) || len(res.Keypoints) != 17 {
		t.Fatalf("output %s", out)
	}
	// Published (x, y) of the nose, the right ankle and the left elbow, normalised.
	for i, want := range map[int][2]float64{0: {0.589104, 0.332112}, 16: {0.328158, 0.901447}, 7: {0.703761, 0.494214}} {
		k := res.Keypoints[i]
		if math.Abs(k.X/500-want[0]) > 0.05 || math.Abs(k.Y/610-want[1]) > 0.05 {
			t.Errorf("%s at (%.1f, %.1f), published (%.1f, %.1f)", k.Name, k.X, k.Y, want[0]*500, want[1]*610)
		}
	}
	text, err := infer(t, "--model", poseModel, "--image", poseImage)
	if err != nil || !strings.HasPrefix(text, "nose             score=") || strings.Count(text, "\n") != 17 {
		t.Errorf("text output %q, %v", text, err)
	}
}

func TestInferSegmentJSON(t *testing.T) {
	mask := filepath.Join(t.TempDir(), "mask.png")
	out, err := infer(t, "--model", segmentModel, "--image", segmentImage, "--labels", pascalLabels, "--json", "--mask", mask)
	if err != nil {
		t.Fatal(err)
	}
	var res vision.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	s := res.Segmentation
	if s == nil || s.Width != 513 || s.Height != 513 || len(s.Classes) < 2 {
		t.Fatalf("output %s", out)
	}
	if c := s.Classes[1]; c.Label != "bird" || c.Index != 3 || math.Abs(c.Fraction-0.17) > 0.03 {
		t.Errorf("second class %+v, want bird at about 17%%", c)
	}
	f, err := os.Open(mask)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := img.(*image.Paletted); !ok || p.Bounds().Dx() != 513 || p.ColorIndexAt(256, 256) != 3 {
		t.Errorf("mask %T %v: the middle of the image is not the bird", img, img.Bounds())
	}
	if _, err := infer(t, "--model", quantClassify, "--image", burgerPNG, "--mask", mask); !errors.Is(err, errUsage) {
		t.Errorf("--mask on a classifier: %v", err)
	}
}

// Any model can be decoded raw: the classifier's 1001 dequantised scores.
func TestInferRawJSON(t *testing.T) {
	out, err := infer(t, "--model", quantClassify, "--image", burgerPNG, "--task", "raw", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res vision.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if len(res.Raw) != 1 || res.Raw[0].Elements != 1001 || len(res.Raw[0].Values) != 1001 || res.Raw[0].Truncated {
		t.Fatalf("raw %+v", res.Raw)
	}
	if v := res.Raw[0].Values[934]; v < 0.9 || v > 1 {
		t.Errorf("cheeseburger's raw score %v, want about 0.96", v)
	}
	if _, err := infer(t, "--model", quantClassify, "--image", burgerPNG, "--task", "pose"); !errors.Is(err, vision.ErrTask) {
		t.Errorf("--task pose on a classifier: %v", err)
	}
}

func TestModelInspectOpSupport(t *testing.T) {
	out, err := inspect("--json", poseModel)
	if err != nil {
		t.Fatal(err)
	}
	var r inspectResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Runs || r.Task != "pose" || len(r.Ops) != 19 {
		t.Fatalf("MoveNet: %s", out)
	}
	for _, op := range r.Ops {
		if !op.Supported {
			t.Errorf("%s not supported", op.Name)
		}
	}
}
