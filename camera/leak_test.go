//go:build matprofile

package camera

import (
	"bytes"
	"context"
	"image"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/edge-agent/edge-agent/camera/motion"
)

// TestMatLeak runs 1,000 frames through capture, preprocessing (every fit) and snapshots, plus the
// paths where the source drops and releases frames itself, and checks that every gocv Mat created
// was closed. Run it with:
//
//	go test -tags matprofile -run TestMatLeak ./camera/
func TestMatLeak(t *testing.T) {
	start := gocv.MatProfile.Count()
	// A motion detector with a mask, fed frames of two sizes (the clip's, then the live source's).
	mask, err := motion.ParseMask("0.8,0,1,0,1,0.3")
	if err != nil {
		t.Fatal(err)
	}
	md, err := motion.NewDetector(motion.Config{Mask: mask})
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		s, err := Open(context.Background(), Config{URL: clipPath, Loop: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var pps []*Preprocessor
		for _, spec := range []InputSpec{
			{Width: 300, Height: 300, Channels: 3, Type: UInt8},
			{Width: 224, Height: 224, Channels: 3, Type: Float32, Fit: CenterCrop},
			{Width: 96, Height: 96, Channels: 1, Type: Int8, Fit: Letterbox},
		} {
			p, err := NewPreprocessor(spec)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			pps = append(pps, p)
		}
		dsts := make([][]byte, len(pps))
		for i, p := range pps {
			dsts[i] = make([]byte, p.Spec().TensorBytes())
		}
		const frames = 1000
		for i := 0; i < frames; i++ {
			f, err := s.Next(context.Background())
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			for j, p := range pps {
				if _, err := p.Run(f, dsts[j]); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.DetectMotion(md); err != nil {
				t.Fatal(err)
			}
			maxBytes := 0
			if i%10 == 0 {
				maxBytes = 6000 // forces the shrink path
			}
			b, err := f.SnapshotJPEG([]Box{{Rect: image.Rect(10, 10, 200, 200), Label: "cat"}}, 80, maxBytes)
			if err != nil || !bytes.HasPrefix(b, []byte{0xff, 0xd8}) {
				t.Fatalf("snapshot %d: %v", i, err)
			}
			f.Close()
		}
		if got := s.Stats().Frames; got < frames {
			t.Fatalf("read %d frames", got)
		}
	}
	run()

	// A live source that drops frames for a slow consumer, is closed with a frame pending, and
	// whose last frame is closed only after the source.
	s, err := Open(context.Background(), Config{URL: "gst:videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=100/1 ! videoconvert ! appsink"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kept *Frame
	for i := 0; i < 5; i++ {
		f, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		kept.Close()
		kept = f
		if _, err := f.DetectMotion(md); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	s.Close()
	if s.Stats().Dropped == 0 {
		t.Error("the live source dropped no frame: the drop path was not exercised")
	}
	kept.Close()

	// A still image and a paced file that stops with frames in flight.
	img, err := ReadImage(catsPath)
	if err != nil {
		t.Fatal(err)
	}
	img.Close()
	s, err = Open(context.Background(), Config{URL: clipPath, MaxFPS: 500}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	s.Close()
	f.Close()
	md.Close()

	if n := gocv.MatProfile.Count(); n != start {
		var b bytes.Buffer
		gocv.MatProfile.WriteTo(&b, 1)
		t.Errorf("%d Mats not closed (%d before the test):\n%s", n-start, start, b.String())
	}
	t.Logf("MatProfile count after the run: %d (before: %d)", gocv.MatProfile.Count(), start)
}
