package ota

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// maxBadChunk is how many times one chunk may arrive with data that does not match its hash
// before the transfer is refused: a server that keeps sending wrong data is broken or hostile,
// and waiting would only hang the update.
const maxBadChunk = 3

// handleManifests handles the manifests received since the last call: verified ones oldest
// first, so that the newest wins.
func (u *Updater) handleManifests(ctx context.Context) {
	u.manifests.Lock()
	q := u.manQueue
	if len(q) == 0 {
		u.manifests.Unlock()
		return
	}
	u.manQueue = map[string][]byte{}
	u.manifests.Unlock()
	type verified struct {
		topic   string
		payload []byte
		m       *Manifest
	}
	var ok []verified
	for topic, p := range q {
		if m := u.verifyEnvelope(topic, p); m != nil {
			ok = append(ok, verified{topic, p, m})
		}
	}
	slices.SortFunc(ok, func(a, b verified) int { return a.m.Created.Compare(b.m.Created) })
	for _, v := range ok {
		u.handleManifest(ctx, v.topic, v.payload, v.m)
	}
}

// verifyEnvelope checks a manifest's signature. A rejection is reported once per payload (a
// retained manifest comes again on every connection) and does not disturb an update in
// progress.
func (u *Updater) verifyEnvelope(topic string, p []byte) *Manifest {
	if len(p) == 0 {
		return nil // an operator cleared the retained manifest
	}
	sum := sha256.Sum256(p)
	digest := hex.EncodeToString(sum[:16])
	if slices.Contains(u.recent, digest) {
		return nil
	}
	m, err := OpenEnvelope(p, u.cfg.TrustedKeys)
	if err == nil {
		return m
	}
	u.recent = append(u.recent, digest)
	if len(u.recent) > maxHandled {
		u.recent = u.recent[1:]
	}
	r := asRejection(err)
	u.log.Warn("update refused", "topic", topic, "check", r.Check, "reason", r.Err)
	if u.reg.Update == nil {
		o := &outcome{State: StateRejected, Check: r.Check, Reason: r.Error(), At: time.Now().UTC()}
		// Name the manifest it claims to be, so that the operator who pushed it sees why it was
		// refused; never the id of one this device has verified.
		if c := claimed(p); c.ID != "" && !u.reg.handled(c.ID) {
			o.Manifest, o.Name, o.Version, o.SHA256 = c.ID, c.Name, c.Version, c.SHA256
		}
		u.reg.Last = o
		u.save()
		u.publishStatus(true)
	}
	return nil
}

// claimed reads what an unverified envelope says about itself, for the status only.
func claimed(p []byte) (c struct{ ID, Name, Version, SHA256 string }) {
	env, err := ParseEnvelope(p)
	if err != nil {
		return c
	}
	var w struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Version string `json:"version"`
		SHA256  string `json:"sha256"`
	}
	if json.Unmarshal(env.Manifest, &w) != nil || len(w.ID) > 64 || !hexRE.MatchString(w.ID) {
		return c
	}
	trim := func(s string) string {
		if len(s) > maxNameLen || !utf8.ValidString(s) {
			return ""
		}
		return s
	}
	c.ID, c.Name, c.Version, c.SHA256 = w.ID, trim(w.Name), trim(w.Version), trim(w.SHA256)
	return c
}

func asRejection(err error) *Rejection {
	if r, ok := err.(*Rejection); ok {
		return r
	}
	return &Rejection{Check: CheckManifest, Err: err}
}

// handleManifest acts on a verified manifest.
func (u *Updater) handleManifest(ctx context.Context, topic string, p []byte, m *Manifest) {
	reg := u.reg
	if reg.handled(m.ID) || (u.man != nil && u.man.ID == m.ID) {
		return
	}
	if m.Created.Before(reg.LastCreated) {
		u.log.Info("manifest older than the newest one handled; ignored", "manifest", m.ID, "created", m.Created, "newest", reg.LastCreated)
		reg.markHandled(m.ID)
		u.save()
		return
	}
	if !m.Targets(u.cfg.DeviceID, u.cfg.Groups) {
		reg.markHandled(m.ID)
		r := reject(CheckTarget, "for devices %v and groups %v; this is device %s in groups %v",
			m.Target.Devices, m.Target.Groups, u.cfg.DeviceID, u.cfg.Groups)
		u.log.Warn("update refused", "manifest", m.ID, "topic", topic, "reason", r)
		if reg.Update == nil {
			reg.Last = u.outcomeFor(m, StateRejected, r)
		}
		u.save()
		u.publishStatus(true)
		return
	}
	if reg.Update != nil && reg.Update.Phase == phaseHealth {
		if m.Kind == KindRollback {
			reg.markHandled(m.ID)
			reg.LastCreated = m.Created
			u.rollback(ctx, &Rejection{Check: CheckRollback, Err: fmt.Errorf("requested by the operator (manifest %s)", m.ID)}, true, m.ID)
			return
		}
		// The model on trial finishes its window first; then this manifest is handled.
		u.log.Info("update waits for the health window of the model on trial", "manifest", m.ID)
		u.pending = p
		return
	}
	reg.markHandled(m.ID)
	reg.LastCreated = m.Created
	if m.Kind == KindRollback {
		u.handleRollback(ctx, m)
		return
	}
	u.startUpdate(ctx, p, m)
}

// startUpdate runs the checks that need no data and starts the transfer.
func (u *Updater) startUpdate(ctx context.Context, p []byte, m *Manifest) {
	reg := u.reg
	if reg.Update != nil {
		u.log.Info("update superseded by a newer manifest", "old", u.man.ID, "new", m.ID)
		u.cancelUpdate()
	}
	active := reg.Active
	u.log.Info("update offered", "manifest", m.ID, "name", m.Name, "version", m.Version, "sha256", m.SHA256, "size", m.Size)
	if m.SHA256 == active.SHA256 {
		reg.Last = u.outcomeFor(m, StateCommitted, nil)
		reg.Last.Reason = "already active"
		u.save()
		u.publishStatus(true)
		return
	}
	if cmp, ok := CompareVersions(m.Version, active.Version); ok && cmp <= 0 && !m.Rollback {
		var r *Rejection
		if cmp < 0 {
			r = reject(CheckVersion, "%s is older than the active %s; a downgrade needs the manifest's rollback flag (push --rollback)", m.Version, active.Version)
		} else {
			r = reject(CheckVersion, "%s is the active version, with other bytes; bump the version, or push --rollback", m.Version)
		}
		u.rejectEarly(m, r)
		return
	}
	if m.Size > u.cfg.MaxModelBytes {
		u.rejectEarly(m, reject(CheckSize, "%d bytes, more than ota.max_model_bytes (%d)", m.Size, u.cfg.MaxModelBytes))
		return
	}
	if m.Shadow != nil {
		if _, ok := u.rt.(Shadower); !ok {
			u.rejectEarly(m, reject(CheckShadow, "this agent cannot run a shadow model"))
			return
		}
	}
	// Room for the chunks and the assembled file, with ReserveBytes left for the outbox.
	if free, err := freeBytes(u.cfg.StateDir); err == nil {
		if need := 2*m.Size + u.cfg.ReserveBytes; free < uint64(need) {
			u.rejectEarly(m, reject(CheckDisk, "%d bytes free in %s; the transfer needs %d (twice the model, plus %d kept for the outbox)",
				free, u.cfg.StateDir, need, u.cfg.ReserveBytes))
			return
		}
	}
	reg.Update = &updateState{Envelope: p, Phase: phaseReceiving, Started: time.Now().UTC()}
	u.man = m
	if err := u.loadTransfer(); err != nil {
		u.finishRejected(reject(CheckDisk, "preparing the transfer: %v", err))
		return
	}
	if err := u.persist(); err != nil {
		u.finishRejected(reject(CheckDisk, "%v", err))
		return
	}
	now := time.Now()
	u.lastProgess, u.lastChunk, u.nextReq, u.reqFails = now, now, now, 0
	u.windowDone = false
	clear(u.outstanding)
	u.publishStatus(true)
	if u.haveN == m.ChunkCount {
		u.reg.Update.Phase = phaseVerifying
		u.save()
		u.verify(ctx)
	}
}

func (u *Updater) rejectEarly(m *Manifest, r *Rejection) {
	u.log.Warn("update refused", "manifest", m.ID, "name", m.Name, "version", m.Version, "reason", r)
	u.reg.Last = u.outcomeFor(m, StateRejected, r)
	u.save()
	u.publishStatus(true)
}

func (u *Updater) outcomeFor(m *Manifest, state string, r *Rejection) *outcome {
	o := &outcome{Manifest: m.ID, State: state, Name: m.Name, Version: m.Version, SHA256: m.SHA256, At: time.Now().UTC()}
	if r != nil {
		o.Check, o.Reason = r.Check, r.Error()
	}
	return o
}

// loadTransfer prepares the chunk bucket of the update and reads which chunks it holds.
func (u *Updater) loadTransfer() error {
	m := u.man
	have, err := u.db.prepareChunks(transferName(m.SHA256, m.ChunkSize), m.ChunkCount)
	if err != nil {
		return err
	}
	u.have = make([]bool, m.ChunkCount)
	u.haveN = 0
	for _, i := range have {
		if !u.have[i] {
			u.have[i] = true
			u.haveN++
		}
	}
	clear(u.bad)
	u.badTotal = 0
	return nil
}

// transferKey names the chunk bucket to keep at start: the one of an update still receiving or
// verifying.
func (u *Updater) transferKey() []byte {
	if up := u.reg.Update; up != nil && u.man != nil && (up.Phase == phaseReceiving || up.Phase == phaseVerifying) {
		return transferName(u.man.SHA256, u.man.ChunkSize)
	}
	return nil
}

// handleChunks stores the chunk in p and whatever else has queued, in one transaction.
func (u *Updater) handleChunks(ctx context.Context, p []byte) {
	var batch []Chunk
	in := map[int]bool{}
	if r := u.acceptChunk(p, in, &batch); r != nil {
		u.finishRejected(r)
		return
	}
drain:
	for n := 1; n < 64; n++ {
		select {
		case p := <-u.chunks:
			if r := u.acceptChunk(p, in, &batch); r != nil {
				u.finishRejected(r)
				return
			}
		default:
			break drain
		}
	}
	if len(batch) == 0 {
		return
	}
	if err := u.db.putChunks(transferName(u.man.SHA256, u.man.ChunkSize), batch); err != nil {
		u.finishRejected(reject(CheckDisk, "storing chunks: %v", err))
		return
	}
	u.crash("receiving.stored")
	now := time.Now()
	for _, c := range batch {
		u.have[c.Index] = true
		u.haveN++
		if u.outstanding[c.Index] {
			delete(u.outstanding, c.Index)
			if len(u.outstanding) == 0 {
				u.windowDone, u.nextReq = true, now // the window is answered: ask for the next at once
			}
		}
	}
	u.lastChunk, u.lastProgess, u.reqFails = now, now, 0
	if u.haveN < u.man.ChunkCount {
		u.publishStatus(false)
		return
	}
	u.log.Info("all chunks received", "manifest", u.man.ID, "chunks", u.man.ChunkCount, "duplicates", u.dups, "foreign", u.foreign, "bad", u.badTotal)
	u.reg.Update.Phase = phaseVerifying
	u.save()
	u.verify(ctx)
}

// acceptChunk checks one chunk message and appends it to batch; it returns a
// rejection that ends the transfer. Chunks of other transfers, duplicates and chunks whose data
// does not match their hash are dropped and counted.
func (u *Updater) acceptChunk(p []byte, in map[int]bool, batch *[]Chunk) *Rejection {
	c, err := ParseChunk(p)
	up, m := u.reg.Update, u.man
	if err != nil || up == nil || up.Phase != phaseReceiving || c.ModelSHA() != m.SHA256 || c.ChunkSize != m.ChunkSize || c.Index >= m.ChunkCount {
		u.foreign++
		return nil
	}
	if u.have[c.Index] || in[c.Index] {
		u.dups++
		return nil
	}
	sum := sha256.Sum256(c.Data)
	if hex.EncodeToString(sum[:]) != m.Chunks[c.Index] {
		u.bad[c.Index]++
		u.badTotal++
		u.log.Warn("chunk does not match its hash; dropped", "manifest", m.ID, "chunk", c.Index, "times", u.bad[c.Index])
		if u.bad[c.Index] >= maxBadChunk {
			return reject(CheckSHA256, "chunk %d of %d arrived %d times with data that does not match its hash in the manifest",
				c.Index, m.ChunkCount, u.bad[c.Index])
		}
		return nil
	}
	if want := m.ChunkLen(c.Index); len(c.Data) != want {
		// The data is what the signer hashed, but the signed size disagrees with it.
		return reject(CheckSize, "chunk %d holds %d bytes; the manifest's size %d makes it %d", c.Index, len(c.Data), m.Size, want)
	}
	in[c.Index] = true
	*batch = append(*batch, c)
	return nil
}

// requestMissing asks the chunk servers for missing chunks, once the broadcast has gone quiet,
// with backoff while nobody answers; and refuses a transfer that has stalled for StallTimeout.
func (u *Updater) requestMissing() {
	m := u.man
	if !u.connected || m == nil {
		return
	}
	now := time.Now()
	if now.Sub(u.lastProgess) > u.cfg.StallTimeout {
		u.finishRejected(reject(CheckTransfer, "no chunk for %s while connected; %d of %d chunks missing (is a push or `edge-agent model serve` running?)",
			u.cfg.StallTimeout, m.ChunkCount-u.haveN, m.ChunkCount))
		return
	}
	if now.Before(u.nextReq) || (!u.windowDone && now.Sub(u.lastChunk) < u.cfg.RequestIdle) {
		return
	}
	var missing []int
	for i, ok := range u.have {
		if !ok {
			missing = append(missing, i)
			if len(missing) == u.cfg.RequestWindow {
				break
			}
		}
	}
	if len(missing) == 0 {
		return
	}
	rs := ranges(missing)
	if len(rs) > MaxRequestRanges {
		rs = rs[:MaxRequestRanges]
	}
	req := Request{SHA256: m.SHA256, ChunkSize: m.ChunkSize, Ranges: rs, Manifest: m.ID}
	u.out.request(RequestTopic(u.cfg.TopicPrefix, u.cfg.DeviceID), MarshalRequest(req))
	clear(u.outstanding)
	for _, rg := range rs {
		for i := rg[0]; i <= rg[1]; i++ {
			u.outstanding[i] = true
		}
	}
	u.windowDone = false
	u.nextReq = now.Add(u.backoff(u.reqFails))
	u.reqFails++
	u.log.Debug("requested chunks", "manifest", m.ID, "count", req.Count(), "missing", m.ChunkCount-u.haveN, "attempt", u.reqFails)
}

// cancelUpdate drops the update in progress without an outcome of its own (a newer manifest or
// a rollback replaces it).
func (u *Updater) cancelUpdate() {
	if u.shadow != nil {
		u.stopShadow()
	}
	u.reg.Update, u.man = nil, nil
	u.shadowFig = nil
	if err := u.db.dropChunks(); err != nil {
		u.log.Warn("dropping chunks", "err", err)
	}
	u.gcFiles()
}

// finishRejected ends the update in progress with a rejection: the active model is untouched,
// the chunks and any candidate file are deleted.
func (u *Updater) finishRejected(r *Rejection) {
	m := u.man
	if m == nil {
		return
	}
	u.log.Warn("update rejected", "manifest", m.ID, "name", m.Name, "version", m.Version, "check", r.Check, "reason", r.Err)
	fig := u.shadowFig
	u.cancelUpdate()
	u.reg.Last = u.outcomeFor(m, StateRejected, r)
	u.reg.Last.Shadow = fig
	u.save()
	if err := u.db.compact(); err != nil {
		u.log.Warn("compacting ota.db", "err", err)
	}
	u.publishStatus(true)
}

// gcFiles deletes the files of the model store that no registry entry uses.
func (u *Updater) gcFiles() {
	keep := map[string]bool{mirrorPath(u.modelsDir): true}
	for _, e := range []*entry{u.reg.Active, u.reg.Previous, u.reg.Base} {
		if e != nil {
			keep[e.Path], keep[e.LabelsPath] = true, true
		}
	}
	if up := u.reg.Update; up != nil && up.Candidate != nil {
		keep[up.Candidate.Path], keep[up.Candidate.LabelsPath] = true, true
	}
	ents, err := os.ReadDir(u.modelsDir)
	if err != nil {
		return
	}
	for _, de := range ents {
		name := de.Name()
		path := filepath.Join(u.modelsDir, name)
		ours := strings.HasPrefix(name, ".tmp-") || strings.HasSuffix(name, ".tmp") ||
			(isSHA256(strings.TrimSuffix(strings.TrimSuffix(name, ".tflite"), ".labels")) && name != strings.TrimSuffix(name, filepath.Ext(name)))
		if !ours || keep[path] {
			continue
		}
		if err := os.Remove(path); err != nil {
			u.log.Warn("removing an unused model file", "path", path, "err", err)
		}
	}
}

// freeBytes returns the space available to an unprivileged writer on dir's file system.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
