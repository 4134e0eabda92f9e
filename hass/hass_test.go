package hass

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
)

// payloadDoc is the discovery payload as Home Assistant reads it.
type payloadDoc struct {
	Device struct {
		Identifiers []string `json:"identifiers"`
		Name        string   `json:"name"`
		SWVersion   string   `json:"sw_version"`
		URL         string   `json:"configuration_url"`
	} `json:"device"`
	Origin struct {
		Name string `json:"name"`
	} `json:"origin"`
	Availability []struct {
		Topic         string `json:"topic"`
		ValueTemplate string `json:"value_template"`
	} `json:"availability"`
	Components map[string]map[string]any `json:"components"`
}

func parsePayload(t *testing.T, b []byte) payloadDoc {
	t.Helper()
	var p payloadDoc
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return p
}

func nopPublisher() Publisher {
	return PublisherFunc(func(context.Context, string, byte, bool, []byte) error { return nil })
}

func newDiscovery(t *testing.T, cfg Config) *Discovery {
	t.Helper()
	d, err := New(cfg, nopPublisher(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPayload(t *testing.T) {
	d := newDiscovery(t, Config{Discovery: true, DeviceID: "pi-01.garden", Name: "Garden camera", TopicPrefix: "edge",
		Labels: []string{"person", "cat", "teddy bear"}, AgentVersion: "v1.4.0", ConfigurationURL: "http://pi-01.local:8080/"})
	if got := d.ConfigTopic(); got != "homeassistant/device/pi-01_garden/config" {
		t.Errorf("config topic %q", got)
	}
	if got := d.StateTopic(); got != "edge/pi-01.garden/ha/state" {
		t.Errorf("state topic %q", got)
	}
	p := parsePayload(t, d.Config())
	if !slices.Equal(p.Device.Identifiers, []string{"edge_agent_pi-01_garden"}) || p.Device.Name != "Garden camera" ||
		p.Device.SWVersion != "v1.4.0" || p.Device.URL != "http://pi-01.local:8080/" || p.Origin.Name != "edge-agent" {
		t.Errorf("device/origin: %+v %+v", p.Device, p.Origin)
	}
	if len(p.Availability) != 1 || p.Availability[0].Topic != "edge/pi-01.garden/status" {
		t.Errorf("availability %+v", p.Availability)
	}
	want := map[string]string{ // component -> state topic
		"count_person": d.StateTopic(), "count_cat": d.StateTopic(), "count_teddy_bear": d.StateTopic(),
		"last_detection": d.StateTopic(),
		"fps":            "edge/pi-01.garden/status", "inference_latency": "edge/pi-01.garden/status",
		"backlog": "edge/pi-01.garden/status", "model_version": "edge/pi-01.garden/status",
	}
	if len(p.Components) != len(want) {
		t.Errorf("components %v", keys(p.Components))
	}
	uids := map[string]bool{}
	validUID := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	for id, topic := range want {
		c, ok := p.Components[id]
		if !ok {
			t.Errorf("no component %s", id)
			continue
		}
		uid, _ := c["unique_id"].(string)
		if c["platform"] != "sensor" || c["state_topic"] != topic || c["value_template"] == "" || !validUID.MatchString(uid) || uids[uid] {
			t.Errorf("component %s: %v", id, c)
		}
		uids[uid] = true
	}
	if c := p.Components["count_teddy_bear"]; c["name"] != "Teddy bear" || c["unique_id"] != "edge_agent_pi-01_garden_count_teddy_bear" {
		t.Errorf("teddy bear sensor %v", c)
	}
	if c := p.Components["inference_latency"]; c["device_class"] != "duration" || c["unit_of_measurement"] != "ms" {
		t.Errorf("latency sensor %v", c)
	}

	// unique_ids are stable: the same for the same device whatever the label order, and the
	// same sensor keeps its id when others are added.
	again := parsePayload(t, newDiscovery(t, Config{Discovery: true, DeviceID: "pi-01.garden", TopicPrefix: "edge",
		Labels: []string{"teddy bear", "dog", "cat", "person"}}).Config())
	for id := range want {
		if again.Components[id]["unique_id"] != p.Components[id]["unique_id"] {
			t.Errorf("%s: unique_id %v then %v", id, p.Components[id]["unique_id"], again.Components[id]["unique_id"])
		}
	}
	other := parsePayload(t, newDiscovery(t, Config{Discovery: true, DeviceID: "pi-02", Labels: []string{"cat"}}).Config())
	if other.Components["count_cat"]["unique_id"] == p.Components["count_cat"]["unique_id"] {
		t.Error("two devices share a unique_id")
	}
}

func keys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no device id"},
		{Config{DeviceID: "a", Prefix: "home/#"}, "prefix"},
		{Config{DeviceID: "a", Labels: []string{"Cat", "cat"}}, "same sensor id"},
		{Config{DeviceID: "a", Labels: []string{" "}}, "empty"},
	} {
		if _, err := New(tc.cfg, nopPublisher(), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{DeviceID: "a"}, nil, nil); err == nil {
		t.Error("no publisher accepted")
	}
}

func TestObserve(t *testing.T) {
	d := newDiscovery(t, Config{Discovery: true, DeviceID: "cam", Labels: []string{"cat", "dog"}})
	ts := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	d.Observe(ts, []Detection{{"cat", 0.64}, {"teddy bear", 0.9}, {"cat", 0.57}, {"dog", 0.51}})
	if d.state.Counts["cat"] != 2 || d.state.Counts["dog"] != 1 || len(d.state.Counts) != 2 {
		t.Errorf("counts %v", d.state.Counts)
	}
	// The best detection among the configured labels: the teddy bear is not one.
	if l := d.state.Last; l == nil || l.Label != "cat" || l.Score != 0.64 || !l.TS.Equal(ts) {
		t.Errorf("last %+v", l)
	}
	d.Observe(ts.Add(time.Second), nil)
	if d.state.Counts["cat"] != 0 || d.state.Last.Label != "cat" {
		t.Errorf("an empty frame: %+v", d.state)
	}
	// Without configured labels, any detection is the last one.
	any := newDiscovery(t, Config{Discovery: true, DeviceID: "cam"})
	any.Observe(ts, []Detection{{"sandwich", 0.77}, {"sandwich", 0.5}})
	if any.state.Last == nil || any.state.Last.Label != "sandwich" || len(any.state.Counts) != 0 {
		t.Errorf("no labels: %+v", any.state)
	}
}

// watcher is a plain MQTT client standing in for Home Assistant.
type watcher struct {
	cl mqtt.Client
	mu gosync.Mutex
	ms []mqtt.Message
}

func watch(t *testing.T, url, id string, filters ...string) *watcher {
	t.Helper()
	w := &watcher{}
	w.cl = mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetOrderMatters(true))
	if tok := w.cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { w.cl.Disconnect(50) })
	for _, f := range filters {
		tok := w.cl.Subscribe(f, 1, func(_ mqtt.Client, m mqtt.Message) {
			w.mu.Lock()
			w.ms = append(w.ms, m)
			w.mu.Unlock()
		})
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	return w
}

func (w *watcher) on(topic string) []mqtt.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []mqtt.Message
	for _, m := range w.ms {
		if m.Topic() == topic {
			out = append(out, m)
		}
	}
	return out
}

// wait returns the messages on topic once cond holds for them.
func (w *watcher) wait(t *testing.T, topic string, what string, cond func([]mqtt.Message) bool) []mqtt.Message {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ms := w.on(topic)
		if cond(ms) {
			return ms
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d messages on %s", what, len(ms), topic)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *watcher) publish(t *testing.T, topic string, retained bool, payload string) {
	t.Helper()
	if tok := w.cl.Publish(topic, 1, retained, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// agent is a real MQTT client wired to a Discovery, with a stand-in status source.
type agent struct {
	d      *Discovery
	client *sync.Client
	stop   func()
}

func startAgent(t *testing.T, url string, cfg Config) *agent {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{}
	d, err := New(cfg, PublisherFunc(func(ctx context.Context, topic string, qos byte, retain bool, p []byte) error {
		return a.client.Publish(ctx, topic, qos, retain, p)
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.d = d
	a.client, err = sync.New(sync.Config{
		Broker: url, DeviceID: cfg.DeviceID, TopicPrefix: cfg.TopicPrefix, AgentVersion: "v-test", Verify: sync.VerifyOff,
		Status: func() sync.StatusInfo {
			return sync.StatusInfo{Model: "ssd_mobilenet", Backlog: 7, Extra: map[string]any{
				"fps": 9.5, "infer_ms": 41.25, "model_version": "2018_06_29", "camera": "connected"}}
		},
		Subscriptions: d.Subscriptions(),
		OnConnect:     d.OnConnect,
	}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg gosync.WaitGroup
	wg.Go(func() { a.client.Run(ctx) })
	a.stop = func() { cancel(); wg.Wait(); db.Close() }
	t.Cleanup(a.stop)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := a.client.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	return a
}

func retainedOn(t *testing.T, url, topic string) []byte {
	t.Helper()
	w := watch(t, url, fmt.Sprintf("late-%d", time.Now().UnixNano()), topic)
	time.Sleep(300 * time.Millisecond)
	for _, m := range w.on(topic) {
		if m.Retained() {
			return m.Payload()
		}
	}
	return nil
}

func TestDiscoveryOverMQTT(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	ha := watch(t, b.URL(), "home-assistant", "homeassistant/#", "edge/#")
	cfg := Config{Discovery: true, DeviceID: "cam-1", TopicPrefix: "edge", Labels: []string{"cat", "dog"}, StateInterval: 200 * time.Millisecond}
	a := startAgent(t, b.URL(), cfg)
	topic := a.d.ConfigTopic()

	// On connect: the payload, retained, and the state.
	cfgs := ha.wait(t, topic, "discovery on connect", func(ms []mqtt.Message) bool { return len(ms) >= 1 })
	if string(cfgs[0].Payload()) != string(a.d.Config()) || cfgs[0].Qos() != 1 {
		t.Errorf("discovery payload %s", cfgs[0].Payload())
	}
	if got := retainedOn(t, b.URL(), topic); string(got) != string(a.d.Config()) {
		t.Errorf("retained discovery payload %q", got)
	}
	ha.wait(t, a.d.StateTopic(), "state on connect", func(ms []mqtt.Message) bool { return len(ms) >= 1 })

	// Home Assistant restarts: its birth message brings the payload again.
	n := len(ha.on(topic))
	ha.publish(t, "homeassistant/status", false, "online")
	ha.wait(t, topic, "discovery after the birth message", func(ms []mqtt.Message) bool { return len(ms) > n })
	// An "offline" (its will) does not.
	n = len(ha.on(topic))
	ha.publish(t, "homeassistant/status", false, "offline")
	time.Sleep(300 * time.Millisecond)
	if len(ha.on(topic)) != n {
		t.Error("republished on Home Assistant's offline message")
	}

	// Detections: the state follows, at most every StateInterval.
	nState := len(ha.on(a.d.StateTopic()))
	start := time.Now()
	for range 30 {
		a.d.Observe(time.Now(), []Detection{{"cat", 0.64}, {"cat", 0.57}, {"dog", 0.51}, {"teddy bear", 0.9}})
		time.Sleep(10 * time.Millisecond)
	}
	states := ha.wait(t, a.d.StateTopic(), "state after detections", func(ms []mqtt.Message) bool {
		if len(ms) <= nState {
			return false
		}
		var s State
		json.Unmarshal(ms[len(ms)-1].Payload(), &s)
		return s.Counts["cat"] == 2 && s.Counts["dog"] == 1 && s.Last != nil && s.Last.Label == "cat"
	})
	elapsed := time.Since(start)
	if sent, most := len(states)-nState, int(elapsed/cfg.StateInterval)+2; sent > most {
		t.Errorf("%d state publishes in %v for 30 frames; at most %d expected", sent, elapsed, most)
	}
	if got := retainedOn(t, b.URL(), a.d.StateTopic()); !strings.Contains(string(got), `"cat":2`) {
		t.Errorf("retained state %s", got)
	}

	// Availability: the status topic the payload names, online now, offline after a clean stop.
	status := ha.wait(t, "edge/cam-1/status", "status", func(ms []mqtt.Message) bool { return len(ms) >= 1 })
	checkTemplates(t, a.d.Config(), map[string][]byte{"edge/cam-1/status": status[len(status)-1].Payload(),
		a.d.StateTopic(): states[len(states)-1].Payload()}, map[string]string{
		"availability": "online", "count_cat": "2", "count_dog": "1", "last_detection": "cat", "last_detection.attributes": `"label": "cat"`,
		"fps": "9.5", "inference_latency": "41.25", "backlog": "7", "model_version": "2018_06_29",
	})
	a.stop()
	ha.wait(t, "edge/cam-1/status", "offline status", func(ms []mqtt.Message) bool {
		return len(ms) > 0 && strings.Contains(string(ms[len(ms)-1].Payload()), `"state":"offline"`)
	})
}

// A label dropped from the configuration loses its sensor: the next run publishes it with its
// platform only, then the payload without it.
func TestDiscoveryRemovesDroppedLabels(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := Config{Discovery: true, DeviceID: "cam-2", Labels: []string{"cat", "dog", "person"}}
	a := startAgent(t, b.URL(), cfg)
	ha := watch(t, b.URL(), "home-assistant", "homeassistant/#")
	ha.wait(t, a.d.ConfigTopic(), "first payload", func(ms []mqtt.Message) bool { return len(ms) >= 1 })
	a.stop()

	cfg.Labels = []string{"cat", "person"}
	a = startAgent(t, b.URL(), cfg)
	ms := ha.wait(t, a.d.ConfigTopic(), "removal then the clean payload", func(ms []mqtt.Message) bool {
		if len(ms) < 3 {
			return false
		}
		return string(ms[len(ms)-1].Payload()) == string(a.d.Config())
	})
	removal := -1
	for i, m := range ms[1:] {
		p := parsePayload(t, m.Payload())
		if c, ok := p.Components["count_dog"]; ok && len(c) == 1 && c["platform"] == "sensor" && p.Components["count_cat"]["unique_id"] != nil {
			removal = i + 1
		}
	}
	if removal < 0 {
		t.Fatalf("no payload removed count_dog: %d payloads", len(ms))
	}
	if _, ok := parsePayload(t, ms[len(ms)-1].Payload()).Components["count_dog"]; ok {
		t.Error("the last payload still has count_dog")
	}
	if got := parsePayload(t, retainedOn(t, b.URL(), a.d.ConfigTopic())); got.Components["count_dog"] != nil || got.Components["count_person"] == nil {
		t.Errorf("retained payload after the removal: %v", keys(got.Components))
	}
	// A third run with the same labels removes nothing more.
	a.stop()
	n := len(ha.on(a.d.ConfigTopic()))
	a = startAgent(t, b.URL(), cfg)
	time.Sleep(500 * time.Millisecond)
	if got := ha.on(a.d.ConfigTopic())[n:]; len(got) != 1 {
		t.Errorf("unchanged labels: %d payloads published, want 1", len(got))
	}
}

// Turning discovery off clears the retained payload, which removes the device from Home
// Assistant; a device that never published is cleared harmlessly.
func TestDiscoveryOffRemovesDevice(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	cfg := Config{Discovery: true, DeviceID: "cam-3", Labels: []string{"cat"}}
	first := watch(t, b.URL(), "first", "homeassistant/#")
	a := startAgent(t, b.URL(), cfg)
	first.wait(t, a.d.ConfigTopic(), "the payload", func(ms []mqtt.Message) bool { return len(ms) > 0 })
	if retainedOn(t, b.URL(), a.d.ConfigTopic()) == nil {
		t.Fatal("nothing retained with discovery on")
	}
	a.stop()

	cfg.Discovery = false
	ha := watch(t, b.URL(), "home-assistant", "homeassistant/#")
	a = startAgent(t, b.URL(), cfg)
	if subs := a.d.Subscriptions(); len(subs) != 0 {
		t.Errorf("discovery off subscribes to %v", subs)
	}
	ha.wait(t, a.d.ConfigTopic(), "the empty payload", func(ms []mqtt.Message) bool {
		for _, m := range ms {
			if len(m.Payload()) == 0 {
				return true
			}
		}
		return false
	})
	if got := retainedOn(t, b.URL(), a.d.ConfigTopic()); got != nil {
		t.Errorf("still retained after discovery was turned off: %s", got)
	}
	// Observe does nothing and no state is published.
	a.d.Observe(time.Now(), []Detection{{"cat", 0.9}})
	time.Sleep(200 * time.Millisecond)
	if n := len(ha.on(a.d.StateTopic())); n != 0 {
		t.Errorf("%d state publishes with discovery off", n)
	}
}

// checkTemplates renders every template of the payload with Jinja2 (Home Assistant's template
// engine, in its sandbox) against the JSON published on the component's topic, and compares the
// result with want (component id, or "availability", or "<id>.attributes": a substring).
func checkTemplates(t *testing.T, config []byte, published map[string][]byte, want map[string]string) {
	t.Helper()
	p := parsePayload(t, config)
	type job struct {
		Name     string          `json:"name"`
		Template string          `json:"template"`
		Value    json.RawMessage `json:"value"`
	}
	var jobs []job
	add := func(name, tpl, topic string) {
		v, ok := published[topic]
		if !ok {
			t.Fatalf("%s reads %s, which was not published", name, topic)
		}
		jobs = append(jobs, job{name, tpl, v})
	}
	add("availability", p.Availability[0].ValueTemplate, p.Availability[0].Topic)
	for id, c := range p.Components {
		add(id, c["value_template"].(string), c["state_topic"].(string))
		if tpl, ok := c["json_attributes_template"].(string); ok {
			add(id+".attributes", tpl, c["json_attributes_topic"].(string))
		}
	}
	in, _ := json.Marshal(jobs)
	out := jinja(t, in)
	for name, w := range want {
		got, ok := out[name]
		if !ok {
			t.Errorf("no template for %s", name)
			continue
		}
		if strings.HasSuffix(name, ".attributes") {
			if !strings.Contains(got, w) {
				t.Errorf("%s renders %q, want it to contain %q", name, got, w)
			}
		} else if got != w {
			t.Errorf("%s renders %q, want %q", name, got, w)
		}
	}
}

const jinjaScript = `
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment()
out = {}
for job in json.load(sys.stdin):
    out[job["name"]] = env.from_string(job["template"]).render(value_json=job["value"], value=json.dumps(job["value"])).strip()
json.dump(out, sys.stdout)
`

// python returns a python3 that has jinja2: Debian's (python3-jinja2), else the first on PATH.
func python(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import jinja2").Run() == nil {
			return py
		}
	}
	t.Fatal("no python3 with jinja2 to check the Home Assistant templates: install python3-jinja2 (make test-deps)")
	return ""
}

// jinja runs the templates through python3's jinja2 (Debian's python3-jinja2, installed by the
// Makefile's test-deps target).
func jinja(t *testing.T, jobs []byte) map[string]string {
	t.Helper()
	cmd := exec.Command(python(t), "-c", jinjaScript)
	cmd.Stdin = strings.NewReader(string(jobs))
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("rendering with jinja2 (python3-jinja2, make test-deps): %v\n%s", err, stderr)
	}
	var res map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	return res
}

// Labels with quotes, spaces and non-ASCII letters give templates that render.
func TestTemplatesOddLabels(t *testing.T) {
	labels := []string{"teddy bear", `it's "quoted"`, `back\slash`, "chat noir é"}
	d := newDiscovery(t, Config{Discovery: true, DeviceID: "cam", Labels: labels})
	d.Observe(time.Now(), []Detection{{"teddy bear", 0.8}, {`it's "quoted"`, 0.6}, {`it's "quoted"`, 0.7}, {"chat noir é", 0.5}})
	state, _ := json.Marshal(d.state)
	want := map[string]string{"last_detection": "teddy bear"}
	for i, n := range []string{"1", "2", "0", "1"} {
		want["count_"+slug(labels[i])] = n
	}
	empty := newDiscovery(t, Config{Discovery: true, DeviceID: "cam", Labels: labels})
	emptyState, _ := json.Marshal(empty.state)
	status := []byte(`{"state":"online","fps":0,"infer_ms":0,"backlog":0,"model":"m","model_version":""}`)
	checkTemplates(t, d.Config(), map[string][]byte{d.StateTopic(): state, d.topics.Status: status}, want)
	// Before any detection, and with no model version nor hash: the name stands in.
	checkTemplates(t, empty.Config(), map[string][]byte{d.StateTopic(): emptyState, d.topics.Status: status},
		map[string]string{"last_detection": "none", "count_teddy_bear": "0", "model_version": "m", "last_detection.attributes": "{}"})
	// With the hash and no version, its start tells models apart.
	hashed := []byte(`{"state":"online","model":"m","model_version":"","model_sha256":"61d598093ed03ed41aa47c3a39a28ac01e960d6a810a5419b9a5016a1e9c469b"}`)
	checkTemplates(t, empty.Config(), map[string][]byte{d.StateTopic(): emptyState, d.topics.Status: hashed},
		map[string]string{"model_version": "61d598093ed0", "availability": "online"})
}
