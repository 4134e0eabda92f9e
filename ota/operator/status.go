package operator

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"github.com/edge-agent/edge-agent/ota"
)

// Row is one device in `edge-agent model status`.
type Row struct {
	Device string
	Groups []string
	// Online is the device's connection state from its retained <prefix>/<device>/status:
	// "online", "offline" or "" when unknown.
	Online string
	Active *ota.ModelRef
	// State, Reason and Update are the last update's state, its reason and what it was about.
	State, Reason string
	Update        *ota.ModelRef
	LastSeen      time.Time
}

// Collect reads the retained model statuses and device statuses of every device (of group,
// when set) and returns one row per device, sorted. It waits until the retained messages stop
// arriving, at most max.
func Collect(ctx context.Context, conn *Conn, prefix, group string, max time.Duration) ([]Row, error) {
	if prefix == "" {
		prefix = ota.DefaultTopicPrefix
	}
	var mu gosync.Mutex
	rows := map[string]*Row{}
	row := func(dev string) *Row {
		r, ok := rows[dev]
		if !ok {
			r = &Row{Device: dev}
			rows[dev] = r
		}
		return r
	}
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	err := conn.Subscribe(ctx, ota.StatusFilter(prefix), func(topic string, payload []byte, _ bool) {
		var s ota.Status
		if json.Unmarshal(payload, &s) != nil || s.Device == "" {
			return
		}
		mu.Lock()
		r := row(s.Device)
		r.Groups, r.Active, r.State, r.Reason, r.Update = s.Groups, s.Active, s.State, s.Reason, s.Update
		if s.TS.After(r.LastSeen) {
			r.LastSeen = s.TS
		}
		mu.Unlock()
		poke()
	})
	if err != nil {
		return nil, err
	}
	err = conn.Subscribe(ctx, prefix+"/+/status", func(topic string, payload []byte, _ bool) {
		dev := strings.TrimSuffix(strings.TrimPrefix(topic, prefix+"/"), "/status")
		var s struct {
			State string    `json:"state"`
			TS    time.Time `json:"ts"`
		}
		if !ota.ValidName(dev) || json.Unmarshal(payload, &s) != nil {
			return
		}
		mu.Lock()
		r := row(dev)
		r.Online = s.State
		if s.TS.After(r.LastSeen) {
			r.LastSeen = s.TS
		}
		mu.Unlock()
		poke()
	})
	if err != nil {
		return nil, err
	}
	quietUntil(ctx, changed, 300*time.Millisecond, max)
	mu.Lock()
	defer mu.Unlock()
	var out []Row
	for _, r := range rows {
		if group != "" && !slices.Contains(r.Groups, group) {
			continue
		}
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, ctx.Err()
}

// RollbackOptions describe a rollback.
type RollbackOptions struct {
	Prefix string
	Key    ed25519.PrivateKey
	Target ota.Target
	// FromSHA256 limits the rollback to devices running that model. Empty: the model of the
	// update manifest retained on the target's topics (so that a device that never installed it
	// is left alone); with none there, whatever each device runs.
	FromSHA256 string
	Wait       time.Duration
	Progress   func([]Report)
}

// Rollback publishes a signed rollback request, retained on each target's manifest topic (it
// replaces the update there, so that a device coming online later does not install it), and
// follows the devices until each has rolled back or refused, or Wait has passed.
func Rollback(ctx context.Context, conn *Conn, o RollbackOptions) (Result, error) {
	if o.Prefix == "" {
		o.Prefix = ota.DefaultTopicPrefix
	}
	from := o.FromSHA256
	if from == "" {
		var err error
		if from, err = retainedUpdate(ctx, conn, o.Prefix, o.Target); err != nil {
			return Result{}, err
		}
	}
	m, err := ota.NewRollback(o.Target, from, ota.KeyID(o.Key.Public().(ed25519.PublicKey)))
	if err != nil {
		return Result{}, err
	}
	env, err := ota.Sign(m, o.Key)
	if err != nil {
		return Result{}, err
	}
	f, err := startFollow(ctx, conn, o.Prefix, m, 0, o.Progress)
	if err != nil {
		return Result{}, err
	}
	for _, topic := range manifestTopics(o.Prefix, m.Target) {
		if err := conn.Publish(ctx, topic, true, env); err != nil {
			return f.result(), err
		}
	}
	return f.wait(ctx, o.Wait), ctx.Err()
}

// retainedUpdate returns the model of the update manifests retained on the target's topics, ""
// when there is none; differing ones are an error (name the model with FromSHA256).
func retainedUpdate(ctx context.Context, conn *Conn, prefix string, t ota.Target) (string, error) {
	var mu gosync.Mutex
	found := map[string]string{} // topic -> sha256
	changed := make(chan struct{}, 1)
	for _, topic := range manifestTopics(prefix, t) {
		err := conn.Subscribe(ctx, topic, func(topic string, payload []byte, retained bool) {
			env, err := ota.ParseEnvelope(payload)
			if err != nil {
				return
			}
			m, err := ota.ParseManifest(env.Manifest)
			if err != nil {
				return
			}
			mu.Lock()
			if m.Kind == ota.KindUpdate {
				found[topic] = m.SHA256
			} else {
				found[topic] = ""
			}
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		})
		if err != nil {
			return "", err
		}
	}
	quietUntil(ctx, changed, 300*time.Millisecond, 2*time.Second)
	mu.Lock()
	defer mu.Unlock()
	sha := ""
	for topic, s := range found {
		if s == "" {
			continue
		}
		if sha != "" && s != sha {
			return "", fmt.Errorf("the target's topics hold updates of different models (%s on %s); name the one to roll back with --from-sha256", s[:12], topic)
		}
		sha = s
	}
	return sha, nil
}
