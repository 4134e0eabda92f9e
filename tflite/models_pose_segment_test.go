package tflite_test

import (
	"encoding/csv"
	"image"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/edge-agent/edge-agent/tflite"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

const (
	poseModel    = modelsDir + "pose/movenet_single_pose_lightning_ptq.tflite"
	poseImage    = modelsDir + "pose/squat.bmp"
	poseRef      = modelsDir + "pose/movenet_single_pose_lightning_ptq_reference.csv"
	segmentModel = modelsDir + "segment/deeplabv3_mnv2_dm05_pascal_quant.tflite"
	segmentImage = modelsDir + "segment/bird_segmentation.bmp"
	segmentMask  = modelsDir + "segment/bird_segmentation_mask.bmp"
	segmentLabel = modelsDir + "segment/pascal_voc_segmentation_labels.txt"
)

// Published (google-coral/test_data, movenet_single_pose_lightning_ptq_reference.csv): the 17
// keypoints of squat.bmp. Checked as the manifest says: the image stretched to 192x192 by
// bilinear resize, every keypoint within 0.04 of the reference in normalised x and y (the
// official runtime is within 0.026; scores depend on the preprocessing and are not compared).
func TestPublishedMoveNetSquat(t *testing.T) {
	ip := newInterpreter(t, poseModel)
	img := loadImage(t, poseImage)
	if err := vision.FillInput(ip.Input(0), img, vision.Normalization{}); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	task, err := vision.TaskOf(ip.Model())
	if err != nil || task != vision.TaskPose {
		t.Fatalf("TaskOf = %v, %v; want pose", task, err)
	}
	// Pixel positions in the image, which was stretched to the input.
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	dec := vision.Decoder{Task: vision.TaskPose, Points: vision.StretchPoints(w, h)}
	res, err := dec.Decode([]*tflite.Tensor{ip.Output(0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := readPoseReference(t)
	worst := 0.0
	for i, kp := range res.Keypoints {
		if kp.Name != vision.CocoKeypoints[i] {
			t.Fatalf("keypoint %d is %q", i, kp.Name)
		}
		x, y := kp.X/float64(w), kp.Y/float64(h)
		dx, dy := math.Abs(x-ref[i][0]), math.Abs(y-ref[i][1])
		worst = max(worst, dx, dy)
		if dx > 0.04 || dy > 0.04 {
			t.Errorf("%s at (%.4f, %.4f), reference (%.4f, %.4f)", kp.Name, x, y, ref[i][0], ref[i][1])
		}
	}
	t.Logf("largest keypoint error %.4f (normalised)", worst)
}

// readPoseReference returns the reference (x, y) of each keypoint.
func readPoseReference(t *testing.T) [][2]float64 {
	t.Helper()
	f, err := os.Open(poseRef)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	ref := make([][2]float64, len(vision.CocoKeypoints))
	for _, row := range rows[1:] { // pose_id, pose_score, keypoint_id, keypoint_score, x, y
		id, err1 := strconv.Atoi(row[2])
		x, err2 := strconv.ParseFloat(row[4], 64)
		y, err3 := strconv.ParseFloat(row[5], 64)
		if err1 != nil || err2 != nil || err3 != nil || id < 0 || id >= len(ref) {
			t.Fatalf("reference row %v", row)
		}
		ref[id] = [2]float64{x, y}
	}
	return ref
}

// Published (pycoral tests/segment_test.py): on bird_segmentation.bmp, IoU > 0.90 against
// bird_segmentation_mask.bmp, with pycoral's formula IoU = n(pred == mask) / (2N - n(pred ==
// mask)) over all N pixels.
func TestPublishedDeepLabBird(t *testing.T) {
	ip := newInterpreter(t, segmentModel)
	if err := vision.FillInput(ip.Input(0), loadImage(t, segmentImage), vision.Normalization{}); err != nil {
		t.Fatal(err)
	}
	if err := ip.Invoke(); err != nil {
		t.Fatal(err)
	}
	task, err := vision.TaskOf(ip.Model())
	if err != nil || task != vision.TaskSegment {
		t.Fatalf("TaskOf = %v, %v; want segment", task, err)
	}
	dec := vision.Decoder{Task: vision.TaskSegment, Labels: loadLabels(t, segmentLabel)}
	res, err := dec.Decode([]*tflite.Tensor{ip.Output(0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seg := res.Segmentation
	mask, ok := loadImage(t, segmentMask).(*image.Paletted)
	if !ok || mask.Bounds().Dx() != seg.Width || mask.Bounds().Dy() != seg.Height {
		t.Fatalf("mask %T %v, segmentation %dx%d", mask, mask.Bounds(), seg.Width, seg.Height)
	}
	same, n := 0, seg.Width*seg.Height
	for i, c := range seg.Mask() {
		if int(c) == int(mask.Pix[(i/seg.Width)*mask.Stride+i%seg.Width]) {
			same++
		}
	}
	iou := float64(same) / float64(2*n-same)
	t.Logf("IoU %.4f; classes %+v", iou, seg.Classes)
	if iou <= 0.90 {
		t.Errorf("IoU %.4f, want > 0.90", iou)
	}
	// The bird is the largest class after the background.
	if len(seg.Classes) < 2 || seg.Classes[0].Label != "background" || seg.Classes[1].Label != "bird" {
		t.Errorf("classes %+v, want background then bird", seg.Classes)
	}
}
