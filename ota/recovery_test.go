package ota

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestResumeAfterOutage cuts a transfer half-way: the broker stops (with the retained manifest
// saved) and the device process goes away. After both come back the device asks only for the
// chunks it lacks, from a server that was not there during the push, and completes.
func TestResumeAfterOutage(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Persistence: true})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	d := startDevice(t, b.URL(), deviceConfig(t, "cam-1", s.pub))
	model := readFile(t, modelMobilenet)
	m, env := s.update(t, model, UpdateOptions{Name: "mobilenet", Version: "2", ChunkSize: 4096, Target: Target{Groups: []string{"lobby"}}})
	const sent = 60
	op.offer(GroupTopic(op.prefix, "lobby", topicManifest), GroupTopic(op.prefix, "lobby", topicChunk), env, m, model,
		func(i int) bool { return i < sent })
	waitFor(t, 20*time.Second, "the broadcast chunks", func() bool {
		p := d.u.Status().Progress
		return p != nil && p.Chunks == sent
	})
	if m.ChunkCount != 125 {
		t.Fatalf("%d chunks", m.ChunkCount)
	}

	b.Stop()
	d.stop() // the device process ends while the broker is down
	b.Start()
	op2 := newOperator(t, b.URL()) // a chunk server that comes later, like `model serve`
	op2.serve(model, nil)
	d.start()
	if st := d.u.Status(); st.State != StateReceiving || st.Progress.Chunks != sent {
		t.Fatalf("reopened with %+v", st.Progress)
	}
	st := d.waitState(StateCommitted, m.ID, 60*time.Second)
	d.checkOneValidModel()
	if served := op2.servedTo("cam-1"); served != m.ChunkCount-sent {
		t.Fatalf("the server sent %d chunks; %d were missing", served, m.ChunkCount-sent)
	}
	t.Logf("resumed: %d chunks broadcast, %d served after the outage; status %s", sent, m.ChunkCount-sent, st.State)
	// ota.db was compacted back to a small file once the chunks were no longer needed.
	if fi, err := os.Stat(filepath.Join(d.cfg.StateDir, "ota.db")); err != nil || fi.Size() > compactMin {
		t.Fatalf("ota.db is %d bytes after the transfer (%v)", fi.Size(), err)
	}
}

// crashAt makes the updater "crash" at a named point: Run's goroutine ends there, as if the
// process had been killed, and whatever was written so far is what the next start finds.
func crashAt(point string, hit *bool) func(string) {
	return func(p string) {
		if p == point && !*hit {
			*hit = true
			runtime.Goexit()
		}
	}
}

// TestRestartAtEachStep interrupts an update at each step of verification and activation and
// starts the device again: it always comes back with exactly one active, valid model, and
// concludes the update.
func TestRestartAtEachStep(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	model := readFile(t, modelSin)
	for i, point := range []string{"receiving.stored", "verify.written", "verify.renamed", "verify.done",
		"activate.saved", "activate.done", "commit.saved"} {
		t.Run(point, func(t *testing.T) {
			id := "dev-" + strings.ReplaceAll(point, ".", "-")
			cfg := deviceConfig(t, id, s.pub)
			hit := false
			cfg.crash = crashAt(point, &hit)
			d := startDevice(t, b.URL(), cfg)
			m, env := s.update(t, model, UpdateOptions{Version: "2." + string(rune('0'+i)), ChunkSize: 1024, Target: Target{Devices: []string{id}}})
			t.Cleanup(func() { op.publish(DeviceTopic(op.prefix, id, topicManifest), true, nil) })
			op.offer(DeviceTopic(op.prefix, id, topicManifest), DeviceTopic(op.prefix, id, topicChunk), env, m, model, nil)
			waitFor(t, 20*time.Second, "the crash point", func() bool {
				d.u.mu.Lock() // held until Run's goroutine has unwound
				defer d.u.mu.Unlock()
				return hit
			})
			d.restart()
			got := d.checkOneValidModel()
			switch point {
			case "activate.saved", "activate.done", "commit.saved":
				// The registry already names the new model: the agent starts with it.
				if got.SHA256 != m.SHA256 {
					t.Fatalf("restarted with %s, want the new model", got.Name)
				}
			}
			st := d.waitState(StateCommitted, m.ID, 20*time.Second)
			if st.Active.SHA256 != m.SHA256 {
				t.Fatalf("committed %+v", st.Active)
			}
			d.checkOneValidModel()
			if files := d.storeFiles(); len(files) != 1 || files[0] != m.SHA256+".tflite" {
				t.Fatalf("model store %v", files)
			}
		})
	}
}

// TestHealthWindowFailure: a model whose inferences fail, and one that runs no frame within the
// window, are both rolled back to the previous model automatically, with the reason.
func TestHealthWindowFailure(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	model := readFile(t, modelSin)
	for _, tc := range []struct {
		name, reason string
		prepare      func(d *device, sha string)
	}{
		{"inference error", "health: inference failed after", func(d *device, sha string) {
			d.rt.mu.Lock()
			d.rt.frameErr[sha] = errors.New("output tensor is NaN")
			d.rt.mu.Unlock()
		}},
		{"no frames", "health: 0 of 5 frames inferred within 1s", func(d *device, sha string) { d.rt.setPaused(true) }},
		{"activation fails", "activate: camera pipeline busy", func(d *device, sha string) {
			d.rt.mu.Lock()
			d.rt.activateErr[sha] = errors.New("camera pipeline busy")
			d.rt.mu.Unlock()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "dev-" + strings.ReplaceAll(tc.name, " ", "-")
			cfg := deviceConfig(t, id, s.pub)
			cfg.HealthTimeout = time.Second
			d := startDevice(t, b.URL(), cfg)
			base := d.checkOneValidModel()
			m, env := s.update(t, model, UpdateOptions{Version: "2", ChunkSize: 1024, Target: Target{Devices: []string{id}}})
			tc.prepare(d, m.SHA256)
			t.Cleanup(func() { op.publish(DeviceTopic(op.prefix, id, topicManifest), true, nil) })
			op.offer(DeviceTopic(op.prefix, id, topicManifest), DeviceTopic(op.prefix, id, topicChunk), env, m, model, nil)
			st := d.waitState(StateRolledBack, m.ID, 20*time.Second)
			if !strings.Contains(st.Reason, tc.reason) || st.Active.SHA256 != base.SHA256 || st.Update.SHA256 != m.SHA256 {
				t.Fatalf("status %+v, want rolled back with %q", st, tc.reason)
			}
			d.rt.setPaused(false)
			if got := d.checkOneValidModel(); got.SHA256 != base.SHA256 {
				t.Fatalf("running %s after the rollback", got.Name)
			}
			if files := d.storeFiles(); len(files) != 0 {
				t.Fatalf("model store keeps %v", files)
			}
			d.restart()
			if got := d.checkOneValidModel(); got.SHA256 != base.SHA256 {
				t.Fatalf("restarted with %s", got.Name)
			}
		})
	}
}

// TestHealthRestartLoop: a model that kills the agent during its health window (here: two
// restarts in a row) is rolled back at the next start, before the agent loads it again.
func TestHealthRestartLoop(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	cfg := deviceConfig(t, "dev", s.pub)
	cfg.HealthFrames = 1 << 20 // never reached: the window stays open
	cfg.HealthTimeout = time.Hour
	d := startDevice(t, b.URL(), cfg)
	base := d.checkOneValidModel()
	model := readFile(t, modelSin)
	m, env := s.update(t, model, UpdateOptions{Version: "2", ChunkSize: 1024, Target: Target{Devices: []string{"dev"}}})
	op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), env, m, model, nil)
	d.waitState(StateActivated, m.ID, 20*time.Second)
	d.restart() // first restart: the window starts again with the new model
	if got := d.checkOneValidModel(); got.SHA256 != m.SHA256 {
		t.Fatalf("first restart loaded %s", got.Name)
	}
	if st := d.waitState(StateActivated, m.ID, 5*time.Second); st.Health.Restarts != 1 {
		t.Fatalf("health %+v", st.Health)
	}
	d.restart() // second: rolled back before loading
	if got := d.checkOneValidModel(); got.SHA256 != base.SHA256 {
		t.Fatalf("second restart loaded %s", got.Name)
	}
	st := d.waitState(StateRolledBack, m.ID, 5*time.Second)
	mustContain(t, st.Reason, "health: the agent restarted 2 times during the health window")
}

// TestLoadFailedFallsBack: a committed model that no longer loads gives way to the previous
// one, then to the configured model.
func TestLoadFailedFallsBack(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	d := startDevice(t, b.URL(), deviceConfig(t, "dev", s.pub))
	base := d.checkOneValidModel()
	var last *Manifest
	for i, path := range []string{modelSin, modelHelloInt8} {
		model := readFile(t, path)
		m, env := s.update(t, model, UpdateOptions{Version: string(rune('2' + i)), ChunkSize: 1024, Target: Target{Devices: []string{"dev"}}})
		op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), env, m, model, nil)
		d.waitState(StateCommitted, m.ID, 20*time.Second)
		last = m
	}
	d.stop()
	u, err := Open(d.cfg, newFakeRuntime())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	m := u.Model()
	if m.SHA256 != last.SHA256 {
		t.Fatalf("Model = %s", m.Name)
	}
	prev, err := u.LoadFailed(m, errors.New("out of memory"))
	if err != nil || prev.SHA256 == m.SHA256 || prev.Path == base.Path {
		t.Fatalf("first fallback: %+v, %v", prev, err)
	}
	if st := u.Status(); st.State != StateRolledBack || !strings.Contains(st.Reason, "out of memory") {
		t.Fatalf("status %+v", st)
	}
	next, err := u.LoadFailed(prev, errors.New("still no memory"))
	if err != nil || next.Path != base.Path {
		t.Fatalf("second fallback: %+v, %v", next, err)
	}
	if _, err := u.LoadFailed(next, errors.New("broken")); !errors.Is(err, ErrNoModel) {
		t.Fatalf("third: %v", err)
	}
}

// TestDamagedStateDB: an ota.db that cannot be read is moved aside; the device keeps the
// committed model it has in its model store.
func TestDamagedStateDB(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	d := startDevice(t, b.URL(), deviceConfig(t, "dev", s.pub))
	model := readFile(t, modelSin)
	m, env := s.update(t, model, UpdateOptions{Version: "2", ChunkSize: 1024, Target: Target{Devices: []string{"dev"}}})
	op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), env, m, model, nil)
	d.waitState(StateCommitted, m.ID, 20*time.Second)
	d.stop()
	path := filepath.Join(d.cfg.StateDir, "ota.db")
	if err := os.WriteFile(path, []byte("this is not a bbolt file, it is garbage from a bad SD card sector"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := Open(d.cfg, newFakeRuntime())
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Model(); got.SHA256 != m.SHA256 {
		t.Fatalf("after damage the device runs %s", got.Name)
	}
	if st := u.Status(); !strings.Contains(st.Reason, "damaged") {
		t.Fatalf("status %+v", st)
	}
	u.Close()
	aside, _ := filepath.Glob(path + ".damaged-*")
	if len(aside) != 1 {
		t.Fatalf("damaged file not kept aside: %v", aside)
	}
	d.start()
	d.checkOneValidModel()
	// Further updates work on the fresh file.
	model2 := readFile(t, modelHelloInt8)
	m2, env2 := s.update(t, model2, UpdateOptions{Version: "3", ChunkSize: 1024, Target: Target{Devices: []string{"dev"}}})
	op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), env2, m2, model2, nil)
	if st := d.waitState(StateCommitted, m2.ID, 20*time.Second); st.Previous.SHA256 != m.SHA256 {
		t.Fatalf("previous %+v", st.Previous)
	}
}

// TestConfigModelChange: pointing model.path at another file makes it the active model, over
// what OTA installed.
func TestConfigModelChange(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	d := startDevice(t, b.URL(), deviceConfig(t, "dev", s.pub))
	model := readFile(t, modelSin)
	m, env := s.update(t, model, UpdateOptions{Version: "2", ChunkSize: 1024, Target: Target{Devices: []string{"dev"}}})
	op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), env, m, model, nil)
	d.waitState(StateCommitted, m.ID, 20*time.Second)
	d.stop()
	d.cfg.Base = Model{Path: modelHelloInt8, Name: "hello-int8", Version: "5"}
	d.start()
	if got := d.checkOneValidModel(); got.Path != modelHelloInt8 || got.Version != "5" {
		t.Fatalf("active %+v", got)
	}
	if files := d.storeFiles(); len(files) != 0 {
		t.Fatalf("store keeps %v", files)
	}
}

// TestSupersede: a newer manifest replaces a transfer in progress; the older one's chunks go.
func TestSupersede(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	d := startDevice(t, b.URL(), deviceConfig(t, "dev", s.pub))
	a := readFile(t, modelMobilenet)
	ma, enva := s.update(t, a, UpdateOptions{Version: "2", ChunkSize: 4096, Target: Target{Devices: []string{"dev"}},
		Created: time.Now().Add(-time.Minute)})
	op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), enva, ma, a, func(i int) bool { return i < 10 })
	d.waitState(StateReceiving, ma.ID, 10*time.Second)
	bm := readFile(t, modelSin)
	mb, envb := s.update(t, bm, UpdateOptions{Version: "3", ChunkSize: 1024, Target: Target{Groups: []string{"lobby"}}})
	op.offer(GroupTopic(op.prefix, "lobby", topicManifest), GroupTopic(op.prefix, "lobby", topicChunk), envb, mb, bm, nil)
	d.waitState(StateCommitted, mb.ID, 20*time.Second)
	// The older manifest, retained on the device topic, is not taken up again after a restart.
	d.restart()
	time.Sleep(500 * time.Millisecond)
	if st := d.u.Status(); st.Update.Manifest != mb.ID || st.Active.SHA256 != mb.SHA256 {
		t.Fatalf("after restart %+v", st)
	}
}
