package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/metrics"
	"github.com/edge-agent/edge-agent/tflite/vision"
)

// process runs one frame through the motion pass and, unless the gate skips it, through the
// model, and hands the record to the recorder. It owns f.
func (a *agent) process(ctx context.Context, f *camera.Frame) {
	defer f.Close()
	a.countFrame(f)
	// Every frame taken counts for the watchdog and the rate, inferred or not: with gating, a
	// static scene is inferred only every motion.heartbeat.
	now := time.Now()
	a.health.frameDone(now)
	a.fps.tick(now)
	mi, infer := a.gateFrame(ctx, f)
	if !infer {
		a.showSkipped(f)
		return
	}
	m := a.model
	t0 := time.Now()
	tr, err := m.pre.Run(f, m.input.Bytes())
	if err != nil {
		a.metrics.FrameDropped(metrics.DropPreprocess, 1)
		a.health.inferFailed(time.Now())
		a.log.Warn("frame skipped: preprocessing failed", "err", err)
		return
	}
	t1 := time.Now()
	a.metrics.ObserveStage(metrics.StagePreprocess, t1.Sub(t0))
	if err := m.ip.Invoke(); err != nil {
		a.metrics.FrameDropped(metrics.DropInfer, 1)
		a.health.inferFailed(time.Now())
		a.log.Error("frame skipped: inference failed", "err", err)
		a.frameFailed(m, err)
		return
	}
	t2 := time.Now()
	inferTime := t2.Sub(t1)
	a.metrics.ObserveStage(metrics.StageInfer, inferTime)
	res, err := m.decode(tr)
	if err != nil {
		a.metrics.FrameDropped(metrics.DropDecode, 1)
		a.health.inferFailed(time.Now())
		a.log.Error("frame skipped: decoding failed", "err", err)
		a.frameFailed(m, err)
		return
	}
	a.metrics.ObserveStage(metrics.StageDecode, time.Since(t2))
	a.health.inferOK()
	a.mot.lastDets = nil
	if res.Detections != nil {
		a.mot.lastDets = *res.Detections
	}
	if a.ota != nil {
		a.ota.FrameDone(m.ref.SHA256, nil) // counts for the health window of a new model
	}
	if a.shadow != nil {
		a.shadow.feed(f, res, inferTime)
	}
	rec := &Record{V: RecordVersion, Device: a.cfg.Device.ID, TS: f.Time().UTC(), Model: m.ref,
		Frame:   FrameSize{W: f.Width(), H: f.Height()},
		InferMS: float64(inferTime.Microseconds()) / 1000, Motion: mi, Result: res}
	if a.cfg.Snapshot.Enabled && res.Detections != nil && len(*res.Detections) > 0 {
		if jpg, err := a.snapshot(f, *res.Detections, true); err != nil {
			a.log.Warn("snapshot skipped", "err", err)
		} else {
			rec.SnapshotJPEG = jpg
		}
	}
	if req := a.snap.Swap(nil); req != nil {
		var dets []vision.Detection
		if res.Detections != nil {
			dets = *res.Detections
		}
		jpg, err := a.snapshot(f, dets, req.boxes)
		req.reply <- snapshotResult{jpg, err}
	}
	a.show(f, rec)
	a.frames.Add(1)
	a.metrics.FrameInferred()
	a.inferNanos.Store(int64(inferTime))
	if !a.firstFrame {
		a.firstFrame = true
		a.log.Info("pipeline running", "frame", fmt.Sprintf("%dx%d", f.Width(), f.Height()), "infer_ms", rec.InferMS)
	}
	rec.queued = time.Now()
	a.records <- rec
}

// frameFailed tells the updater that m failed on a frame: a new model in its health window is
// rolled back.
func (a *agent) frameFailed(m *model, err error) {
	if a.ota != nil {
		a.ota.FrameDone(m.ref.SHA256, err)
	}
}

// snapshot encodes f as a JPEG within the configured size, with the detections drawn if boxes.
func (a *agent) snapshot(f *camera.Frame, dets []vision.Detection, boxes bool) ([]byte, error) {
	var drawn []camera.Box
	if boxes {
		drawn = make([]camera.Box, len(dets))
		for i, d := range dets {
			drawn[i] = camera.Box{Label: fmt.Sprintf("%s %.2f", d.Label, d.Score)}
			drawn[i].Rect.Min.X, drawn[i].Rect.Min.Y = d.Box.X, d.Box.Y
			drawn[i].Rect.Max.X, drawn[i].Rect.Max.Y = d.Box.X+d.Box.W, d.Box.Y+d.Box.H
		}
	}
	return f.SnapshotJPEG(drawn, a.cfg.Snapshot.Quality, int(a.cfg.Snapshot.MaxBytes))
}

// record appends records to the outbox until the channel closes, taking whatever has queued up
// meanwhile in one batch (one transaction, one fsync). A failed append (full disk, I/O error)
// loses those records only: they are counted, reported, and the agent goes on.
func (a *agent) record() {
	var failing bool
	batch := make([]*Record, 0, cap(a.records))
	payloads := make([][]byte, cap(a.records))
	for rec := range a.records {
		batch = append(batch[:0], rec)
	gather:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-a.records:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		_, err := a.db.AppendBatch(context.Background(), len(batch), func(i int, seq uint64) ([]byte, error) {
			b, err := batch[i].encode(seq)
			payloads[i] = b
			return b, err
		})
		if err != nil {
			a.storeDrops.Add(uint64(len(batch)))
			a.metrics.RecordsNotStored(len(batch))
			a.health.storeError.Store(true)
			if !failing {
				a.log.Error("records not stored", "count", len(batch), "err", err)
				a.emit("warning", map[string]any{"warning": "store_error", "message": "records not stored", "error": err.Error()})
			}
			failing = true
			continue
		}
		if failing {
			a.log.Info("store writable again")
			failing = false
		}
		a.health.storeError.Store(false)
		stored := time.Now()
		for _, r := range batch {
			a.metrics.ObserveStage(metrics.StageRecord, stored.Sub(r.queued))
			a.published(r)
		}
		if a.opts.Print != nil {
			for _, p := range payloads[:len(batch)] {
				fmt.Fprintf(a.opts.Print, "%s\n", p)
			}
		}
	}
}
