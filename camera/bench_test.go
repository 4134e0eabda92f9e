package camera

import (
	"context"
	"image"
	"testing"
)

// BenchmarkPreprocess measures one frame of the sample clip (640x480 BGR) into a model input.
// The first case is the shipped SSD's: 300x300 RGB uint8, stretched.
func BenchmarkPreprocess(b *testing.B) {
	f := clipFrame(b, 5)
	defer f.Close()
	for _, c := range []struct {
		name string
		spec InputSpec
	}{
		{"300x300-uint8-stretch", InputSpec{Width: 300, Height: 300, Channels: 3, Type: UInt8}},
		{"300x300-uint8-letterbox", InputSpec{Width: 300, Height: 300, Channels: 3, Type: UInt8, Fit: Letterbox}},
		{"224x224-int8-centercrop", InputSpec{Width: 224, Height: 224, Channels: 3, Type: Int8, Fit: CenterCrop}},
		{"224x224-float32-stretch", InputSpec{Width: 224, Height: 224, Channels: 3, Type: Float32}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := NewPreprocessor(c.spec)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			dst := make([]byte, p.Spec().TensorBytes())
			b.ReportAllocs()
			b.SetBytes(int64(f.Width() * f.Height() * 3))
			for b.Loop() {
				if _, err := p.Run(f, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCapture measures decoding the sample clip (640x480 H.264) through a file source: one
// op is one frame from Next, closed.
func BenchmarkCapture(b *testing.B) {
	s, err := Open(context.Background(), Config{URL: clipPath, Loop: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		f, err := s.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkSnapshot measures drawing two boxes on a 640x480 frame and encoding it at quality 85.
func BenchmarkSnapshot(b *testing.B) {
	f := clipFrame(b, 5)
	defer f.Close()
	boxes := []Box{{Rect: image.Rect(20, 300, 200, 470), Label: "cat 0.91"}, {Rect: image.Rect(300, 100, 480, 470), Label: "dog 0.80"}}
	var size int
	for b.Loop() {
		out, err := f.SnapshotJPEG(boxes, 85, 0)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/jpeg")
}
