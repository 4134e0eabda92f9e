package motion

import (
	"fmt"
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/edge-agent/edge-agent/tflite"
)

const ssdModel = "../../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"

// ssd runs the shipped detector on frames as the agent does: the frame stretched to 300x300
// (bilinear), BGR to RGB, uint8.
type ssd struct {
	ip           *tflite.Interpreter
	resized, rgb gocv.Mat
}

func newSSD(t testing.TB, threads int) *ssd {
	t.Helper()
	m, err := tflite.LoadFile(ssdModel)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := tflite.NewInterpreter(m, tflite.WithThreads(threads))
	if err != nil {
		t.Fatal(err)
	}
	s := &ssd{ip: ip, resized: gocv.NewMat(), rgb: gocv.NewMat()}
	t.Cleanup(func() {
		s.resized.Close()
		s.rgb.Close()
		ip.Close()
	})
	return s
}

// infer preprocesses frame into the input tensor and runs the model.
func (s *ssd) infer(frame gocv.Mat) error {
	in := s.ip.Input(0)
	gocv.Resize(frame, &s.resized, image.Pt(in.Dim(2), in.Dim(1)), 0, 0, gocv.InterpolationLinear)
	gocv.CvtColor(s.resized, &s.rgb, gocv.ColorBGRToRGB)
	px, err := s.rgb.DataPtrUint8()
	if err != nil || len(px) != len(in.Bytes()) {
		return fmt.Errorf("input: %d bytes, want %d (%v)", len(px), len(in.Bytes()), err)
	}
	copy(in.Bytes(), px)
	return s.ip.Invoke()
}

// bestScore returns the highest score the model gives class (COCO index, 0 = person) on frame.
func (s *ssd) bestScore(frame gocv.Mat, class int) (float32, error) {
	if err := s.infer(frame); err != nil {
		return 0, err
	}
	classes, scores, count := s.ip.Output(1).Float32s(), s.ip.Output(2).Float32s(), s.ip.Output(3).Float32s()
	var best float32
	for i := 0; i < int(count[0]) && i < len(classes); i++ {
		if int(classes[i]) == class {
			best = max(best, scores[i])
		}
	}
	return best, nil
}
