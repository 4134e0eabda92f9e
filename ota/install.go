package ota

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// verify assembles the received chunks into the model store and checks the result: size,
// SHA-256, then the agent's Validator. Each step can be repeated after a crash: the chunks stay
// stored until the candidate is recorded in the registry.
func (u *Updater) verify(ctx context.Context) {
	m, up := u.man, u.reg.Update
	u.publishStatus(true)
	final := filepath.Join(u.modelsDir, m.SHA256+".tflite")
	labels := ""
	if len(m.Labels) > 0 {
		labels = filepath.Join(u.modelsDir, m.SHA256+".labels")
	}
	if sum, err := FileSHA256(final); err != nil || sum != m.SHA256 {
		if r := u.assemble(final); r != nil {
			if r.Check == "" { // chunks lost (the state was damaged): fetch them again
				u.log.Warn("stored chunks incomplete; receiving again", "manifest", m.ID, "err", r.Err)
				up.Phase = phaseReceiving
				if err := u.loadTransfer(); err != nil {
					u.finishRejected(reject(CheckDisk, "preparing the transfer: %v", err))
					return
				}
				u.save()
				u.publishStatus(true)
				return
			}
			u.finishRejected(r)
			return
		}
	}
	if labels != "" {
		if err := writeFileAtomic(labels, []byte(strings.Join(m.Labels, "\n")+"\n")); err != nil {
			u.finishRejected(reject(CheckDisk, "writing labels: %v", err))
			return
		}
	}
	cand := &entry{Name: m.Name, Version: m.Version, SHA256: m.SHA256, Path: final, LabelsPath: labels,
		State: entryCandidate, Manifest: m.ID, Since: time.Now().UTC()}
	u.log.Info("validating the new model", "manifest", m.ID, "name", m.Name, "version", m.Version)
	if err := u.rt.Validate(ctx, cand.model()); err != nil {
		if ctx.Err() != nil {
			return // shutting down: verify again at the next start
		}
		u.finishRejected(&Rejection{Check: CheckValidate, Err: err})
		return
	}
	up.Candidate = cand
	if m.Shadow != nil {
		up.Phase = phaseShadow
	}
	u.save()
	u.crash("verify.done")
	if err := u.db.dropChunks(); err != nil {
		u.log.Warn("dropping chunks", "err", err)
	}
	if err := u.db.compact(); err != nil {
		u.log.Warn("compacting ota.db", "err", err)
	}
	if m.Shadow != nil {
		u.startShadow(ctx)
		return
	}
	u.activate(ctx)
}

// assemble writes the stored chunks, in order, to a temporary file, checks its size and hash,
// and renames it to final. A Rejection without a Check means chunks are missing.
func (u *Updater) assemble(final string) *Rejection {
	m := u.man
	tmp := filepath.Join(u.modelsDir, ".tmp-"+m.SHA256)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return reject(CheckDisk, "%v", err)
	}
	defer os.Remove(tmp) // a no-op after the rename
	h := sha256.New()
	var n int64
	var writeErr error
	err = u.db.eachChunk(transferName(m.SHA256, m.ChunkSize), m.ChunkCount, func(_ int, data []byte) error {
		h.Write(data)
		n += int64(len(data))
		if _, err := f.Write(data); err != nil {
			writeErr = err
			return err
		}
		return nil
	})
	if err == nil {
		if err = f.Sync(); err != nil {
			writeErr = err
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err, writeErr = cerr, cerr
	}
	switch {
	case writeErr != nil:
		return reject(CheckDisk, "writing the model: %v", writeErr)
	case errors.Is(err, errDamaged):
		return reject(CheckDisk, "%v", err)
	case err != nil:
		return &Rejection{Err: err}
	}
	u.crash("verify.written")
	if n != m.Size {
		return reject(CheckSize, "the assembled file has %d bytes; the manifest says %d", n, m.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != m.SHA256 {
		return reject(CheckSHA256, "the assembled file hashes to %s; the manifest says %s", sum, m.SHA256)
	}
	if err := os.Rename(tmp, final); err != nil {
		return reject(CheckDisk, "%v", err)
	}
	if err := syncDir(u.modelsDir); err != nil {
		return reject(CheckDisk, "%v", err)
	}
	u.crash("verify.renamed")
	return nil
}

// activate makes the candidate the active model: the registry first (so a crash from here on
// restarts with the new model in its health window), then the agent's swap.
func (u *Updater) activate(ctx context.Context) {
	reg, up := u.reg, u.reg.Update
	cand := up.Candidate
	prev, prevPrev := reg.Active, reg.Previous
	trial := *cand
	trial.State, trial.Since = entryTrial, time.Now().UTC()
	reg.Active = &trial
	if prev.SHA256 != cand.SHA256 {
		reg.Previous = prev
	}
	up.Phase, up.HealthStart, up.HealthRestarts = phaseHealth, time.Now().UTC(), 0
	if err := u.persist(); err != nil {
		reg.Active, reg.Previous, up.Phase = prev, prevPrev, phaseVerifying
		u.finishRejected(reject(CheckDisk, "%v", err))
		return
	}
	u.crash("activate.saved")
	u.armHealth()
	u.log.Info("activating the new model", "manifest", u.man.ID, "name", cand.Name, "version", cand.Version)
	if err := u.rt.Activate(ctx, trial.model()); err != nil {
		if ctx.Err() != nil {
			return // shutting down: the next start loads the model on trial
		}
		u.rollback(ctx, &Rejection{Check: CheckActivate, Err: err}, false, "")
		return
	}
	u.crash("activate.done")
	u.publishStatus(true)
}

// healthSpec returns the health window of the update in progress.
func (u *Updater) healthSpec() (int, time.Duration) {
	frames, timeout := u.cfg.HealthFrames, u.cfg.HealthTimeout
	if u.man != nil && u.man.Health != nil {
		if u.man.Health.Frames > 0 {
			frames = u.man.Health.Frames
		}
		if u.man.Health.TimeoutS > 0 {
			timeout = time.Duration(u.man.Health.TimeoutS) * time.Second
		}
	}
	return frames, timeout
}

// armHealth starts counting the frames of the model on trial.
func (u *Updater) armHealth() {
	frames, timeout := u.healthSpec()
	u.healthNeed.Store(int64(frames))
	u.healthDue = u.reg.Update.HealthStart.Add(timeout)
	u.healthOK.Store(0)
	u.healthErr.Store(nil)
	sha := u.reg.Active.SHA256
	u.trialSHA.Store(&sha)
}

// checkHealth concludes the health window when it can.
func (u *Updater) checkHealth(ctx context.Context) {
	up := u.reg.Update
	if up == nil || up.Phase != phaseHealth {
		return
	}
	frames, timeout := u.healthSpec()
	ok := u.healthOK.Load()
	switch e := u.healthErr.Load(); {
	case e != nil:
		u.rollback(ctx, reject(CheckHealth, "inference failed after %d good frames: %s", ok, *e), true, "")
	case ok >= int64(frames):
		u.commit()
	case time.Now().After(u.healthDue):
		u.rollback(ctx, reject(CheckHealth, "%d of %d frames inferred within %s", ok, frames, timeout), true, "")
	default:
		u.publishStatus(false)
	}
}

// commit ends the health window successfully.
func (u *Updater) commit() {
	reg := u.reg
	u.trialSHA.Store(nil)
	a := *reg.Active
	a.State = entryCommitted
	reg.Active = &a
	m := u.man
	reg.Last = u.outcomeFor(m, StateCommitted, nil)
	reg.Last.Shadow = u.shadowFig
	reg.Update, u.man, u.shadowFig = nil, nil, nil
	u.save()
	u.crash("commit.saved")
	u.log.Info("new model committed", "manifest", m.ID, "name", a.Name, "version", a.Version, "sha256", a.SHA256)
	u.gcFiles()
	u.publishStatus(true)
	u.afterConclusion()
}

// rollback restores the previous model after the model on trial failed (or an operator asked):
// the registry first, then, if the agent runs the failed model, the agent's swap back.
func (u *Updater) rollback(ctx context.Context, r *Rejection, swap bool, manifest string) {
	u.trialSHA.Store(nil)
	u.rollbackRegistry(r)
	if manifest != "" {
		u.reg.Last.Manifest = manifest
	}
	u.save()
	u.crash("rollback.saved")
	u.log.Warn("new model rolled back", "check", r.Check, "reason", r.Err, "restored", u.reg.Active.Name, "version", u.reg.Active.Version)
	if swap {
		if err := u.rt.Activate(ctx, u.reg.Active.model()); err != nil && ctx.Err() == nil {
			u.log.Error("switching back to the previous model failed; it is loaded at the next start", "err", err)
			u.reg.Last.Reason += fmt.Sprintf("; switching back failed (%v): the previous model is loaded at the next start", err)
			u.save()
		}
	}
	u.gcFiles()
	u.publishStatus(true)
	u.afterConclusion()
}

// rollbackRegistry makes the previous model (or the base) active again in the registry and
// records why.
func (u *Updater) rollbackRegistry(r *Rejection) {
	reg := u.reg
	failed := reg.Active
	prev := reg.Previous
	if prev == nil || prev.SHA256 == failed.SHA256 {
		prev = reg.Base
	}
	reg.Active, reg.Previous = prev, nil
	reg.Last = &outcome{Manifest: failed.Manifest, State: StateRolledBack, Check: r.Check, Reason: r.Error(),
		Name: failed.Name, Version: failed.Version, SHA256: failed.SHA256, At: time.Now().UTC(), Shadow: u.shadowFig}
	reg.Update, u.man, u.shadowFig = nil, nil, nil
	u.trialSHA.Store(nil)
}

// handleRollback applies a rollback manifest outside a health window.
func (u *Updater) handleRollback(ctx context.Context, m *Manifest) {
	reg := u.reg
	// done records the outcome; from is the model rolled back (or not).
	done := func(state string, r *Rejection, from *ModelRef) {
		reg.Last = &outcome{Manifest: m.ID, State: state, Check: r.Check, Reason: r.Error(), At: time.Now().UTC()}
		if from != nil {
			reg.Last.Name, reg.Last.Version, reg.Last.SHA256 = from.Name, from.Version, from.SHA256
		}
		u.save()
		u.gcFiles()
		u.publishStatus(true)
	}
	if reg.Update != nil && (m.FromSHA256 == "" || u.man.SHA256 == m.FromSHA256) {
		// The update being rolled back has not been activated here yet: cancel it.
		from := &ModelRef{Name: u.man.Name, Version: u.man.Version, SHA256: u.man.SHA256}
		u.cancelUpdate()
		u.log.Info("update cancelled by a rollback before activation", "rollback", m.ID)
		done(StateRolledBack, reject(CheckRollback, "update cancelled before activation (manifest %s)", m.ID), from)
		return
	}
	a := reg.Active
	if m.FromSHA256 != "" && a.SHA256 != m.FromSHA256 {
		done(StateRejected, reject(CheckRollback, "model %s is not active here (active: %s %s)", m.FromSHA256[:12], a.Name, a.Version), nil)
		return
	}
	prev := reg.Previous
	if prev == nil {
		done(StateRejected, reject(CheckRollback, "no previous model to return to"), nil)
		return
	}
	if err := u.rt.Activate(ctx, prev.model()); err != nil {
		done(StateRejected, reject(CheckRollback, "the previous model does not activate: %v", err), nil)
		return
	}
	reg.Active, reg.Previous = prev, nil
	u.log.Info("rolled back on request", "from", a.Name, "from_version", a.Version, "to", prev.Name, "to_version", prev.Version)
	done(StateRolledBack, reject(CheckRollback, "requested by the operator (manifest %s)", m.ID), ref(a))
}

// afterConclusion handles a manifest that waited for the health window.
func (u *Updater) afterConclusion() {
	p := u.pending
	if p == nil {
		return
	}
	u.pending = nil
	u.manifests.Lock()
	if _, newer := u.manQueue["pending"]; !newer {
		u.manQueue["pending"] = p
	}
	u.manifests.Unlock()
	signal(u.manWake)
}
