// Command cvprobe checks that a cross-compiled cgo binary really links and runs the target's
// OpenCV through gocv: it decodes a video file with OpenCV's videoio (ffmpeg) backend and prints,
// per frame, its size and the per-channel means of the frame and of a downscaled copy, as JSON
// lines. test-arm runs it natively and under qemu and compares the two outputs with predcmp.
//
// It stands in for the agent until the agent links gocv, and keeps guarding the toolchain after.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"os"

	"gocv.io/x/gocv"
)

// frameStats is one output line.
type frameStats struct {
	Frame  int        `json:"frame"`
	Width  int        `json:"w"`
	Height int        `json:"h"`
	Mean   [3]float64 `json:"mean"`
	Small  [3]float64 `json:"small_mean"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "cvprobe:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("cvprobe", flag.ContinueOnError)
	clip := fs.String("clip", "", "video file to decode")
	maxFrames := fs.Int("frames", 30, "stop after this many frames")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *clip == "" {
		return errors.New("-clip is required")
	}
	fmt.Fprintf(os.Stderr, "cvprobe: OpenCV %s, gocv %s\n", gocv.OpenCVVersion(), gocv.Version())

	vc, err := gocv.VideoCaptureFile(*clip)
	if err != nil {
		return fmt.Errorf("open %s: %w", *clip, err)
	}
	defer vc.Close()
	frame, small := gocv.NewMat(), gocv.NewMat()
	defer frame.Close()
	defer small.Close()

	enc := json.NewEncoder(os.Stdout)
	n := 0
	for ; n < *maxFrames && vc.Read(&frame); n++ {
		if frame.Empty() {
			break
		}
		gocv.Resize(frame, &small, image.Pt(64, 48), 0, 0, gocv.InterpolationArea)
		m, s := frame.Mean(), small.Mean()
		st := frameStats{Frame: n, Width: frame.Cols(), Height: frame.Rows(),
			Mean: [3]float64{m.Val1, m.Val2, m.Val3}, Small: [3]float64{s.Val1, s.Val2, s.Val3}}
		if err := enc.Encode(st); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	if n == 0 {
		return fmt.Errorf("%s: no frame decoded", *clip)
	}
	return nil
}
