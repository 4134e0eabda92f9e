package vision

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/edge-agent/edge-agent/tflite"
)

// tensor returns a standalone tensor holding vals.
func tensor(t *testing.T, typ tflite.DataType, shape []int, q *tflite.Quantization, vals ...float64) *tflite.Tensor {
	t.Helper()
	x, err := tflite.NewTensor("out", typ, shape, q)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		switch typ {
		case tflite.Float32:
			x.Float32s()[i] = float32(v)
		case tflite.Int32:
			x.Int32s()[i] = int32(v)
		case tflite.Int64:
			x.Int64s()[i] = int64(v)
		case tflite.Int8:
			x.Int8s()[i] = int8(v)
		default:
			x.Bytes()[i] = byte(v)
		}
	}
	return x
}

func TestTaskOfRealModels(t *testing.T) {
	for path, want := range map[string]Task{
		"../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite": TaskDetect,
		testModels + "classify_quant/mobilenet_v1_0.25_224_quant.tflite": TaskClassify,
		testModels + "int8_person/person_detect.tflite":                  TaskClassify,
		testModels + "tiny/mnist_model.tflite":                           TaskClassify,
		testModels + "pose/movenet_single_pose_lightning_ptq.tflite":     TaskPose,
		testModels + "segment/deeplabv3_mnv2_dm05_pascal_quant.tflite":   TaskSegment,
		testModels + "tiny/hello_world_float.tflite":                     TaskRaw, // one regression value
		testModels + "tiny/sin_model.tflite":                             TaskRaw,
	} {
		m, err := tflite.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := TaskOf(m); err != nil || got != want {
			t.Errorf("%s: TaskOf = %v, %v; want %v", path, got, err, want)
		}
		// Every model can be decoded raw; only fitting models take the other tasks.
		if got, err := ResolveTask("raw", m); err != nil || got != TaskRaw {
			t.Errorf("%s: raw: %v, %v", path, got, err)
		}
		for _, task := range []Task{TaskPose, TaskSegment} {
			_, err := ResolveTask(string(task), m)
			if (err == nil) != (task == want) && !(task == TaskSegment && want == TaskPose) {
				t.Errorf("%s: ResolveTask(%s) = %v", path, task, err)
			}
		}
	}
	m, _ := tflite.LoadFile(testModels + "tiny/hello_world_float.tflite")
	if _, err := ResolveTask("depth", m); !errors.Is(err, ErrTask) || !strings.Contains(err.Error(), "pose, segment or raw") {
		t.Errorf("unknown task: %v", err)
	}
}

func TestDecodePose(t *testing.T) {
	vals := make([]float64, 51)
	for i := range 17 {
		vals[3*i], vals[3*i+1], vals[3*i+2] = 0.1+0.04*float64(i), 0.5, 0.01*float64(i)
	}
	out := tensor(t, tflite.Float32, []int{1, 1, 17, 3}, nil, vals...)
	d := Decoder{Task: TaskPose, Points: StretchPoints(200, 100)}
	res, err := d.Decode([]*tflite.Tensor{out}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Keypoints) != 17 {
		t.Fatalf("%d keypoints", len(res.Keypoints))
	}
	ank := res.Keypoints[16]
	if ank.Name != "right_ankle" || math.Abs(ank.X-100) > 1e-4 || math.Abs(ank.Y-74) > 1e-4 || math.Abs(float64(ank.Score)-0.16) > 1e-6 {
		t.Errorf("keypoint 16 = %+v", ank)
	}
	b, _ := json.Marshal(Result{Keypoints: res.Keypoints[:1]})
	if want := `{"keypoints":[{"name":"nose","score":0,"x":100,"y":10}]}`; string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
	// Without Points, the BoxMapper places them (to about a pixel).
	d.Points = nil
	res, err = d.Decode([]*tflite.Tensor{out}, Stretch(200, 100))
	if err != nil || math.Abs(res.Keypoints[16].X-100) > 1 || math.Abs(res.Keypoints[16].Y-74) > 1 {
		t.Errorf("from boxes: %+v, %v", res.Keypoints[16], err)
	}
	// Quantized outputs are dequantised.
	q := tensor(t, tflite.Int8, []int{1, 17, 3}, &tflite.Quantization{Scale: []float32{0.01}, ZeroPoint: []int64{-100}}, make([]float64, 51)...)
	res, err = (&Decoder{Task: TaskPose, Points: StretchPoints(1, 1)}).Decode([]*tflite.Tensor{q}, nil)
	if err != nil || math.Abs(res.Keypoints[0].X-1) > 1e-6 {
		t.Errorf("int8 pose: %+v, %v", res.Keypoints, err)
	}
	for name, outs := range map[string][]*tflite.Tensor{
		"shape":  {tensor(t, tflite.Float32, []int{1, 17, 2}, nil)},
		"NaN":    {tensor(t, tflite.Float32, []int{1, 1, 17, 3}, nil, math.NaN())},
		"two":    {out, out},
		"string": {tensor(t, tflite.Int32, []int{1, 1, 17, 3}, nil)},
	} {
		if _, err := (&Decoder{Task: TaskPose, Points: StretchPoints(1, 1)}).Decode(outs, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := (&Decoder{Task: TaskPose}).Decode([]*tflite.Tensor{out}, nil); err == nil {
		t.Error("pose without a mapper decoded")
	}
}

func TestDecodeSegmentation(t *testing.T) {
	labels := Labels{"background", "cat", "dog"}
	d := Decoder{Task: TaskSegment, Labels: labels}
	// A class map: 12 of 20 background, 6 cat, 2 dog.
	classes := []float64{0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 2, 2, 0}
	for _, typ := range []tflite.DataType{tflite.Int64, tflite.Int32, tflite.UInt8} {
		res, err := d.Decode([]*tflite.Tensor{tensor(t, typ, []int{1, 4, 5}, nil, classes...)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := res.Segmentation
		want := []ClassShare{{0, "background", 0.6}, {1, "cat", 0.3}, {2, "dog", 0.1}}
		if s.Width != 5 || s.Height != 4 || len(s.Classes) != 3 {
			t.Fatalf("%v: %+v", typ, s)
		}
		for i := range want {
			if s.Classes[i] != want[i] {
				t.Errorf("%v: class %d = %+v, want %+v", typ, i, s.Classes[i], want[i])
			}
		}
		// The PNG holds the classes as palette indices.
		b, err := s.PNG()
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		p, ok := img.(*image.Paletted)
		if !ok || p.Bounds().Dx() != 5 || p.Pix[17] != 2 || p.Pix[6] != 1 || p.Pix[0] != 0 {
			t.Errorf("PNG %T %v", img, img.Bounds())
		}
		if r, g, bl, _ := p.Palette[1].RGBA(); r>>8 != 128 || g != 0 || bl != 0 {
			t.Errorf("VOC colour of class 1: %d %d %d", r>>8, g>>8, bl>>8)
		}
	}
	// Class scores [1, H, W, C]: the argmax per pixel, ties to the lower class; quantized too.
	scores := []float64{0.1, 0.7, 0.2, 0.5, 0.5, 0, 0, 0, 0.9, 0.3, 0.3, 0.3}
	res, err := d.Decode([]*tflite.Tensor{tensor(t, tflite.Float32, []int{1, 2, 2, 3}, nil, scores...)}, nil)
	if err != nil || !equalMask(res.Segmentation.Mask(), []uint16{1, 0, 2, 0}) {
		t.Errorf("scores: %v, %v", res.Segmentation, err)
	}
	qs := make([]float64, len(scores))
	for i, v := range scores {
		qs[i] = v*100 + 10
	}
	res, err = d.Decode([]*tflite.Tensor{tensor(t, tflite.UInt8, []int{1, 2, 2, 3}, &tflite.Quantization{Scale: []float32{0.01}, ZeroPoint: []int64{10}}, qs...)}, nil)
	if err != nil || !equalMask(res.Segmentation.Mask(), []uint16{1, 0, 2, 0}) {
		t.Errorf("quantized scores: %v, %v", res.Segmentation, err)
	}
	// One channel is a foreground probability.
	res, err = d.Decode([]*tflite.Tensor{tensor(t, tflite.Float32, []int{1, 2, 2, 1}, nil, 0.2, 0.8, 0.5, 0.51)}, nil)
	if err != nil || !equalMask(res.Segmentation.Mask(), []uint16{0, 1, 0, 1}) {
		t.Errorf("foreground: %v, %v", res.Segmentation, err)
	}
	// More than 256 classes: 16-bit gray.
	big := tensor(t, tflite.Int32, []int{1, 1, 2}, nil, 300, 1)
	res, err = d.Decode([]*tflite.Tensor{big}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := res.Segmentation.PNG()
	if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.(*image.Gray16).Gray16At(0, 0).Y != 300 {
		t.Errorf("16-bit PNG: %v", err)
	}
	for name, out := range map[string]*tflite.Tensor{
		"negative class": tensor(t, tflite.Int32, []int{1, 2, 2}, nil, 0, -1),
		"huge class":     tensor(t, tflite.Int64, []int{1, 2, 2}, nil, 1<<20),
		"float map":      tensor(t, tflite.Float32, []int{1, 2, 2}, nil),
		"rank 2":         tensor(t, tflite.Int32, []int{2, 2}, nil),
	} {
		if _, err := d.Decode([]*tflite.Tensor{out}, nil); !errors.Is(err, ErrOutput) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func equalMask(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecodeRaw(t *testing.T) {
	f := tensor(t, tflite.Float32, []int{1, 3}, nil, 0.1, math.NaN(), math.Inf(1))
	q := tensor(t, tflite.Int8, []int{2}, &tflite.Quantization{Scale: []float32{0.5}, ZeroPoint: []int64{-2}}, 0, 3)
	l := tensor(t, tflite.Int64, []int{}, nil, 1<<40+1)
	b := tensor(t, tflite.Bool, []int{3}, nil, 1, 0, 1)
	d := Decoder{Task: TaskRaw}
	res, err := d.Decode([]*tflite.Tensor{f, q, l, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(res)
	want := `{"raw":[{"name":"out","type":"float32","shape":[1,3],"values":[0.1,null,null],"elements":3},` +
		`{"name":"out","type":"int8","shape":[2],"values":[1,2.5],"elements":2},` +
		`{"name":"out","type":"int64","shape":[],"values":[1099511627777],"elements":1},` +
		`{"name":"out","type":"bool","shape":[3],"values":[1,0,1],"elements":3}]}`
	if string(js) != want {
		t.Errorf("JSON\n%s\nwant\n%s", js, want)
	}
	// The cap counts over all outputs; what does not fit is marked truncated.
	d.MaxRawValues = 4
	res, _ = d.Decode([]*tflite.Tensor{f, q, l}, nil)
	if r := res.Raw; len(r[0].Values) != 3 || r[0].Truncated || len(r[1].Values) != 1 || !r[1].Truncated || len(r[2].Values) != 0 || !r[2].Truncated || r[2].Elements != 1 {
		t.Errorf("capped: %+v", r)
	}
	pc := tensor(t, tflite.Int8, []int{2}, &tflite.Quantization{Scale: []float32{1, 2}, ZeroPoint: []int64{0, 0}})
	if _, err := (&Decoder{Task: TaskRaw}).Decode([]*tflite.Tensor{pc}, nil); !errors.Is(err, ErrOutput) {
		t.Errorf("per-channel raw output: %v", err)
	}
}
