package vision

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

const testModels = "../../testdata/models/"

func TestParseLabels(t *testing.T) {
	l, err := ParseLabels(strings.NewReader("background\r\n  cat \n\n???\ndog"))
	if err != nil {
		t.Fatal(err)
	}
	want := Labels{"background", "cat", "", "???", "dog"}
	if len(l) != len(want) {
		t.Fatalf("got %q, want %q", l, want)
	}
	for i := range want {
		if l[i] != want[i] {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	for i, name := range map[int]string{0: "background", 1: "cat", 2: "", 3: "", 4: "dog", 5: "", -1: ""} {
		if got := l.Name(i); got != name {
			t.Errorf("Name(%d) = %q, want %q", i, got, name)
		}
	}
}

func TestParseLabelsErrors(t *testing.T) {
	for name, in := range map[string]string{
		"long line": strings.Repeat("x", maxLabelLine+1),
		"binary":    "TFL3\x00\x00\x01",
		"too big":   strings.Repeat("label\n", MaxLabelFileSize/6+1),
	} {
		if _, err := ParseLabels(strings.NewReader(in)); !errors.Is(err, ErrLabels) {
			t.Errorf("%s: err = %v, want ErrLabels", name, err)
		}
	}
	if _, err := LoadLabels("does-not-exist.txt"); err == nil {
		t.Error("missing file: no error")
	}
}

func TestLoadLabelsReal(t *testing.T) {
	coco, err := LoadLabels("../../models/labelmap.txt")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{0: "person", 16: "cat", 17: "dog", 11: ""} {
		if got := coco.Name(i); got != want {
			t.Errorf("labelmap[%d] = %q, want %q", i, got, want)
		}
	}
	imagenet, err := LoadLabels(testModels + "classify_quant/labels.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(imagenet) != 1001 || imagenet.Name(934) != "cheeseburger" {
		t.Errorf("imagenet labels: %d entries, [934] = %q", len(imagenet), imagenet.Name(934))
	}
}

func TestTopK(t *testing.T) {
	scores := []float32{0.1, 0.5, float32(math.NaN()), 0.5, 0.9, -1, 0.5}
	labels := Labels{"a", "b", "c", "d", "e"}
	got := TopK(scores, 4, labels)
	want := []Class{{4, "e", 0.9}, {1, "b", 0.5}, {3, "d", 0.5}, {6, "", 0.5}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got := TopK(scores, 100, nil); len(got) != 6 || got[5].Index != 5 {
		t.Errorf("k > len: %v", got)
	}
	if got := TopK(scores, 0, nil); got != nil {
		t.Errorf("k = 0: %v", got)
	}
}

func TestDecodeSSD(t *testing.T) {
	boxes := []float32{
		0.66, 0.045, 0.9867, 0.3725, // inside
		0.2617, 0.5017, 1.0067, 0.83, // runs off the bottom: clipped
		-0.1, -0.2, 0.5, 0.5, // off the top-left: clipped
		0.1, 0.1, 0.2, 0.2, // below the threshold
		float32(math.NaN()), 0, 1, 1, // dropped
		0, 0, 1, 1, // beyond count
	}
	classes := []float32{16, 16, 17, 0, 1, 2}
	scores := []float32{0.64, 0.61, 0.5, 0.2, 0.9, 0.9}
	labels := Labels{"person", "bicycle"}
	labels = append(labels, make(Labels, 14)...)
	labels = append(labels, "cat", "dog")
	got, err := decodeBoxes(boxes, classes, scores, 5, 0.3, 0, labels, Stretch(1200, 600))
	if err != nil {
		t.Fatal(err)
	}
	want := []Detection{
		{"cat", 16, 0.64, Box{54, 396, 393, 196}},
		{"cat", 16, 0.61, Box{602, 157, 394, 443}},
		{"dog", 17, 0.5, Box{0, 0, 600, 300}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("detection %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	got, err = decodeBoxes(boxes, classes, scores, 100, 0, 2, nil, Stretch(1200, 600))
	if err != nil || len(got) != 2 {
		t.Errorf("max results 2: %+v, %v", got, err)
	}
	if _, err := decodeBoxes(boxes, classes, scores, float32(math.NaN()), 0, 0, nil, Stretch(1, 1)); !errors.Is(err, ErrOutput) {
		t.Errorf("NaN count: err = %v", err)
	}
}

func TestResizeBilinear(t *testing.T) {
	// 4x2 -> 2x1: each output pixel is the mean of a 2x2 block (samples fall between pixels).
	src := []byte{
		0, 0, 0, 100, 100, 100, 10, 20, 30, 10, 20, 30,
		100, 100, 100, 200, 200, 200, 30, 40, 50, 30, 40, 50,
	}
	got := ResizeBilinear(src, 4, 2, 2, 1)
	want := []byte{100, 100, 100, 20, 30, 40}
	if !bytes.Equal(got, want) {
		t.Errorf("downscale: got %v, want %v", got, want)
	}
	// 2x1 -> 4x1: centres at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
	got = ResizeBilinear([]byte{0, 0, 0, 200, 100, 40}, 2, 1, 4, 1)
	want = []byte{0, 0, 0, 50, 25, 10, 150, 75, 30, 200, 100, 40}
	if !bytes.Equal(got, want) {
		t.Errorf("upscale: got %v, want %v", got, want)
	}
	same := ResizeBilinear(src, 4, 2, 4, 2)
	if !bytes.Equal(same, src) {
		t.Error("same size is not a copy")
	}
}

func TestRGB(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix = []byte{7, 200}
	pal := image.NewPaletted(image.Rect(0, 0, 1, 1), color.Palette{color.RGBA{1, 2, 3, 255}})
	ycc := image.NewYCbCr(image.Rect(0, 0, 1, 1), image.YCbCrSubsampleRatio444)
	ycc.Y[0], ycc.Cb[0], ycc.Cr[0] = 128, 128, 128
	nrgba := image.NewNRGBA(image.Rect(0, 0, 1, 1))
	nrgba.Pix = []byte{9, 8, 7, 0}
	for _, tt := range []struct {
		img  image.Image
		want []byte
	}{
		{gray, []byte{7, 7, 7, 200, 200, 200}},
		{pal, []byte{1, 2, 3}},
		{ycc, []byte{128, 128, 128}},
		{nrgba, []byte{9, 8, 7}},
		{gray.SubImage(image.Rect(1, 0, 2, 1)), []byte{200, 200, 200}},
	} {
		if got, _, _ := RGB(tt.img); !bytes.Equal(got, tt.want) {
			t.Errorf("%T: got %v, want %v", tt.img, got, tt.want)
		}
	}
}

func TestLoadImage(t *testing.T) {
	for path, size := range map[string]image.Point{
		testModels + "classify_quant/burger.jpg":     {480, 325},
		testModels + "classify_quant/burger-224.png": {224, 224},
		testModels + "int8_person/person.bmp":        {96, 96},
	} {
		img, err := LoadImage(path)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Size() != size {
			t.Errorf("%s: size %v, want %v", path, img.Bounds().Size(), size)
		}
	}
}

// pngHeader returns the start of a PNG claiming the given size, with a valid IHDR checksum.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	chunk := append([]byte("IHDR"), ihdr...)
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, uint32(len(ihdr)))
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

func TestDecodeImageErrors(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":        nil,
		"not an image": []byte("TFL3 this is a model"),
		"huge":         pngHeader(100000, 100000),
		"truncated":    pngHeader(10, 10),
	} {
		if _, err := DecodeImage(bytes.NewReader(b)); !errors.Is(err, ErrImage) {
			t.Errorf("%s: err = %v, want ErrImage", name, err)
		}
	}
	if _, err := LoadImage("missing.png"); err == nil {
		t.Error("missing file: no error")
	}
}

func TestUpsampleRow(t *testing.T) {
	out := make([]byte, 4)
	upsampleRow(out, []byte{10, 50}, []byte{10, 50})
	if want := []byte{10, 20, 40, 50}; !bytes.Equal(out, want) {
		t.Errorf("got %v, want %v", out, want)
	}
	// The far row weighs a quarter.
	upsampleRow(out, []byte{100, 100}, []byte{20, 20})
	if want := []byte{80, 80, 80, 80}; !bytes.Equal(out, want) {
		t.Errorf("got %v, want %v", out, want)
	}
}

func TestYCbCrToRGB(t *testing.T) {
	// Within one of Go's own conversion everywhere on a coarse grid.
	for y := 0; y < 256; y += 15 {
		for cb := 0; cb < 256; cb += 15 {
			for cr := 0; cr < 256; cr += 15 {
				r, g, b := ycbcrToRGB(uint8(y), uint8(cb), uint8(cr))
				gr, gg, gb := color.YCbCrToRGB(uint8(y), uint8(cb), uint8(cr))
				if absDiff(r, gr) > 1 || absDiff(g, gg) > 1 || absDiff(b, gb) > 1 {
					t.Fatalf("YCbCr(%d,%d,%d): got %d,%d,%d; Go gives %d,%d,%d", y, cb, cr, r, g, b, gr, gg, gb)
				}
			}
		}
	}
	// A 4:2:0 image with uniform chroma converts like Go's.
	img := image.NewYCbCr(image.Rect(0, 0, 5, 3), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = uint8(i * 17)
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 90, 200
	}
	pix, w, h := RGB(img)
	if w != 5 || h != 3 || len(pix) != 45 {
		t.Fatalf("size %dx%d, %d bytes", w, h, len(pix))
	}
	for i := 0; i < 15; i++ {
		r, g, b := color.YCbCrToRGB(img.Y[i], 90, 200)
		if absDiff(pix[3*i], r) > 1 || absDiff(pix[3*i+1], g) > 1 || absDiff(pix[3*i+2], b) > 1 {
			t.Fatalf("pixel %d: %v, want about %d,%d,%d", i, pix[3*i:3*i+3], r, g, b)
		}
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func FuzzDecodeImage(f *testing.F) {
	f.Add(pngHeader(2, 2))
	f.Add([]byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x18\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := DecodeImage(bytes.NewReader(b))
		if err != nil {
			return
		}
		pix, w, h := RGB(img)
		if len(pix) != w*h*3 {
			t.Fatalf("%d bytes for %dx%d", len(pix), w, h)
		}
		_ = ResizeBilinear(pix, w, h, 3, 2)
	})
}
