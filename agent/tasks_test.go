package agent

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"gocv.io/x/gocv"
	"golang.org/x/image/bmp"
)

// clipOf writes a short clip of an image (FFV1; OpenCV's writer subsamples the chroma), so that
// the capture loop (decoding, preprocessing, the decoder) runs on it as on a camera.
func clipOf(t *testing.T, imagePath string, frames int) string {
	t.Helper()
	img := gocv.IMRead(imagePath, gocv.IMReadColor)
	if img.Empty() {
		t.Fatalf("cannot read %s", imagePath)
	}
	defer img.Close()
	path := filepath.Join(t.TempDir(), "clip.mkv")
	w, err := gocv.VideoWriterFile(path, "FFV1", 10, img.Cols(), img.Rows(), true)
	if err != nil {
		t.Fatal(err)
	}
	for range frames {
		if err := w.Write(img); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// runOnce runs the agent over every frame of a clip and returns its records.
func runOnce(t *testing.T, clip, model, labels string) []Record {
	t.Helper()
	cfg := setAll(t, "camera.source", clip, "camera.loop", "false", "camera.max_fps", "0", "mqtt.enabled", "false",
		"model.path", model, "model.labels", labels, "http.enabled", "false")
	var out syncBuffer
	if err := Run(context.Background(), cfg, Options{Logger: testLogger(t), Print: &out}); err != nil {
		t.Fatal(err)
	}
	return out.records(t)
}

// TestPoseRecords: MoveNet through the capture loop gives the 17 named keypoints in frame
// pixels, within 0.05 of the published reference (the clip's JPEG compression adds to the 0.04
// of the model check).
func TestPoseRecords(t *testing.T) {
	const dir = "../testdata/models/pose/"
	recs := runOnce(t, clipOf(t, dir+"squat.bmp", 2), dir+"movenet_single_pose_lightning_ptq.tflite", "")
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	f, err := os.Open(dir + "movenet_single_pose_lightning_ptq_reference.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if len(r.Keypoints) != 17 || r.Keypoints[0].Name != "nose" || r.Frame != (FrameSize{500, 610}) || r.Detections != nil {
			t.Fatalf("record: %+v", r)
		}
		worst := 0.0
		for _, row := range rows[1:] {
			// pose_id, pose_score, keypoint_id, keypoint_score, keypoint_x, keypoint_y
			id, _ := strconv.Atoi(row[2])
			wx, _ := strconv.ParseFloat(row[4], 64)
			wy, _ := strconv.ParseFloat(row[5], 64)
			k := r.Keypoints[id]
			worst = max(worst, math.Abs(k.X/500-wx), math.Abs(k.Y/610-wy))
		}
		if worst > 0.05 {
			t.Errorf("keypoint error %.4f (normalised), want at most 0.05", worst)
		}
		t.Logf("largest keypoint error %.4f", worst)
	}
}

// TestSegmentationRecords: DeepLab through the capture loop gives the share of each class: the
// bird is the largest after the background, its share within 0.05 of the published mask's (the
// model gives 0.174 on the clean picture, the mask says 0.195; the clip's chroma subsampling
// costs a little more).
func TestSegmentationRecords(t *testing.T) {
	const dir = "../testdata/models/segment/"
	recs := runOnce(t, clipOf(t, dir+"bird_segmentation.bmp", 1), dir+"deeplabv3_mnv2_dm05_pascal_quant.tflite",
		dir+"pascal_voc_segmentation_labels.txt")
	if len(recs) != 1 || recs[0].Segmentation == nil {
		t.Fatalf("records %+v", recs)
	}
	mf, err := os.Open(dir + "bird_segmentation_mask.bmp")
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	mask, err := bmp.Decode(mf)
	if err != nil {
		t.Fatal(err)
	}
	birds, all := 0, 0
	b := mask.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if v, _, _, _ := mask.At(x, y).RGBA(); v>>8 == 3 {
				birds++
			}
			all++
		}
	}
	want := float64(birds) / float64(all)
	classes := recs[0].Segmentation.Classes
	got := classes[1].Fraction // by decreasing share; 0 is the background
	if classes[0].Label != "background" || classes[1].Label != "bird" || math.Abs(got-want) > 0.05 {
		t.Fatalf("bird share %.4f, the mask's %.4f: %+v", got, want, recs[0].Segmentation.Classes)
	}
}
