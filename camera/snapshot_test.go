package camera

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"testing"
)

func decodeJPEG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("snapshot is not a valid JPEG: %v", err)
	}
	return img
}

func TestSnapshotDrawsBoxes(t *testing.T) {
	f := clipFrame(t, 5) // stretched cats and dogs
	defer f.Close()
	before := f.mat.ToBytes()
	box := image.Rect(100, 150, 300, 400)
	b, err := f.SnapshotJPEG([]Box{{Rect: box, Label: "cat 0.91"}, {Rect: image.Rect(-50, -50, 10, 10), Label: "clipped"}, {Rect: image.Rect(700, 500, 800, 600), Label: "outside"}}, 95, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, f.mat.ToBytes()) {
		t.Error("SnapshotJPEG modified the frame")
	}
	img := decodeJPEG(t, b)
	if img.Bounds() != image.Rect(0, 0, 640, 480) {
		t.Fatalf("snapshot is %v, want 640x480", img.Bounds())
	}
	want := labelColor("cat 0.91")
	near := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		d := func(a uint32, b uint8) int { return abs(int(a>>8) - int(b)) }
		return d(r, want.R) < 48 && d(g, want.G) < 48 && d(bl, want.B) < 48
	}
	// The outline: middle of the left and bottom edges.
	if !near(box.Min.X, (box.Min.Y+box.Max.Y)/2) || !near((box.Min.X+box.Max.X)/2, box.Max.Y-1) {
		t.Errorf("box outline not drawn in the label colour %v", want)
	}
	// The label band sits above the box, filled with the same colour around the text.
	if !near(box.Min.X+1, box.Min.Y-2) {
		t.Errorf("label band not drawn above the box")
	}
	// Without boxes the same pixel is the photo's own, not the label colour.
	plain, err := f.SnapshotJPEG(nil, 95, 0)
	if err != nil {
		t.Fatal(err)
	}
	img = decodeJPEG(t, plain)
	if near(box.Min.X, (box.Min.Y+box.Max.Y)/2) && near(box.Min.X+1, box.Min.Y-2) {
		t.Errorf("the photo already has the label colour where the box goes; pick another box")
	}
}

func TestSnapshotSizeCap(t *testing.T) {
	f := clipFrame(t, 5)
	defer f.Close()
	boxes := []Box{{Rect: image.Rect(100, 150, 300, 400), Label: "dog 0.80"}}
	full, err := f.SnapshotJPEG(boxes, 90, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("uncapped 640x480 at quality 90: %d bytes", len(full))
	for _, limit := range []int{len(full), len(full) / 2, len(full) / 5, 4000} {
		b, err := f.SnapshotJPEG(boxes, 90, limit)
		if err != nil {
			t.Fatalf("cap %d: %v", limit, err)
		}
		if len(b) > limit {
			t.Errorf("cap %d: got %d bytes", limit, len(b))
		}
		img := decodeJPEG(t, b)
		t.Logf("cap %d: %d bytes, %v", limit, len(b), img.Bounds().Size())
		if limit == len(full) && !bytes.Equal(b, full) {
			t.Errorf("a snapshot that fits was re-encoded")
		}
		if limit == 4000 && img.Bounds().Dx() >= 640 {
			t.Errorf("cap %d met without shrinking the image (%v)?", limit, img.Bounds())
		}
	}
	if _, err := f.SnapshotJPEG(boxes, 90, 300); !errors.Is(err, ErrSnapshotTooLarge) {
		t.Errorf("cap 300 bytes: %v, want ErrSnapshotTooLarge", err)
	}
	if _, err := f.SnapshotJPEG(nil, 101, 0); err == nil {
		t.Error("quality 101 accepted")
	}
	f.Close()
	if _, err := f.SnapshotJPEG(nil, 0, 0); !errors.Is(err, ErrFrame) {
		t.Errorf("closed frame: %v, want ErrFrame", err)
	}
}
