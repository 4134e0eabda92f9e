package ota_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/otatest"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
)

// childEnv makes the test binary run as a device process (for the kill -9 test) instead of
// running tests.
const childEnv = "OTA_KILL_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild is a device: it opens the updater, loads the model it names (printing
// "MODEL <sha256> <path>"), and runs until killed.
func runChild() error {
	key, err := ota.ParsePublicKey(os.Getenv("OTA_KILL_KEY"))
	if err != nil {
		return err
	}
	frames, _ := strconv.Atoi(os.Getenv("OTA_KILL_HEALTH_FRAMES"))
	dir := os.Getenv("OTA_KILL_DIR")
	cfg := ota.Config{DeviceID: os.Getenv(childEnv), StateDir: dir, TrustedKeys: []ota.PublicKey{key},
		Base: ota.Model{Path: otatest.HelloFloat, Name: "hello", Version: "1.0"}, HealthFrames: frames, HealthTimeout: time.Minute,
		RequestIdle: 200 * time.Millisecond, ReserveBytes: -1}
	rt := otatest.NewRuntime()
	u, err := ota.Open(cfg, rt)
	if err != nil {
		return err
	}
	m, err := rt.Load(u)
	if err != nil {
		return err
	}
	fmt.Printf("MODEL %s %s\n", m.SHA256, m.Path)
	db, err := store.Open(filepath.Join(dir, "edge-agent.db"), store.Options{})
	if err != nil {
		return err
	}
	cl, err := sync.New(sync.Config{Broker: os.Getenv("OTA_KILL_BROKER"), DeviceID: cfg.DeviceID, Verify: sync.VerifyOff,
		Subscriptions: u.Subscriptions(), OnConnect: u.OnConnect,
		Backoff: sync.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}}, db, nil)
	if err != nil {
		return err
	}
	ctx := context.Background()
	go func() { _ = cl.Run(ctx) }()
	go rt.Loop(ctx)
	return u.Run(ctx, cl)
}

// child is a device process under the test's control.
type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	model string // the SHA-256 it loaded at start
}

func startChild(t *testing.T, env []string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd}
	t.Cleanup(c.kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "MODEL" {
		t.Fatalf("child said %q", line)
	}
	// The one model the child loads is intact.
	if sum, err := ota.FileSHA256(f[2]); err != nil || sum != f[1] {
		t.Fatalf("child loaded %s: sha %s, %v", f[2], sum, err)
	}
	c.model = f[1]
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return c
}

func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// TestKill9 kills a real device process with SIGKILL in the middle of a transfer and in its
// health window: each restart loads exactly one intact model and the update completes.
func TestKill9(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{Quiet: true})
	w := watchStatuses(t, b.URL())
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	dir := t.TempDir()
	env := []string{childEnv + "=cam-k", "OTA_KILL_KEY=" + s.Pub.Inline(), "OTA_KILL_DIR=" + dir,
		"OTA_KILL_BROKER=" + b.URL(), "OTA_KILL_HEALTH_FRAMES=300"}
	status := func() ota.Status {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.last["cam-k"]
	}
	c := startChild(t, env)
	base := c.model
	otatest.WaitFor(t, 10*time.Second, "the child's status", func() bool { return status().State == ota.StateIdle })

	// Kill during the transfer: chunks trickle in, the process dies after about a third.
	model := otatest.ReadFile(t, otatest.Mobilenet)
	m, envl := s.Update(t, model, ota.UpdateOptions{Name: "mobilenet", Version: "2", ChunkSize: 1024, Target: ota.Target{Devices: []string{"cam-k"}}})
	op.publish(ota.DeviceTopic(op.prefix, "cam-k", "manifest"), true, envl)
	sha := sha256.Sum256(model)
	for i := range m.ChunkCount / 3 {
		op.publish(ota.DeviceTopic(op.prefix, "cam-k", "chunk"), false, ota.ChunkMessage(model, sha, m.ChunkSize, i))
	}
	otatest.WaitFor(t, 10*time.Second, "progress", func() bool { p := status().Progress; return p != nil && p.Chunks > 50 })
	c.kill()
	t.Logf("killed during the transfer at %d of %d chunks", status().Progress.Chunks, m.ChunkCount)
	c = startChild(t, env)
	if c.model != base {
		t.Fatalf("restarted with model %s during a transfer", c.model)
	}
	op.serve(model, nil)
	otatest.WaitFor(t, 60*time.Second, "the commit", func() bool { s := status(); return s.State == ota.StateCommitted && s.Update.Manifest == m.ID })
	if served := op.servedTo("cam-k"); served >= m.ChunkCount {
		t.Fatalf("%d chunks served after the restart: the transfer started over", served)
	}
	op.stopServing()

	// Kill in the health window: the restart loads the new model and the window completes.
	model2 := otatest.ReadFile(t, otatest.Sin)
	m2, env2 := s.Update(t, model2, ota.UpdateOptions{Name: "sin", Version: "3", ChunkSize: 1024, Target: ota.Target{Devices: []string{"cam-k"}}})
	op.offerDevice("cam-k", env2, m2, model2)
	otatest.WaitFor(t, 20*time.Second, "the health window", func() bool { s := status(); return s.State == ota.StateActivated && s.Update.Manifest == m2.ID })
	c.kill()
	c = startChild(t, env)
	if c.model != m2.SHA256 {
		t.Fatalf("restarted in the health window with %s, want the model on trial", c.model)
	}
	otatest.WaitFor(t, 30*time.Second, "the commit", func() bool { s := status(); return s.State == ota.StateCommitted && s.Update.Manifest == m2.ID })
	if st := status(); st.Previous == nil || st.Previous.SHA256 != m.SHA256 {
		t.Fatalf("previous %+v", st.Previous)
	}
	c.kill()
	c = startChild(t, env)
	if c.model != m2.SHA256 {
		t.Fatalf("after the commit the child loads %s", c.model)
	}
}
