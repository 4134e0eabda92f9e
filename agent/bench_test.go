package agent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/store"
)

// BenchmarkPipeline runs the agent's stages on the 640x480 sample clip with the shipped SSD
// detector, one frame per iteration, and reports the time per frame of each stage:
// capture (decode the next frame), preprocess (resize and convert into the input tensor),
// infer (Invoke), and record (decode the outputs, encode JSON, durable append to the outbox).
func BenchmarkPipeline(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(map[int]string{1: "threads=1", 2: "threads=2"}[threads], func(b *testing.B) {
			benchPipeline(b, threads)
		})
	}
}

func benchPipeline(b *testing.B, threads int) {
	c := DefaultConfig().Model
	c.Path = "../models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
	c.Labels = "../models/labelmap.txt"
	c.Name = "ssd"
	c.Threads = threads
	m, err := loadModel(context.Background(), c, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.close()
	ctx := context.Background()
	src, err := camera.Open(ctx, camera.Config{URL: sampleClip, Loop: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	db, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()

	var capture, pre, infer, record time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		f, err := src.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		tr, err := m.pre.Run(f, m.input.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := m.ip.Invoke(); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		res, err := m.decode(tr)
		if err != nil {
			b.Fatal(err)
		}
		rec := &Record{V: RecordVersion, Device: "bench", TS: f.Time(), Model: m.ref,
			Frame: FrameSize{W: f.Width(), H: f.Height()}, InferMS: float64(t3.Sub(t2).Microseconds()) / 1000, Result: res}
		if _, err := db.Append(ctx, rec.encode); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		f.Close()
		capture += t1.Sub(t0)
		pre += t2.Sub(t1)
		infer += t3.Sub(t2)
		record += t4.Sub(t3)
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(capture), "capture-ms/frame")
	b.ReportMetric(ms(pre), "preprocess-ms/frame")
	b.ReportMetric(ms(infer), "infer-ms/frame")
	b.ReportMetric(ms(record), "record-ms/frame")
}
