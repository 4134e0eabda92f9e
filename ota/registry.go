package ota

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Model is a model file the agent can load, with what identifies it in records and statuses.
type Model struct {
	Name    string
	Version string
	SHA256  string
	Path    string // the .tflite file
	// LabelsPath is a label file (one per line) to use instead of the model's embedded labels;
	// empty when there is none.
	LabelsPath string
}

// Entry states in the registry.
const (
	entryBase      = "base"      // the model of the configuration (model.path)
	entryCommitted = "committed" // installed by an update that passed its health window
	entryTrial     = "trial"     // active, in its health window
	entryCandidate = "candidate" // verified, not active yet (shadow)
)

// entry is a model known to the registry.
type entry struct {
	Name       string    `json:"name,omitempty"`
	Version    string    `json:"version,omitempty"`
	SHA256     string    `json:"sha256"`
	Path       string    `json:"path"`
	LabelsPath string    `json:"labels_path,omitempty"`
	State      string    `json:"state"`
	Manifest   string    `json:"manifest,omitempty"` // the update that installed it
	Since      time.Time `json:"since,omitzero"`
}

func (e *entry) model() Model {
	return Model{Name: e.Name, Version: e.Version, SHA256: e.SHA256, Path: e.Path, LabelsPath: e.LabelsPath}
}

// Update phases, persisted so a restart resumes where the update was.
const (
	phaseReceiving = "receiving"
	phaseVerifying = "verifying"
	phaseShadow    = "shadow"
	phaseHealth    = "health"
)

// updateState is the update in progress.
type updateState struct {
	Envelope  []byte    `json:"envelope"` // the signed manifest, checked again at every start
	Phase     string    `json:"phase"`
	Started   time.Time `json:"started"`
	Candidate *entry    `json:"candidate,omitempty"` // from shadow on: the verified file in the model store
	// HealthStart is when the current health window began; HealthRestarts counts the starts of
	// the agent during it.
	HealthStart    time.Time `json:"health_start,omitzero"`
	HealthRestarts int       `json:"health_restarts,omitempty"`
	// Shadow holds the figures of a finished shadow run, for the status.
	Shadow *ShadowFigures `json:"shadow,omitempty"`
}

// outcome is how the last update ended, for the status topic.
type outcome struct {
	Manifest string         `json:"manifest,omitempty"`
	State    string         `json:"state"`
	Check    string         `json:"check,omitempty"`
	Reason   string         `json:"reason,omitempty"`
	Name     string         `json:"name,omitempty"`
	Version  string         `json:"version,omitempty"`
	SHA256   string         `json:"sha256,omitempty"`
	At       time.Time      `json:"at"`
	Shadow   *ShadowFigures `json:"shadow,omitempty"`
}

// registry is the persistent state: which model is active, which one is kept to return to, and
// the update in progress. Active is never nil once Open has run.
type registry struct {
	V        int          `json:"v"`
	Base     *entry       `json:"base"`
	Active   *entry       `json:"active"`
	Previous *entry       `json:"previous,omitempty"`
	Update   *updateState `json:"update,omitempty"`
	Last     *outcome     `json:"last,omitempty"`
	// LastCreated is the creation time of the newest verified manifest handled: older ones are
	// replays or superseded, and ignored.
	LastCreated time.Time `json:"last_created,omitzero"`
	// Handled lists the ids of the latest manifests handled, newest last.
	Handled []string `json:"handled,omitempty"`
}

const maxHandled = 64

func (r *registry) handled(id string) bool {
	for _, h := range r.Handled {
		if h == id {
			return true
		}
	}
	return false
}

func (r *registry) markHandled(id string) {
	if r.handled(id) {
		return
	}
	r.Handled = append(r.Handled, id)
	if n := len(r.Handled); n > maxHandled {
		r.Handled = append([]string(nil), r.Handled[n-maxHandled:]...)
	}
}

// mirror is models/registry.json: the active, previous and base entries, written atomically
// after each change, so that a device whose ota.db is damaged still knows which model files it
// has and which one was running.
type mirror struct {
	V        int    `json:"v"`
	Base     *entry `json:"base"`
	Active   *entry `json:"active"`
	Previous *entry `json:"previous,omitempty"`
}

func mirrorPath(modelsDir string) string { return filepath.Join(modelsDir, "registry.json") }

func writeMirror(modelsDir string, reg *registry) error {
	b, err := json.MarshalIndent(mirror{V: 1, Base: reg.Base, Active: reg.Active, Previous: reg.Previous}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(mirrorPath(modelsDir), append(b, '\n'))
}

func readMirror(modelsDir string) (*mirror, error) {
	b, err := os.ReadFile(mirrorPath(modelsDir))
	if err != nil {
		return nil, err
	}
	var m mirror
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", mirrorPath(modelsDir), err)
	}
	return &m, nil
}

// writeFileAtomic writes path through a synced temporary file, a rename and a directory sync.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// FileSHA256 returns the SHA-256 of a file in lowercase hex.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
