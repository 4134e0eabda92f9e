package camera_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/edge-agent/edge-agent/camera"
)

// The agent's loop: newest frame, model input, boxes back to frame pixels, a snapshot.
func Example() {
	ctx := context.Background()
	src, err := camera.Open(ctx, camera.Config{URL: "../testdata/clips/sample.mp4"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	// The shipped SSD: 300x300 RGB uint8.
	pre, err := camera.NewPreprocessor(camera.InputSpec{Width: 300, Height: 300, Channels: 3, Type: camera.UInt8})
	if err != nil {
		log.Fatal(err)
	}
	defer pre.Close()
	input := make([]byte, pre.Spec().TensorBytes()) // in the agent: the input tensor's bytes

	frames := 0
	for {
		f, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		tr, err := pre.Run(f, input)
		if err != nil {
			log.Fatal(err)
		}
		// ... invoke the model; an SSD box is [ymin, xmin, ymax, xmax] in 0..1:
		ssd := [4]float64{0.25, 0.5, 0.75, 1.0}
		r := tr.Rect(camera.NormRect{YMin: ssd[0], XMin: ssd[1], YMax: ssd[2], XMax: ssd[3]})
		if frames == 0 {
			jpg, err := f.SnapshotJPEG([]camera.Box{{Rect: r, Label: "cat 0.64"}}, 80, 64<<10)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("frame %dx%d, box %v, snapshot under 64 KiB: %v\n", f.Width(), f.Height(), r, len(jpg) <= 64<<10)
		}
		f.Close()
		frames++
	}
	fmt.Println(frames, "frames,", src.State().State)
	// Output:
	// frame 640x480, box (320,120)-(640,360), snapshot under 64 KiB: true
	// 60 frames, stopped
}
