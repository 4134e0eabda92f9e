package agent

import (
	"encoding/json"
	"time"
)

// RecordVersion is the schema version carried in every record ("v").
const RecordVersion = 1

// Record is one prediction: the JSON payload stored in the outbox and published on
// <prefix>/<device>/predictions. Device and Seq identify it; consumers drop duplicates with them.
type Record struct {
	V      int       `json:"v"`
	Device string    `json:"device"`
	Seq    uint64    `json:"seq"`
	TS     time.Time `json:"ts"` // capture time, UTC
	Model  ModelRef  `json:"model"`
	Frame  FrameSize `json:"frame"`
	// InferMS is the time spent in the interpreter for this frame.
	InferMS float64 `json:"infer_ms"`
	// Classes is set for classification models, Detections (possibly empty) for detectors.
	Classes    []Class      `json:"classes,omitempty"`
	Detections *[]Detection `json:"detections,omitempty"`
	// SnapshotJPEG is the frame with the detections drawn, when snapshots are on and a detection
	// fired; base64 in JSON.
	SnapshotJPEG []byte `json:"snapshot_jpeg,omitempty"`
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

// Class is one classification result.
type Class struct {
	Index int     `json:"index"`
	Label string  `json:"label,omitempty"`
	Score float64 `json:"score"`
}

// Detection is one detected object, with its box in frame pixels.
type Detection struct {
	Label string  `json:"label,omitempty"`
	Class int     `json:"class"`
	Score float64 `json:"score"`
	Box   Box     `json:"box"`
}

// Box is an axis-aligned rectangle in pixels: top-left corner, width and height.
type Box struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// encode returns the record's JSON with its sequence number set.
func (r *Record) encode(seq uint64) ([]byte, error) {
	r.Seq = seq
	return json.Marshal(r)
}

// roundScore keeps records short and stable: scores to four decimals.
func roundScore(s float64) float64 {
	return float64(int64(s*1e4+0.5)) / 1e4
}
