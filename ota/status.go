package ota

import (
	"context"
	"encoding/json"
	"errors"
	gosync "sync"
	"time"

	"github.com/edge-agent/edge-agent/sync"
)

// States of the model status.
const (
	StateIdle       = "idle"        // no update handled yet
	StateOff        = "off"         // no trusted key configured
	StateReceiving  = "receiving"   // chunks arriving; see Progress
	StateVerifying  = "verifying"   // size, SHA-256 and the agent's Validator
	StateRejected   = "rejected"    // refused; Check and Reason say why, the active model is unchanged
	StateShadow     = "shadow"      // running beside the active model; see Shadow
	StateActivated  = "activated"   // running, in its health window; see Health
	StateCommitted  = "committed"   // passed its health window (or was already active)
	StateRolledBack = "rolled_back" // the previous model is back; Check and Reason say why
)

// Status is the retained payload of <prefix>/<device>/model/status.
type Status struct {
	V      int       `json:"v"`
	Device string    `json:"device"`
	Groups []string  `json:"groups,omitempty"`
	TS     time.Time `json:"ts"`
	// OTA is "on", or "off" with the reason in Reason.
	OTA   string `json:"ota"`
	State string `json:"state"`
	// Check and Reason explain a rejection or rollback (Reason starts with Check).
	Check  string `json:"check,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Update is the update the state is about.
	Update   *ModelRef       `json:"update,omitempty"`
	Progress *Progress       `json:"progress,omitempty"`
	Shadow   *ShadowFigures  `json:"shadow,omitempty"`
	Health   *HealthProgress `json:"health,omitempty"`
	// Active is the model running now, Previous the one kept to return to.
	Active   *ModelRef `json:"active"`
	Previous *ModelRef `json:"previous,omitempty"`
}

// ModelRef identifies a model, and the manifest that brought it.
type ModelRef struct {
	Manifest string    `json:"manifest,omitempty"`
	Name     string    `json:"name,omitempty"`
	Version  string    `json:"version,omitempty"`
	SHA256   string    `json:"sha256,omitempty"`
	Since    time.Time `json:"since,omitzero"`
}

// Progress is a transfer's progress.
type Progress struct {
	Chunks      int    `json:"chunks"`
	ChunksTotal int    `json:"chunks_total"`
	Bytes       int64  `json:"bytes"`
	Size        int64  `json:"size"`
	BadChunks   int    `json:"bad_chunks,omitempty"`
	Dropped     uint64 `json:"dropped,omitempty"` // chunks that arrived faster than they could be stored
}

// HealthProgress is a health window's progress.
type HealthProgress struct {
	Frames   int       `json:"frames"`
	Of       int       `json:"of"`
	Deadline time.Time `json:"deadline"`
	Restarts int       `json:"restarts,omitempty"`
}

func ref(e *entry) *ModelRef {
	if e == nil {
		return nil
	}
	return &ModelRef{Manifest: e.Manifest, Name: e.Name, Version: e.Version, SHA256: e.SHA256, Since: e.Since}
}

// buildStatus builds the status from the state; the caller holds mu (or is Open).
func (u *Updater) buildStatus() *Status {
	reg := u.reg
	s := &Status{V: 1, Device: u.cfg.DeviceID, Groups: u.cfg.Groups, TS: time.Now().UTC(), OTA: "on",
		Active: ref(reg.Active), Previous: ref(reg.Previous), State: StateIdle}
	if l := reg.Last; l != nil {
		s.State, s.Check, s.Reason = l.State, l.Check, l.Reason
		s.Update = &ModelRef{Manifest: l.Manifest, Name: l.Name, Version: l.Version, SHA256: l.SHA256}
		s.Shadow = l.Shadow
	}
	if up, m := reg.Update, u.man; up != nil && m != nil {
		s.Check, s.Reason, s.Shadow = "", "", nil
		s.Update = &ModelRef{Manifest: m.ID, Name: m.Name, Version: m.Version, SHA256: m.SHA256}
		switch up.Phase {
		case phaseReceiving:
			s.State = StateReceiving
			bytes := int64(u.haveN) * int64(m.ChunkSize)
			if u.haveN > 0 && u.have[m.ChunkCount-1] {
				bytes += int64(m.ChunkLen(m.ChunkCount-1) - m.ChunkSize)
			}
			s.Progress = &Progress{Chunks: u.haveN, ChunksTotal: m.ChunkCount, Bytes: bytes, Size: m.Size,
				BadChunks: u.badTotal, Dropped: u.dropped.Load()}
		case phaseVerifying:
			s.State = StateVerifying
		case phaseShadow:
			s.State, s.Shadow = StateShadow, u.shadowFig
		case phaseHealth:
			frames, _ := u.healthSpec()
			s.State, s.Shadow = StateActivated, u.shadowFig
			s.Health = &HealthProgress{Frames: int(min(u.healthOK.Load(), int64(frames))), Of: frames,
				Deadline: u.healthDue.UTC(), Restarts: up.HealthRestarts}
		}
	}
	if len(u.cfg.TrustedKeys) == 0 {
		s.OTA = "off"
		if reg.Update == nil {
			s.State, s.Check, s.Reason = StateOff, CheckSignature, errNoKeys.Error()
		}
	}
	return s
}

func (u *Updater) refreshView() { u.view.Store(u.buildStatus()) }

// Status returns the current status.
func (u *Updater) Status() Status { return *u.view.Load() }

// StatusInfo returns the fields the agent's device status (<prefix>/<device>/status) should
// carry, for sync.StatusInfo.Extra: the active model's version and SHA-256 and the update state.
func (u *Updater) StatusInfo() map[string]any {
	s := u.view.Load()
	ota := map[string]any{"state": s.State, "enabled": s.OTA == "on"}
	if s.Update != nil && s.Update.Manifest != "" {
		ota["manifest"] = s.Update.Manifest
	}
	if s.Reason != "" {
		ota["reason"] = s.Reason
	}
	if p := s.Progress; p != nil && p.Size > 0 {
		ota["progress_pct"] = float64(p.Bytes*1000/p.Size) / 10
	}
	return map[string]any{"model_version": s.Active.Version, "model_sha256": s.Active.SHA256, "ota": ota}
}

// publishStatus refreshes the status and publishes it: at once when force is set or the state
// changed, otherwise at most once a second (progress).
func (u *Updater) publishStatus(force bool) {
	prev := u.view.Load()
	u.refreshView()
	if u.out == nil {
		return
	}
	now := time.Now()
	cur := u.view.Load()
	if !force && prev != nil && prev.State == cur.State && now.Sub(u.lastPublish) < time.Second {
		u.statusDirty = true // tick publishes it when the second is over
		return
	}
	u.lastPublish, u.statusDirty = now, false
	b, err := json.Marshal(cur)
	if err != nil {
		u.log.Error("encoding the model status", "err", err)
		return
	}
	u.out.status(cur.State, b)
}

// statusOut publishes from its own goroutine, so that a slow broker never holds up the updater.
// Statuses go out in order, except that a progress update replaces the one before it when that
// has the same state and has not gone out yet; chunk requests go out as they come.
type statusOut struct {
	u     *Updater
	mu    gosync.Mutex
	queue []queued // statuses not yet published, oldest first
	seq   uint64
	reqs  []outMsg
	wake  chan struct{}
	topic string
}

type queued struct {
	state   string
	payload []byte
	seq     uint64 // changes when payload is replaced
}

type outMsg struct {
	topic   string
	payload []byte
}

// maxQueued bounds the statuses waiting for a connection; the oldest go first.
const maxQueued = 16

func newStatusOut(u *Updater) *statusOut {
	return &statusOut{u: u, wake: make(chan struct{}, 1), topic: StatusTopic(u.cfg.TopicPrefix, u.cfg.DeviceID)}
}

func (o *statusOut) status(state string, b []byte) {
	o.mu.Lock()
	o.seq++
	if n := len(o.queue); n > 0 && o.queue[n-1].state == state {
		o.queue[n-1].payload, o.queue[n-1].seq = b, o.seq
	} else {
		o.queue = append(o.queue, queued{state, b, o.seq})
		if len(o.queue) > maxQueued {
			o.queue = o.queue[1:]
		}
	}
	o.mu.Unlock()
	signal(o.wake)
}

// request queues a chunk request; requests that cannot go out at once are dropped (the updater
// asks again after its backoff).
func (o *statusOut) request(topic string, b []byte) {
	o.mu.Lock()
	if len(o.reqs) < 4 {
		o.reqs = append(o.reqs, outMsg{topic, b})
	}
	o.mu.Unlock()
	signal(o.wake)
}

func (o *statusOut) run(ctx context.Context, pub Publisher) {
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			o.flush(pub)
			return
		case <-o.wake:
		case <-retry.C:
		}
		o.mu.Lock()
		reqs := o.reqs
		o.reqs = nil
		o.mu.Unlock()
		for _, r := range reqs {
			if err := o.publish(ctx, pub, r.topic, false, r.payload); err != nil {
				o.u.log.Debug("chunk request not sent", "err", err)
			}
		}
		for {
			o.mu.Lock()
			if len(o.queue) == 0 {
				o.mu.Unlock()
				break
			}
			q := o.queue[0]
			o.mu.Unlock()
			if err := o.publish(ctx, pub, o.topic, true, q.payload); err != nil {
				if !errors.Is(err, sync.ErrNotConnected) && ctx.Err() == nil {
					o.u.log.Debug("model status not published", "err", err)
				}
				break // kept for the next attempt
			}
			o.mu.Lock()
			if len(o.queue) > 0 && o.queue[0].seq == q.seq {
				o.queue = o.queue[1:]
			}
			o.mu.Unlock()
		}
	}
}

// flush publishes the latest status on shutdown, briefly.
func (o *statusOut) flush(pub Publisher) {
	o.mu.Lock()
	var last []byte
	if n := len(o.queue); n > 0 {
		last = o.queue[n-1].payload
	}
	o.mu.Unlock()
	if last == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = o.publish(ctx, pub, o.topic, true, last)
}

func (o *statusOut) publish(ctx context.Context, pub Publisher, topic string, retain bool, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pub.Publish(ctx, topic, 1, retain, b)
}
