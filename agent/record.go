package agent

import (
	"encoding/json"
	"time"

	"github.com/edge-agent/edge-agent/tflite/vision"
)

// RecordVersion is the schema version carried in every record ("v").
const RecordVersion = 1

// Record is one prediction: the JSON payload stored in the outbox and published on
// <prefix>/<device>/predictions. Device and Seq identify it; consumers drop duplicates with them.
type Record struct {
	V      int    `json:"v"`
	Device string `json:"device"`
	// Seq is the record's number in the outbox, from 1; a prediction over HTTP has none.
	Seq   uint64    `json:"seq,omitempty"`
	TS    time.Time `json:"ts"` // capture time, UTC
	Model ModelRef  `json:"model"`
	Frame FrameSize `json:"frame"`
	// InferMS is the time spent in the interpreter for this frame.
	InferMS float64 `json:"infer_ms"`
	// Motion is what the motion pass made of the frame, when it ran (motion gating on, or a
	// camera or stream, whose health it watches).
	Motion *MotionInfo `json:"motion,omitempty"`
	// Result is the decoded output, the same as `edge-agent infer --json` prints: classes for
	// classification models, detections (possibly empty) for detectors.
	vision.Result
	// SnapshotJPEG is the frame with the detections drawn, when snapshots are on and a detection
	// fired; base64 in JSON.
	SnapshotJPEG []byte `json:"snapshot_jpeg,omitempty"`

	// queued is when the capture loop handed the record to the recorder.
	queued time.Time
}

// MotionInfo is a record's "motion" object.
type MotionInfo struct {
	// Area is the fraction of the frame (outside the mask) that differed from the background,
	// 0 to 1 (1 for a scene change).
	Area float64 `json:"area"`
	// Trigger is why the frame was inferred, with gating on: start, motion, post_motion,
	// scene_change, heartbeat; or snapshot (a snapshot command waited for a frame) or
	// model_update (a model update was checked on the frames: health window, shadow run)
	// for frames the gate skipped.
	Trigger string `json:"trigger,omitempty"`
}

// ModelRef identifies the model that produced a record.
type ModelRef struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	SHA256  string `json:"sha256"`
}

// FrameSize is the captured frame's size in pixels.
type FrameSize struct {
	W int `json:"w"`
	H int `json:"h"`
}

// encode returns the record's JSON with its sequence number set.
func (r *Record) encode(seq uint64) ([]byte, error) {
	r.Seq = seq
	return json.Marshal(r)
}
