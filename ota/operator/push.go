package operator

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	gosync "sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/ota"
)

// Report is what the operator knows about one targeted device.
type Report struct {
	Device string
	// Status is the device's latest model status about this operation; zero until it reports.
	Status ota.Status
	// Seen is set once the device has reported on this operation.
	Seen bool
}

// Done reports whether the device has concluded: committed, rejected, rolled back, or OTA off.
func (r Report) Done() bool {
	if !r.Seen {
		return false
	}
	switch r.Status.State {
	case ota.StateCommitted, ota.StateRejected, ota.StateRolledBack, ota.StateOff:
		return true
	}
	return false
}

// OK reports whether the device ended as the operation wanted: committed for an update,
// rolled back for a rollback.
func (r Report) OK(kind string) bool {
	if kind == ota.KindRollback {
		return r.Seen && r.Status.State == ota.StateRolledBack
	}
	return r.Seen && r.Status.State == ota.StateCommitted
}

// Result is the outcome of a push or a rollback, one Report per device, sorted by device.
type Result struct {
	Manifest *ota.Manifest
	Devices  []Report
}

// Outcome classifies a result: "ok" when every device ended as wanted, "failed" when one was
// rejected, rolled back (for an update) or has OTA off, "timeout" when one has not concluded;
// "none" when no device was found.
func (r Result) Outcome() string {
	if len(r.Devices) == 0 {
		return "none"
	}
	out := "ok"
	for _, d := range r.Devices {
		switch {
		case d.Done() && !d.OK(r.Manifest.Kind):
			return "failed"
		case !d.Done():
			out = "timeout"
		}
	}
	return out
}

// PushOptions describe a push.
type PushOptions struct {
	Prefix string // default "edge"
	// Model is the file the manifest describes; Envelope is the signed manifest (ota.Sign).
	Model    []byte
	Envelope []byte
	// Wait is how long to follow the devices after publishing (0: do not wait).
	Wait time.Duration
	// Discover is how long to collect the retained statuses that tell which devices belong to
	// the target groups before publishing (default 1 s).
	Discover time.Duration
	// Progress, if set, is called with the reports whenever a device's status changes.
	Progress func([]Report)
	// BroadcastInFlight bounds the chunks published and not yet acknowledged (default 32).
	BroadcastInFlight int
	Logger            *slog.Logger
}

// Push publishes a signed update: the manifest, retained, on each target's manifest topic; the
// chunks once on each target's chunk topic; then it answers the devices' requests for missing
// chunks and follows their model status until each has concluded or Wait has passed.
func Push(ctx context.Context, conn *Conn, o PushOptions) (Result, error) {
	env, err := ota.ParseEnvelope(o.Envelope)
	if err != nil {
		return Result{}, err
	}
	m, err := ota.ParseManifest(env.Manifest)
	if err != nil {
		return Result{}, err
	}
	if m.Kind != ota.KindUpdate {
		return Result{}, errors.New("push: not an update manifest")
	}
	if int64(len(o.Model)) != m.Size {
		return Result{}, fmt.Errorf("push: the model has %d bytes; the manifest says %d", len(o.Model), m.Size)
	}
	if o.Prefix == "" {
		o.Prefix = ota.DefaultTopicPrefix
	}
	if o.BroadcastInFlight <= 0 {
		o.BroadcastInFlight = 32
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f, err := startFollow(ctx, conn, o.Prefix, m, o.Discover, o.Progress)
	if err != nil {
		return Result{}, err
	}
	srv, err := NewServer(conn, ServerOptions{Prefix: o.Prefix, Models: map[string][]byte{m.SHA256: o.Model}, Logger: o.Logger})
	if err != nil {
		return Result{}, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Run(sctx) }()

	for _, topic := range manifestTopics(o.Prefix, m.Target) {
		if err := conn.Publish(ctx, topic, true, o.Envelope); err != nil {
			return f.result(), err
		}
	}
	if err := broadcast(ctx, conn, o.Prefix, m, o.Model, o.BroadcastInFlight, o.Logger); err != nil {
		return f.result(), err
	}
	o.Logger.Info("pushed", "manifest", m.ID, "name", m.Name, "version", m.Version, "chunks", m.ChunkCount)
	res := f.wait(ctx, o.Wait)
	stop()
	if err := <-serveErr; err != nil && ctx.Err() == nil {
		return res, err
	}
	return res, ctx.Err()
}

func manifestTopics(prefix string, t ota.Target) []string {
	var topics []string
	for _, d := range t.Devices {
		topics = append(topics, ota.DeviceTopic(prefix, d, "manifest"))
	}
	for _, g := range t.Groups {
		topics = append(topics, ota.GroupTopic(prefix, g, "manifest"))
	}
	return topics
}

// broadcast publishes every chunk once on each target's chunk topic. A chunk the broker does not
// acknowledge (the connection dropped under it) is not fatal: the devices ask for what they lack,
// and the push serves it.
func broadcast(ctx context.Context, conn *Conn, prefix string, m *ota.Manifest, model []byte, inFlight int, log *slog.Logger) error {
	var sha [32]byte
	if _, err := hex.Decode(sha[:], []byte(m.SHA256)); err != nil {
		return err
	}
	var topics []string
	for _, d := range m.Target.Devices {
		topics = append(topics, ota.DeviceTopic(prefix, d, "chunk"))
	}
	for _, g := range m.Target.Groups {
		topics = append(topics, ota.GroupTopic(prefix, g, "chunk"))
	}
	var window []mqtt.Token
	lost := 0
	settle := func(tok mqtt.Token) error {
		err := conn.ack(ctx, tok)
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err != nil {
			lost++
		}
		return nil
	}
	for i := range m.ChunkCount {
		msg := ota.ChunkMessage(model, sha, m.ChunkSize, i)
		for _, t := range topics {
			window = append(window, conn.c.Publish(t, 1, false, msg))
			for len(window) >= inFlight {
				if err := settle(window[0]); err != nil {
					return fmt.Errorf("broadcast: %w", err)
				}
				window = window[1:]
			}
		}
	}
	for _, tok := range window {
		if err := settle(tok); err != nil {
			return fmt.Errorf("broadcast: %w", err)
		}
	}
	if lost > 0 {
		log.Warn("broadcast: chunks not acknowledged by the broker; the devices will ask for them", "chunks", lost)
	}
	return nil
}

// follower tracks the targeted devices' model statuses for one manifest.
type follower struct {
	m        *ota.Manifest
	progress func([]Report)

	mu      gosync.Mutex
	devices map[string]*Report
	changed chan struct{}
}

// startFollow subscribes to every device's model status, learns the members of the target
// groups from the retained statuses (waiting up to discover for them), and from then on
// records every status about m.
func startFollow(ctx context.Context, conn *Conn, prefix string, m *ota.Manifest, discover time.Duration, progress func([]Report)) (*follower, error) {
	if discover <= 0 {
		discover = time.Second
	}
	f := &follower{m: m, progress: progress, devices: map[string]*Report{}, changed: make(chan struct{}, 1)}
	for _, d := range m.Target.Devices {
		f.devices[d] = &Report{Device: d}
	}
	if err := conn.Subscribe(ctx, ota.StatusFilter(prefix), f.receive); err != nil {
		return nil, err
	}
	// Retained statuses arrive right after the SUBACK; wait until they stop coming.
	quietUntil(ctx, f.changed, 200*time.Millisecond, discover)
	f.notify()
	return f, nil
}

func (f *follower) receive(topic string, payload []byte, retained bool) {
	var s ota.Status
	if json.Unmarshal(payload, &s) != nil || s.Device == "" {
		return
	}
	f.mu.Lock()
	r, known := f.devices[s.Device]
	member := f.m.Targets(s.Device, s.Groups)
	about := s.Update != nil && s.Update.Manifest == f.m.ID
	switch {
	case about:
	case member && !known:
		// A member of a target group that has not reported on this manifest yet (it may be
		// offline: it then counts as pending).
	default:
		f.mu.Unlock()
		return
	}
	if !known {
		r = &Report{Device: s.Device}
		f.devices[s.Device] = r
	}
	if about && !s.TS.Before(r.Status.TS) { // never go back to an older status
		r.Status, r.Seen = s, true
	}
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *follower) result() Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := Result{Manifest: f.m}
	for _, r := range f.devices {
		res.Devices = append(res.Devices, *r)
	}
	sort.Slice(res.Devices, func(i, j int) bool { return res.Devices[i].Device < res.Devices[j].Device })
	return res
}

func (f *follower) notify() {
	if f.progress != nil {
		f.progress(f.result().Devices)
	}
}

// wait follows until every device has concluded, or d has passed, or ctx ends.
func (f *follower) wait(ctx context.Context, d time.Duration) Result {
	if d <= 0 {
		return f.result()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		res := f.result()
		if len(res.Devices) > 0 && !slices.ContainsFunc(res.Devices, func(r Report) bool { return !r.Done() }) {
			return res
		}
		select {
		case <-ctx.Done():
			return res
		case <-timer.C:
			return res
		case <-f.changed:
			f.notify()
		}
	}
}

// quietUntil waits until no signal has come on c for quiet, or max has passed.
func quietUntil(ctx context.Context, c <-chan struct{}, quiet, max time.Duration) {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	q := time.NewTimer(quiet)
	defer q.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-q.C:
			return
		case <-c:
			q.Reset(quiet)
		}
	}
}

// SignUpdate builds and signs an update manifest for model with priv.
func SignUpdate(model []byte, priv ed25519.PrivateKey, o ota.UpdateOptions) (*ota.Manifest, []byte, error) {
	o.KeyID = ota.KeyID(priv.Public().(ed25519.PublicKey))
	m, err := ota.NewUpdate(model, o)
	if err != nil {
		return nil, nil, err
	}
	env, err := ota.Sign(m, priv)
	if err != nil {
		return nil, nil, err
	}
	return m, env, nil
}
