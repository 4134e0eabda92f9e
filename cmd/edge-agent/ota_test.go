package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/otatest"
)

func runCmd(t *testing.T, ctx context.Context, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// keygen makes a key pair in a new directory and returns the private key's path and the public
// key.
func keygen(t *testing.T) (string, ota.PublicKey) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keys")
	out, _, err := runCmd(t, context.Background(), "keygen", "--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ota.ParsePublicKey(filepath.Join(dir, "signing.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, pub.Inline()) || !strings.Contains(out, "key "+pub.ID) || !strings.Contains(out, "trusted_keys") {
		t.Fatalf("keygen printed %q", out)
	}
	return filepath.Join(dir, "signing.key"), pub
}

func TestKeygen(t *testing.T) {
	key, _ := keygen(t)
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing.key: %v %v", fi.Mode(), err)
	}
	_, _, err := runCmd(t, context.Background(), "keygen", "--out", filepath.Dir(key))
	if err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Fatalf("second keygen: %v", err)
	}
	if _, _, err := runCmd(t, context.Background(), "keygen"); exitCode(err) != 2 {
		t.Fatalf("keygen without --out: %v", err)
	}
}

// TestPushStatusRollback walks through the operator's commands against a real mosquitto and two
// in-process devices of group lobby: push (flags before and after the model), status, rollback.
func TestPushStatusRollback(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	all := subscribe(t, b.URL(), "#")
	key, pub := keygen(t)
	d1 := otatest.StartDevice(t, b.URL(), otatest.Config(t, "cam-1", pub))
	d2 := otatest.StartDevice(t, b.URL(), otatest.Config(t, "cam-2", pub))
	d1.WaitState(ota.StateIdle, "", 5*time.Second)
	d2.WaitState(ota.StateIdle, "", 5*time.Second)
	time.Sleep(200 * time.Millisecond)
	labels := filepath.Join(t.TempDir(), "labels.txt")
	if err := os.WriteFile(labels, []byte("y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out, _, err := runCmd(t, ctx, "model", "push", "--broker", b.URL(), "--key", key, otatest.Sin,
		"--group", "lobby", "--version", "2.1", "--labels", labels, "--chunk-size", "1024", "--timeout", "30s")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	for _, want := range []string{"pushing sin_model 2.1", "cam-1", "cam-2", "committed"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("progress bar escapes on a non-terminal:\n%q", out)
	}
	if m := d1.CheckOneValidModel(); m.Version != "2.1" || m.Name != "sin_model" {
		t.Fatalf("cam-1 runs %+v", m)
	}

	out, _, err = runCmd(t, ctx, "model", "status", "--broker", b.URL(), "--group", "lobby")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "DEVICE") || !strings.Contains(lines[1], "cam-1") ||
		!strings.Contains(lines[1], "sin_model") || !strings.Contains(lines[1], "2.1") || !strings.Contains(lines[1], "committed") ||
		!strings.Contains(lines[1], "online") {
		t.Fatalf("status table:\n%s", out)
	}

	time.Sleep(time.Second) // the rollback is newer than the push by its creation second
	out, _, err = runCmd(t, ctx, "model", "rollback", "--broker", b.URL(), "--key", key, "--group", "lobby", "--timeout", "30s")
	if err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if !strings.Contains(out, "rolled_back") {
		t.Fatalf("rollback output:\n%s", out)
	}
	if m := d2.CheckOneValidModel(); m.Version != "1.0" {
		t.Fatalf("cam-2 runs %+v after the rollback", m)
	}
	// Manifests, chunks, requests and statuses are what docs/asyncapi.yaml says.
	for _, topic := range []string{"edge/ota/group/lobby/manifest", "edge/ota/group/lobby/chunk", "edge/cam-1/model/status"} {
		if len(all.get(topic)) == 0 {
			t.Errorf("nothing seen on %s", topic)
		}
	}
	all.checkAsyncAPI(t)
}

// TestPushExitStatus: a refused update exits 3, an offline device 4, a file that is not a model
// is refused before anything is published unless --force.
func TestPushExitStatus(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	key, pub := keygen(t)
	_, other := keygen(t)
	otatest.StartDevice(t, b.URL(), otatest.Config(t, "trusts-us", pub))
	otatest.StartDevice(t, b.URL(), otatest.Config(t, "trusts-other", other))
	ctx := context.Background()

	out, _, err := runCmd(t, ctx, "model", "push", "--broker", b.URL(), "--key", key, "--device", "trusts-other", "--version", "2", "--timeout", "20s", otatest.Sin)
	if exitCode(err) != exitFailed || !strings.Contains(out, "rejected") || !strings.Contains(out, "signature") {
		t.Fatalf("untrusted: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	_, _, err = runCmd(t, ctx, "model", "push", "--broker", b.URL(), "--key", key, "--device", "nobody", "--version", "2", "--timeout", "2s", otatest.Sin)
	if exitCode(err) != exitTimeout || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("offline: exit %d (%v)", exitCode(err), err)
	}
	junk := filepath.Join(t.TempDir(), "junk.tflite")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("junk"), 500), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runCmd(t, ctx, "model", "push", "--broker", b.URL(), "--key", key, "--device", "trusts-us", "--version", "2", junk)
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("junk without --force: %v", err)
	}
	out, _, err = runCmd(t, ctx, "model", "push", "--broker", b.URL(), "--key", key, "--device", "trusts-us", "--version", "2", "--force", "--timeout", "20s", junk)
	if exitCode(err) != exitFailed || !strings.Contains(out, "validate") {
		t.Fatalf("junk with --force: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	for _, args := range [][]string{
		{"model", "push", "--broker", b.URL(), "--key", key, otatest.Sin},                    // no target
		{"model", "push", "--broker", b.URL(), "--device", "x", otatest.Sin},                 // no key
		{"model", "push", "--broker", b.URL(), "--key", key, "--device", "a/b", otatest.Sin}, // bad id
		{"model", "push", "--key", key, "--device", "x", otatest.Sin, otatest.Sin},           // two models
		{"model", "frobnicate"},
	} {
		if _, _, err := runCmd(t, ctx, args...); exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, exitCode(err), err)
		}
	}
}

// TestServeCommand: a device that was offline during a push catches up from `model serve`.
func TestServeCommand(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	key, pub := keygen(t)
	d := otatest.StartDevice(t, b.URL(), otatest.Config(t, "late", pub))
	d.WaitState(ota.StateIdle, "", 5*time.Second)
	time.Sleep(200 * time.Millisecond)
	d.Stop()
	ctx := context.Background()
	if _, _, err := runCmd(t, ctx, "model", "push", "--broker", b.URL(), "--key", key, "--group", "lobby",
		"--version", "2", "--chunk-size", "1024", "--timeout", "1s", otatest.Sin); exitCode(err) != exitTimeout {
		t.Fatalf("push with the device offline: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sin.tflite"), otatest.ReadFile(t, otatest.Sin), 0o644); err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan string, 1)
	go func() {
		out, _, err := runCmd(t, sctx, "model", "serve", "--broker", b.URL(), "--dir", dir)
		if err != nil {
			t.Error(err)
		}
		done <- out
	}()
	d.Start()
	st := d.WaitState(ota.StateCommitted, "", 30*time.Second)
	if st.Active.Version != "2" {
		t.Fatalf("active %+v", st.Active)
	}
	stop()
	out := <-done
	if !strings.Contains(out, "serving 1 models from") || !strings.Contains(out, "7 chunks sent") {
		t.Fatalf("serve output:\n%s", out)
	}
}
