// Package hass announces the agent to Home Assistant with MQTT discovery: one device-based
// discovery payload on <prefix>/device/<id>/config holding a sensor per configured label (how
// many are in the latest frame), the last detection, frames per second, inference latency,
// backlog and model version. Entities are available while the agent's retained status topic
// says online. The payload is published (retained) on every connection and again whenever Home
// Assistant announces itself on <prefix>/status, so entities come back after a Home Assistant
// or broker restart; sensors dropped from the configuration are removed from the device, and with
// discovery turned off the retained payload is cleared, which removes the device.
//
// Wire a Discovery into the MQTT client with its Subscriptions and OnConnect, and feed it each
// frame's detections with Observe.
package hass

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/edge-agent/edge-agent/sync"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultPrefix        = "homeassistant"
	DefaultStateInterval = time.Second
)

// Config configures the discovery.
type Config struct {
	// Discovery publishes the device; false clears a device published earlier (ha.discovery).
	Discovery bool
	// Prefix is Home Assistant's discovery prefix.
	Prefix string
	// TopicPrefix and DeviceID are the agent's (mqtt.topic_prefix, device.id): the sensors read
	// <TopicPrefix>/<DeviceID>/status and the state topic below it.
	TopicPrefix string
	DeviceID    string
	// Name is the device's name in Home Assistant; default DeviceID.
	Name string
	// Labels get one count sensor each (model labels such as "person", "cat").
	Labels []string
	// AgentVersion is shown as the device's software version.
	AgentVersion string
	// ConfigurationURL, when set, is the device's link in Home Assistant (the status page, if
	// Home Assistant can reach it).
	ConfigurationURL string
	// StateInterval is the shortest time between two state publishes.
	StateInterval time.Duration
}

// Publisher publishes on any topic; *sync.Client implements it.
type Publisher interface {
	Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error
}

// PublisherFunc adapts a function to Publisher (the MQTT client is made after the Discovery,
// whose subscriptions it needs).
type PublisherFunc func(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error

// Publish calls f.
func (f PublisherFunc) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	return f(ctx, topic, qos, retain, payload)
}

// Detection is one detection of a frame, as Observe takes it.
type Detection struct {
	Label string
	Score float64
}

// Discovery publishes the discovery payload and the sensors' state. Its methods are safe for
// concurrent use.
type Discovery struct {
	cfg      Config
	pub      Publisher
	log      *slog.Logger
	objectID string
	topics   sync.Topics
	config   []byte              // the discovery payload
	comps    map[string]struct{} // its component ids
	labels   []labelSensor

	wake    chan struct{} // Observe changed the state
	cleared atomic.Bool   // discovery off: the empty payload went out

	mu      gosync.Mutex // guards the fields below
	state   State
	changed bool
}

type labelSensor struct {
	label, id string
}

// State is the JSON published on the state topic (retained).
type State struct {
	// Counts holds, for every configured label, how many the latest frame has.
	Counts map[string]int `json:"counts"`
	// Last is the latest frame's best detection of a configured label (of any label when none is
	// configured); nil before the first.
	Last *LastDetection `json:"last"`
}

// LastDetection is the latest detection.
type LastDetection struct {
	Label string    `json:"label"`
	Score float64   `json:"score"`
	TS    time.Time `json:"ts"`
}

var validObjectID = regexp.MustCompile(`[^a-zA-Z0-9_-]`)

// New validates cfg and builds the discovery payload. pub may be a PublisherFunc that forwards to
// a client made afterwards; it is not used before OnConnect.
func New(cfg Config, pub Publisher, log *slog.Logger) (*Discovery, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = sync.DefaultTopicPrefix
	}
	if cfg.Name == "" {
		cfg.Name = cfg.DeviceID
	}
	if cfg.StateInterval == 0 {
		cfg.StateInterval = DefaultStateInterval
	}
	switch {
	case cfg.DeviceID == "":
		return nil, errors.New("hass: no device id")
	case strings.ContainsAny(cfg.Prefix, "+#") || strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/"):
		return nil, fmt.Errorf("hass: discovery prefix %q is not a topic path", cfg.Prefix)
	case cfg.StateInterval < 0:
		return nil, errors.New("hass: negative state interval")
	case pub == nil:
		return nil, errors.New("hass: no publisher")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Discovery{
		cfg:      cfg,
		pub:      pub,
		log:      log.With("component", "hass"),
		objectID: validObjectID.ReplaceAllString(cfg.DeviceID, "_"),
		topics:   sync.TopicsFor(cfg.TopicPrefix, cfg.DeviceID),
		wake:     make(chan struct{}, 1),
	}
	seen := map[string]string{}
	for _, l := range cfg.Labels {
		id := "count_" + slug(l)
		switch {
		case strings.TrimSpace(l) == "" || !utf8.ValidString(l):
			return nil, fmt.Errorf("hass: label %q is empty or not UTF-8", l)
		case seen[id] != "":
			return nil, fmt.Errorf("hass: labels %q and %q give the same sensor id %s", seen[id], l, id)
		}
		seen[id] = l
		d.labels = append(d.labels, labelSensor{label: l, id: id})
	}
	d.state = State{Counts: d.zeroCounts()}
	var err error
	if d.config, d.comps, err = d.payload(); err != nil {
		return nil, err
	}
	return d, nil
}

// slug makes a label into an id part: lower-case letters, digits and underscores.
func slug(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	out := strings.TrimSuffix(b.String(), "_")
	if out == "" {
		// Labels without a single ASCII letter or digit still need a stable id.
		out = fmt.Sprintf("u%x", []byte(s))
	}
	return out
}

// ConfigTopic is the discovery topic, <prefix>/device/<device id>/config.
func (d *Discovery) ConfigTopic() string {
	return d.cfg.Prefix + "/device/" + d.objectID + "/config"
}

// StateTopic is where the label counts and the last detection are published,
// <topic prefix>/<device>/ha/state.
func (d *Discovery) StateTopic() string {
	return d.cfg.TopicPrefix + "/" + d.cfg.DeviceID + "/ha/state"
}

// BirthTopic is where Home Assistant announces itself, <prefix>/status.
func (d *Discovery) BirthTopic() string { return d.cfg.Prefix + "/status" }

// Config returns the discovery payload.
func (d *Discovery) Config() []byte { return append([]byte(nil), d.config...) }

// Subscriptions are the MQTT client's subscriptions for the discovery: Home Assistant's birth
// message, and the device's own retained discovery payload (to remove the sensors it has and the
// configuration no longer does). With discovery off there are none.
func (d *Discovery) Subscriptions() []sync.Subscription {
	if !d.cfg.Discovery {
		return nil
	}
	return []sync.Subscription{
		{Filter: d.BirthTopic(), QoS: 1, Handler: d.onBirth, Queue: 4},
		{Filter: d.ConfigTopic(), QoS: 1, Handler: d.onRetainedConfig, Queue: 4},
	}
}

// OnConnect runs for each MQTT connection (sync.Config.OnConnect): it publishes the discovery
// payload and the state, then the state as it changes, at most every StateInterval, until ctx
// ends. With discovery off it clears the retained payload once.
func (d *Discovery) OnConnect(ctx context.Context) {
	if !d.cfg.Discovery {
		if d.cleared.Load() {
			return
		}
		if err := d.pub.Publish(ctx, d.ConfigTopic(), 1, true, nil); err != nil {
			d.log.Warn("clearing the Home Assistant discovery payload", "topic", d.ConfigTopic(), "err", err)
			return
		}
		d.cleared.Store(true)
		d.log.Debug("Home Assistant discovery off: payload cleared", "topic", d.ConfigTopic())
		return
	}
	d.announce(ctx)
	timer := time.NewTimer(0)
	<-timer.C
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-d.wake:
		}
		if wait := d.cfg.StateInterval - time.Since(last); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
		d.publishState(ctx, false)
		last = time.Now()
	}
}

// announce publishes the discovery payload and the current state.
func (d *Discovery) announce(ctx context.Context) {
	if err := d.pub.Publish(ctx, d.ConfigTopic(), 1, true, d.config); err != nil {
		d.log.Warn("publishing the Home Assistant discovery payload", "topic", d.ConfigTopic(), "err", err)
		return
	}
	d.log.Debug("Home Assistant discovery published", "topic", d.ConfigTopic(), "sensors", len(d.comps))
	d.publishState(ctx, true)
}

// onBirth republishes when Home Assistant (re)starts. A retained birth message arrives on every
// subscription, right when OnConnect publishes anyway: only live ones count.
func (d *Discovery) onBirth(ctx context.Context, m sync.Message) {
	if m.Retained || strings.TrimSpace(string(m.Payload)) != "online" {
		return
	}
	d.log.Info("Home Assistant is online: publishing discovery again")
	d.announce(ctx)
}

// onRetainedConfig reads the payload the broker kept from an earlier run and removes the
// components it has that the current one does not, as Home Assistant documents: publish them
// with their platform only, then the payload without them.
func (d *Discovery) onRetainedConfig(ctx context.Context, m sync.Message) {
	if !m.Retained || len(m.Payload) == 0 {
		return // our own publishes echoed back, or nothing kept
	}
	var old struct {
		Components map[string]struct {
			Platform string `json:"platform"`
		} `json:"components"`
	}
	if err := json.Unmarshal(m.Payload, &old); err != nil {
		d.log.Debug("retained discovery payload is not ours", "err", err)
		return
	}
	var full map[string]any
	if err := json.Unmarshal(d.config, &full); err != nil {
		return
	}
	comps := full["components"].(map[string]any)
	removed := 0
	for id, c := range old.Components {
		if _, ok := d.comps[id]; !ok && c.Platform != "" {
			comps[id] = map[string]string{"platform": c.Platform}
			removed++
		}
	}
	if removed == 0 {
		return
	}
	b, err := json.Marshal(full)
	if err != nil {
		return
	}
	d.log.Info("removing Home Assistant sensors no longer configured", "count", removed)
	if err := d.pub.Publish(ctx, d.ConfigTopic(), 1, true, b); err != nil {
		d.log.Warn("removing Home Assistant sensors", "err", err)
		return
	}
	d.announce(ctx)
}

func (d *Discovery) zeroCounts() map[string]int {
	c := make(map[string]int, len(d.labels))
	for _, l := range d.labels {
		c[l.label] = 0
	}
	return c
}

// Observe takes the detections of a processed frame (captured at ts). It is cheap and never
// blocks: the state is published by OnConnect's loop.
func (d *Discovery) Observe(ts time.Time, dets []Detection) {
	if !d.cfg.Discovery {
		return
	}
	counts := d.zeroCounts()
	var best *Detection
	for i, det := range dets {
		_, configured := counts[det.Label]
		if configured {
			counts[det.Label]++
		}
		if (configured || len(d.labels) == 0) && (best == nil || det.Score > best.Score) {
			best = &dets[i]
		}
	}
	d.mu.Lock()
	changed := !equalCounts(counts, d.state.Counts)
	d.state.Counts = counts
	if best != nil {
		d.state.Last = &LastDetection{Label: best.Label, Score: best.Score, TS: ts.UTC()}
		changed = true
	}
	if changed {
		d.changed = true
	}
	d.mu.Unlock()
	if changed {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// publishState publishes the state if it changed since the last publish (or always, if force).
func (d *Discovery) publishState(ctx context.Context, force bool) {
	d.mu.Lock()
	if !d.changed && !force {
		d.mu.Unlock()
		return
	}
	b, err := json.Marshal(d.state)
	d.changed = false
	d.mu.Unlock()
	if err != nil {
		return
	}
	if err := d.pub.Publish(ctx, d.StateTopic(), 1, true, b); err != nil {
		if ctx.Err() == nil {
			d.log.Debug("publishing the Home Assistant state", "err", err)
		}
		d.mu.Lock()
		d.changed = true // try again with the next change
		d.mu.Unlock()
	}
}
