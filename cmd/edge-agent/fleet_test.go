package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/agent"
	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/operator"
	"github.com/edge-agent/edge-agent/ota/otatest"
)

// agentProc is a real agent process of a fleet test.
type agentProc struct {
	t      *testing.T
	bin    string
	device string
	broker string
	dir    string
	env    []string
	cmd    *exec.Cmd
	stderr *syncBuf
}

type syncBuf struct {
	mu gosync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newAgentProc prepares an agent on the sample clip with the small quantized classifier, in
// group lobby, trusting key, publishing to broker.
func newAgentProc(t *testing.T, bin, device, broker string, key ota.PublicKey, env ...string) *agentProc {
	p := &agentProc{t: t, bin: bin, device: device, broker: broker, dir: t.TempDir(), env: append(agentEnv(),
		agent.EnvName("device.groups")+"=lobby",
		agent.EnvName("ota.trusted_keys")+"="+key.Inline(),
		agent.EnvName("ota.health_frames")+"=3",
		agent.EnvName("camera.loop")+"=true",
		agent.EnvName("model.threads")+"=1",
		agent.EnvName("mqtt.reconnect_max")+"=1s",
	)}
	p.env = append(p.env, env...)
	p.start()
	t.Cleanup(func() { p.signal(syscall.SIGKILL) })
	return p
}

func (p *agentProc) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin, "run", "--source", sampleClip, "--model", quantClassify, "--labels", imagenetLabels,
		"--device-id", p.device, "--state-dir", p.dir, "--mqtt-url", p.broker, "--max-fps", "5")
	p.cmd.Env = p.env
	p.stderr = &syncBuf{}
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
}

// signal stops the process with sig and waits for it.
func (p *agentProc) signal(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	_ = p.cmd.Wait()
}

func loadedSHA(p *agentProc) string {
	_, sha := p.loaded()
	return sha
}

var loadedRE = regexp.MustCompile(`msg="model loaded" path=(\S+) .*sha256=([0-9a-f]{64})`)

// loaded waits for the agent's "model loaded" line and returns the model's path and SHA-256.
func (p *agentProc) loaded() (path, sha string) {
	p.t.Helper()
	otatest.WaitFor(p.t, 30*time.Second, p.device+"'s model loaded line", func() bool {
		m := loadedRE.FindStringSubmatch(p.stderr.String())
		if m != nil {
			path, sha = m[1], m[2]
		}
		return m != nil
	})
	return path, sha
}

// fleetWatch follows every device's model status and predictions on the broker.
type fleetWatch struct {
	c *collector
}

func (w fleetWatch) status(device string) ota.Status {
	var s ota.Status
	if ps := w.c.get("edge/" + device + "/model/status"); len(ps) > 0 {
		_ = json.Unmarshal(ps[len(ps)-1], &s)
	}
	return s
}

func (w fleetWatch) lastRecord(device string) agent.Record {
	var r agent.Record
	if ps := w.c.get("edge/" + device + "/predictions"); len(ps) > 0 {
		_ = json.Unmarshal(ps[len(ps)-1], &r)
	}
	return r
}

// TestFleetGroupPush runs three real agent processes on one broker. One group push reaches the
// two that are online; the third, offline during the push, catches up later from `model serve`.
// Every one ends up predicting with the new model.
func TestFleetGroupPush(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three agent processes")
	}
	bin := buildAgent(t)
	b := mqtttest.Start(t, mqtttest.Options{Quiet: true})
	w := fleetWatch{subscribe(t, b.URL(), "edge/#")}
	keyFile, pub := keygen(t)
	var procs []*agentProc
	for _, dev := range []string{"fleet-1", "fleet-2", "fleet-3"} {
		procs = append(procs, newAgentProc(t, bin, dev, b.URL(), pub))
	}
	for _, p := range procs {
		otatest.WaitFor(t, 30*time.Second, p.device+"'s model status", func() bool { return w.status(p.device).State == ota.StateIdle })
	}
	procs[2].signal(syscall.SIGTERM) // offline during the push

	ctx := context.Background()
	out, _, err := runCmd(t, ctx, "model", "push", "--broker", b.URL(), "--key", keyFile, "--group", "lobby",
		"--version", "2", "--name", "mobilenet-float", "--timeout", "15s", floatClassify)
	if exitCode(err) != exitTimeout || !strings.Contains(err.Error(), "fleet-3") {
		t.Fatalf("push: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	t.Logf("push:\n%s", out)
	sha, err := ota.FileSHA256(floatClassify)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs[:2] {
		if s := w.status(p.device); s.State != ota.StateCommitted || s.Active.SHA256 != sha {
			t.Fatalf("%s: %+v", p.device, s)
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mobilenet-float.tflite"), otatest.ReadFile(t, floatClassify), 0o644); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan string, 1)
	go func() {
		out, _, _ := runCmd(t, sctx, "model", "serve", "--broker", b.URL(), "--dir", dir)
		served <- out
	}()
	procs[2].start()
	otatest.WaitFor(t, 60*time.Second, "fleet-3 to catch up", func() bool {
		s := w.status("fleet-3")
		return s.State == ota.StateCommitted && s.Active != nil && s.Active.SHA256 == sha
	})
	stop()
	t.Logf("serve: %s", <-served)
	for _, p := range procs {
		otatest.WaitFor(t, 30*time.Second, p.device+"'s records of the new model", func() bool {
			r := w.lastRecord(p.device)
			return r.Model.SHA256 == sha && r.Model.Version == "2" && r.Model.Name == "mobilenet-float"
		})
	}
	// The real agents' statuses, events and records, and the update's messages, are what
	// docs/asyncapi.yaml says.
	w.c.checkAsyncAPI(t)
}

// TestKillDuringUpdate kills the real agent with SIGKILL at random moments of an update (the
// transfer, verification, activation) and in its health window: every restart loads exactly
// one intact model, the old or the new, and the update completes.
func TestKillDuringUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the agent binary many times")
	}
	bin := buildAgent(t)
	b := mqtttest.Start(t, mqtttest.Options{Quiet: true, Persistence: true})
	w := fleetWatch{subscribe(t, b.URL(), "edge/#")}
	s := otatest.NewSigner(t)
	// Random kills may land twice in one health window: here that must not roll the model back
	// (TestHealthRestartLoop in package ota checks that it does by default).
	p := newAgentProc(t, bin, "kill-pi", b.URL(), s.Pub, agent.EnvName("ota.health_frames")+"=15",
		agent.EnvName("ota.health_max_restarts")+"=10")
	baseSHA, err := ota.FileSHA256(quantClassify)
	if err != nil {
		t.Fatal(err)
	}
	if _, sha := p.loaded(); sha != baseSHA {
		t.Fatalf("first start loaded %s", sha)
	}
	model := otatest.ReadFile(t, floatClassify)
	m, env, err := operator.SignUpdate(model, s.Priv, ota.UpdateOptions{Name: "float", Version: "2", ChunkSize: 2048,
		Target: ota.Target{Devices: []string{"kill-pi"}}})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := operator.Dial(context.Background(), operator.Broker{URL: b.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pctx, stopPush := context.WithCancel(context.Background())
	defer stopPush()
	go func() { // publishes, then serves the chunks the restarted agent asks for
		_, _ = operator.Push(pctx, conn, operator.PushOptions{Model: model, Envelope: env, Wait: 5 * time.Minute})
	}()

	// Kill at random moments until the update is over: most land in the transfer, some later.
	rounds := 8
	if longTests {
		rounds = 30
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	check := func(round int) {
		t.Helper()
		path, sha := p.loaded()
		if sha != baseSHA && sha != m.SHA256 {
			t.Fatalf("round %d: loaded %s (%s)", round, path, sha)
		}
		if got, err := ota.FileSHA256(path); err != nil || got != sha {
			t.Fatalf("round %d: %s is not intact: %s %v", round, path, got, err)
		}
	}
	for round := 0; round < rounds && w.status("kill-pi").State != ota.StateCommitted; round++ {
		time.Sleep(300*time.Millisecond + time.Duration(rng.IntN(2000))*time.Millisecond)
		state := w.status("kill-pi").State
		p.signal(syscall.SIGKILL)
		p.start()
		check(round)
		t.Logf("round %d: killed while %s; restarted with %s", round, state, loadedSHA(p)[:12])
	}
	// Once in the health window, kill it there too.
	otatest.WaitFor(t, 120*time.Second, "the health window", func() bool {
		st := w.status("kill-pi")
		return (st.State == ota.StateActivated || st.State == ota.StateCommitted) && st.Update.Manifest == m.ID
	})
	if w.status("kill-pi").State == ota.StateActivated {
		p.signal(syscall.SIGKILL)
		p.start()
		if _, sha := p.loaded(); sha != m.SHA256 {
			t.Fatalf("restarted in the health window with %s, want the model on trial", sha)
		}
	}
	otatest.WaitFor(t, 120*time.Second, "the commit", func() bool {
		st := w.status("kill-pi")
		return st.State == ota.StateCommitted && st.Update.Manifest == m.ID
	})
	otatest.WaitFor(t, 30*time.Second, "records of the new model", func() bool { return w.lastRecord("kill-pi").Model.SHA256 == m.SHA256 })
}
