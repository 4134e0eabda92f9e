package ota_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/otatest"
)

// operator publishes manifests and chunks and serves requests with a plain paho client, the way
// the operator tools do (the real ones are tested in ota/operator).
type operator struct {
	t      *testing.T
	c      mqtt.Client
	prefix string

	mu     gosync.Mutex
	served map[string]int // device -> chunks sent in answer to requests
	reqs   int
}

func newOperator(t *testing.T, broker string) *operator {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("op-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(false)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("operator connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return &operator{t: t, c: c, prefix: ota.DefaultTopicPrefix, served: map[string]int{}}
}

func (o *operator) publish(topic string, retained bool, payload []byte) {
	o.t.Helper()
	tok := o.c.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		o.t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// offer publishes a manifest retained on topic and broadcasts the chunks for which send
// returns true (all when send is nil) on chunkTopic.
func (o *operator) offer(manifestTopic, chunkTopic string, env []byte, m *ota.Manifest, model []byte, send func(i int) bool) {
	o.t.Helper()
	o.publish(manifestTopic, true, env)
	if m == nil || m.Kind != ota.KindUpdate {
		return
	}
	var sha [32]byte // the manifest's, which a correct push has computed from model
	if _, err := hex.Decode(sha[:], []byte(m.SHA256)); err != nil {
		o.t.Fatal(err)
	}
	for i := range m.ChunkCount {
		if send == nil || send(i) {
			o.publish(chunkTopic, false, ota.ChunkMessage(model, sha, m.ChunkSize, i))
		}
	}
}

// offerDevice offers an update on a device's own topics, broadcasting every chunk.
func (o *operator) offerDevice(dev string, env []byte, m *ota.Manifest, model []byte) {
	o.t.Helper()
	o.offer(ota.DeviceTopic(o.prefix, dev, "manifest"), ota.DeviceTopic(o.prefix, dev, "chunk"), env, m, model, nil)
}

// offerGroup offers an update on a group's topics, broadcasting every chunk.
func (o *operator) offerGroup(group string, env []byte, m *ota.Manifest, model []byte) {
	o.t.Helper()
	o.offer(ota.GroupTopic(o.prefix, group, "manifest"), ota.GroupTopic(o.prefix, group, "chunk"), env, m, model, nil)
}

// install offers the model at path, version version, to device d and waits for its commit.
func (o *operator) install(s otatest.Signer, d *otatest.Device, path, version string) *ota.Manifest {
	o.t.Helper()
	model := otatest.ReadFile(o.t, path)
	id := d.Cfg.DeviceID
	m, env := s.Update(o.t, model, ota.UpdateOptions{Version: version, ChunkSize: 1024, Target: ota.Target{Devices: []string{id}}})
	o.offerDevice(id, env, m, model)
	d.WaitState(ota.StateCommitted, m.ID, 20*time.Second)
	return m
}

// serve answers chunk requests for model; tamper may change a chunk's data before it goes.
func (o *operator) serve(model []byte, tamper func(i int, data []byte) []byte) {
	o.t.Helper()
	sha := sha256.Sum256(model)
	h := fmt.Sprintf("%x", sha)
	tok := o.c.Subscribe(ota.RequestFilter(o.prefix), 1, func(_ mqtt.Client, msg mqtt.Message) {
		dev, ok := ota.DeviceOf(o.prefix, msg.Topic())
		r, err := ota.ParseRequest(msg.Payload())
		if !ok || err != nil || r.SHA256 != h {
			return
		}
		o.mu.Lock()
		o.reqs++
		o.mu.Unlock()
		go func() {
			for _, rg := range r.Ranges {
				for i := rg[0]; i <= rg[1] && i*r.ChunkSize < len(model); i++ {
					data := model[i*r.ChunkSize : min((i+1)*r.ChunkSize, len(model))]
					if tamper != nil {
						data = tamper(i, data)
					}
					c := ota.AppendChunk(nil, ota.Chunk{SHA256: sha, ChunkSize: r.ChunkSize, Index: i, Data: data})
					o.c.Publish(ota.DeviceTopic(o.prefix, dev, "chunk"), 1, false, c).Wait()
					o.mu.Lock()
					o.served[dev]++
					o.mu.Unlock()
				}
			}
		}()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		o.t.Fatalf("subscribe: %v", tok.Error())
	}
}

func (o *operator) stopServing() {
	o.c.Unsubscribe(ota.RequestFilter(o.prefix)).WaitTimeout(5 * time.Second)
}

func (o *operator) servedTo(dev string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.served[dev]
}

// watcher records every model status published, per device.
type watcher struct {
	mu     gosync.Mutex
	states map[string][]string
	last   map[string]ota.Status
}

func watchStatuses(t *testing.T, broker string) *watcher {
	t.Helper()
	w := &watcher{states: map[string][]string{}, last: map[string]ota.Status{}}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("watch-%d", time.Now().UnixNano())).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetOrderMatters(true)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	tok := c.Subscribe(ota.StatusFilter(ota.DefaultTopicPrefix), 1, func(_ mqtt.Client, m mqtt.Message) {
		var s ota.Status
		if json.Unmarshal(m.Payload(), &s) != nil {
			return
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if st := w.states[s.Device]; len(st) == 0 || st[len(st)-1] != s.State {
			w.states[s.Device] = append(st, s.State)
		}
		w.last[s.Device] = s
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("watcher subscribe: %v", tok.Error())
	}
	return w
}

func (w *watcher) sequence(dev string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.states[dev])
}

// containsInOrder reports whether want appears in got in order (other states may come between).
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
