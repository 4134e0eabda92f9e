package ota_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/otatest"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestResumeAfterOutage cuts a transfer half-way: the broker stops (with the retained manifest
// saved) and the device process goes away. After both come back the device asks only for the
// chunks it lacks, from a server that was not there during the push, and completes.
func TestResumeAfterOutage(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Persistence: true})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "cam-1", s.Pub))
	model := otatest.ReadFile(t, otatest.Mobilenet)
	m, env := s.Update(t, model, ota.UpdateOptions{Name: "mobilenet", Version: "2", ChunkSize: 4096, Target: ota.Target{Groups: []string{"lobby"}}})
	const sent = 60
	op.offer(ota.GroupTopic(op.prefix, "lobby", "manifest"), ota.GroupTopic(op.prefix, "lobby", "chunk"), env, m, model,
		func(i int) bool { return i < sent })
	otatest.WaitFor(t, 20*time.Second, "the broadcast chunks", func() bool {
		p := d.U.Status().Progress
		return p != nil && p.Chunks == sent
	})
	if m.ChunkCount != 125 {
		t.Fatalf("%d chunks", m.ChunkCount)
	}

	b.Stop()
	d.Stop() // the device process ends while the broker is down
	b.Start()
	op2 := newOperator(t, b.URL()) // a chunk server that comes later, like `model serve`
	op2.serve(model, nil)
	d.Start()
	if st := d.U.Status(); st.State != ota.StateReceiving || st.Progress.Chunks != sent {
		t.Fatalf("reopened with %+v", st.Progress)
	}
	st := d.WaitState(ota.StateCommitted, m.ID, 60*time.Second)
	d.CheckOneValidModel()
	if served := op2.servedTo("cam-1"); served != m.ChunkCount-sent {
		t.Fatalf("the server sent %d chunks; %d were missing", served, m.ChunkCount-sent)
	}
	t.Logf("resumed: %d chunks broadcast, %d served after the outage; status %s", sent, m.ChunkCount-sent, st.State)
	// ota.db was compacted back to a small file once the chunks were no longer needed.
	if fi, err := os.Stat(filepath.Join(d.Cfg.StateDir, "ota.db")); err != nil || fi.Size() > ota.CompactMin {
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
	s := otatest.NewSigner(t)
	model := otatest.ReadFile(t, otatest.Sin)
	for i, point := range []string{"receiving.stored", "verify.written", "verify.renamed", "verify.done",
		"activate.saved", "activate.done", "commit.saved"} {
		t.Run(point, func(t *testing.T) {
			id := "dev-" + strings.ReplaceAll(point, ".", "-")
			cfg := otatest.Config(t, id, s.Pub)
			hit := false
			cfg = ota.WithCrashHook(cfg, crashAt(point, &hit))
			d := otatest.StartDevice(t, b.URL(), cfg)
			m, env := s.Update(t, model, ota.UpdateOptions{Version: "2." + string(rune('0'+i)), ChunkSize: 1024, Target: ota.Target{Devices: []string{id}}})
			t.Cleanup(func() { op.publish(ota.DeviceTopic(op.prefix, id, "manifest"), true, nil) })
			op.offerDevice(id, env, m, model)
			otatest.WaitFor(t, 20*time.Second, "the crash point", func() bool {
				done := false
				ota.WhileLocked(d.U, func() { done = hit }) // the lock is released once Run has unwound
				return done
			})
			d.Restart()
			got := d.CheckOneValidModel()
			switch point {
			case "activate.saved", "activate.done", "commit.saved":
				// The registry already names the new model: the agent starts with it.
				if got.SHA256 != m.SHA256 {
					t.Fatalf("restarted with %s, want the new model", got.Name)
				}
			}
			st := d.WaitState(ota.StateCommitted, m.ID, 20*time.Second)
			if st.Active.SHA256 != m.SHA256 {
				t.Fatalf("committed %+v", st.Active)
			}
			d.CheckOneValidModel()
			if files := d.StoreFiles(); len(files) != 1 || files[0] != m.SHA256+".tflite" {
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
	s := otatest.NewSigner(t)
	model := otatest.ReadFile(t, otatest.Sin)
	for _, tc := range []struct {
		name, reason string
		prepare      func(d *otatest.Device, sha string)
	}{
		{"inference error", "health: inference failed after", func(d *otatest.Device, sha string) {
			d.RT.SetFrameErr(sha, errors.New("output tensor is NaN"))
		}},
		{"no frames", "health: 0 of 5 frames inferred within 1s", func(d *otatest.Device, sha string) { d.RT.SetPaused(true) }},
		{"activation fails", "activate: camera pipeline busy", func(d *otatest.Device, sha string) {
			d.RT.SetActivateErr(sha, errors.New("camera pipeline busy"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "dev-" + strings.ReplaceAll(tc.name, " ", "-")
			cfg := otatest.Config(t, id, s.Pub)
			cfg.HealthTimeout = time.Second
			d := otatest.StartDevice(t, b.URL(), cfg)
			base := d.CheckOneValidModel()
			m, env := s.Update(t, model, ota.UpdateOptions{Version: "2", ChunkSize: 1024, Target: ota.Target{Devices: []string{id}}})
			tc.prepare(d, m.SHA256)
			t.Cleanup(func() { op.publish(ota.DeviceTopic(op.prefix, id, "manifest"), true, nil) })
			op.offerDevice(id, env, m, model)
			st := d.WaitState(ota.StateRolledBack, m.ID, 20*time.Second)
			if !strings.Contains(st.Reason, tc.reason) || st.Active.SHA256 != base.SHA256 || st.Update.SHA256 != m.SHA256 {
				t.Fatalf("status %+v, want rolled back with %q", st, tc.reason)
			}
			d.RT.SetPaused(false)
			if got := d.CheckOneValidModel(); got.SHA256 != base.SHA256 {
				t.Fatalf("running %s after the rollback", got.Name)
			}
			if files := d.StoreFiles(); len(files) != 0 {
				t.Fatalf("model store keeps %v", files)
			}
			d.Restart()
			if got := d.CheckOneValidModel(); got.SHA256 != base.SHA256 {
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
	s := otatest.NewSigner(t)
	cfg := otatest.Config(t, "dev", s.Pub)
	cfg.HealthFrames = 1 << 20 // never reached: the window stays open
	cfg.HealthTimeout = time.Hour
	d := otatest.StartDevice(t, b.URL(), cfg)
	base := d.CheckOneValidModel()
	model := otatest.ReadFile(t, otatest.Sin)
	m, env := s.Update(t, model, ota.UpdateOptions{Version: "2", ChunkSize: 1024, Target: ota.Target{Devices: []string{"dev"}}})
	op.offerDevice("dev", env, m, model)
	d.WaitState(ota.StateActivated, m.ID, 20*time.Second)
	d.Restart() // first restart: the window starts again with the new model
	if got := d.CheckOneValidModel(); got.SHA256 != m.SHA256 {
		t.Fatalf("first restart loaded %s", got.Name)
	}
	if st := d.WaitState(ota.StateActivated, m.ID, 5*time.Second); st.Health.Restarts != 1 {
		t.Fatalf("health %+v", st.Health)
	}
	d.Restart() // second: rolled back before loading
	if got := d.CheckOneValidModel(); got.SHA256 != base.SHA256 {
		t.Fatalf("second restart loaded %s", got.Name)
	}
	st := d.WaitState(ota.StateRolledBack, m.ID, 5*time.Second)
	mustContain(t, st.Reason, "health: the agent restarted 2 times during the health window")
}

// TestLoadFailedFallsBack: a committed model that no longer loads gives way to the previous
// one, then to the configured model.
func TestLoadFailedFallsBack(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "dev", s.Pub))
	base := d.CheckOneValidModel()
	var last *ota.Manifest
	for i, path := range []string{otatest.Sin, otatest.HelloInt8} {
		last = op.install(s, d, path, string(rune('2'+i)))
	}
	d.Stop()
	u, err := ota.Open(d.Cfg, otatest.NewRuntime())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	m := u.Model()
	if m.SHA256 != last.SHA256 {
		t.Fatalf("ota.Model = %s", m.Name)
	}
	prev, err := u.LoadFailed(m, errors.New("out of memory"))
	if err != nil || prev.SHA256 == m.SHA256 || prev.Path == base.Path {
		t.Fatalf("first fallback: %+v, %v", prev, err)
	}
	if st := u.Status(); st.State != ota.StateRolledBack || !strings.Contains(st.Reason, "out of memory") {
		t.Fatalf("status %+v", st)
	}
	next, err := u.LoadFailed(prev, errors.New("still no memory"))
	if err != nil || next.Path != base.Path {
		t.Fatalf("second fallback: %+v, %v", next, err)
	}
	if _, err := u.LoadFailed(next, errors.New("broken")); !errors.Is(err, ota.ErrNoModel) {
		t.Fatalf("third: %v", err)
	}
}

// TestDamagedStateDB: an ota.db that cannot be read is moved aside; the device keeps the
// committed model it has in its model store.
func TestDamagedStateDB(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "dev", s.Pub))
	m := op.install(s, d, otatest.Sin, "2")
	d.Stop()
	path := filepath.Join(d.Cfg.StateDir, "ota.db")
	if err := os.WriteFile(path, []byte("this is not a bbolt file, it is garbage from a bad SD card sector"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := ota.Open(d.Cfg, otatest.NewRuntime())
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
	d.Start()
	d.CheckOneValidModel()
	// Further updates work on the fresh file.
	op.install(s, d, otatest.HelloInt8, "3")
	if st := d.U.Status(); st.Previous.SHA256 != m.SHA256 {
		t.Fatalf("previous %+v", st.Previous)
	}
}

// TestConfigModelChange: pointing model.path at another file makes it the active model, over
// what OTA installed.
func TestConfigModelChange(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "dev", s.Pub))
	op.install(s, d, otatest.Sin, "2")
	d.Stop()
	d.Cfg.Base = ota.Model{Path: otatest.HelloInt8, Name: "hello-int8", Version: "5"}
	d.Start()
	if got := d.CheckOneValidModel(); got.Path != otatest.HelloInt8 || got.Version != "5" {
		t.Fatalf("active %+v", got)
	}
	if files := d.StoreFiles(); len(files) != 0 {
		t.Fatalf("store keeps %v", files)
	}
}

// TestSupersede: a newer manifest replaces a transfer in progress; the older one's chunks go.
func TestSupersede(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "dev", s.Pub))
	a := otatest.ReadFile(t, otatest.Mobilenet)
	ma, enva := s.Update(t, a, ota.UpdateOptions{Version: "2", ChunkSize: 4096, Target: ota.Target{Devices: []string{"dev"}},
		Created: time.Now().Add(-time.Minute)})
	op.offer(ota.DeviceTopic(op.prefix, "dev", "manifest"), ota.DeviceTopic(op.prefix, "dev", "chunk"), enva, ma, a, func(i int) bool { return i < 10 })
	d.WaitState(ota.StateReceiving, ma.ID, 10*time.Second)
	bm := otatest.ReadFile(t, otatest.Sin)
	mb, envb := s.Update(t, bm, ota.UpdateOptions{Version: "3", ChunkSize: 1024, Target: ota.Target{Groups: []string{"lobby"}}})
	op.offerGroup("lobby", envb, mb, bm)
	d.WaitState(ota.StateCommitted, mb.ID, 20*time.Second)
	// The older manifest, retained on the device topic, is not taken up again after a restart.
	d.Restart()
	time.Sleep(500 * time.Millisecond)
	if st := d.U.Status(); st.Update.Manifest != mb.ID || st.Active.SHA256 != mb.SHA256 {
		t.Fatalf("after restart %+v", st)
	}
}

// TestBaseReplacedInPlace: a package upgrade that replaces the configured model file (same path,
// new contents) leaves the model installed by an update running.
func TestBaseReplacedInPlace(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	cfg := otatest.Config(t, "dev", s.Pub)
	base := filepath.Join(t.TempDir(), "base.tflite")
	if err := os.WriteFile(base, otatest.ReadFile(t, otatest.HelloFloat), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Base.Path = base
	d := otatest.StartDevice(t, b.URL(), cfg)
	m := op.install(s, d, otatest.Sin, "2")
	d.Stop()
	if err := os.WriteFile(base, otatest.ReadFile(t, otatest.HelloInt8), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start()
	if got := d.CheckOneValidModel(); got.SHA256 != m.SHA256 {
		t.Fatalf("after the base file changed the device runs %s", got.Name)
	}
	want, _ := ota.FileSHA256(otatest.HelloInt8)
	if st := d.U.Status(); st.Previous == nil || st.Previous.SHA256 != want {
		t.Fatalf("previous %+v, want the new contents of the base file", st.Previous)
	}
}
