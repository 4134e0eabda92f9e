package ota_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/otatest"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
	"github.com/edge-agent/edge-agent/store"
)

// mountTmpfs mounts a small tmpfs for the test (needs root, like the store's full-disk test).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a tmpfs (%v); needs root", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the file system is full, leaving about leave bytes.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		free, err := ota.FreeBytes(dir)
		if err != nil {
			t.Fatal(err)
		}
		if int64(free) <= leave {
			return path
		}
		if _, err := f.Write(block); err != nil {
			return path
		}
	}
}

// TestFullDisk fills the disk in the middle of a transfer: the transfer fails with a disk
// reason, what the outbox had committed is intact, the space the transfer took is given back
// (the outbox can append again), and a later update works.
func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	cfg := otatest.Config(t, "dev", s.Pub)
	cfg.StateDir = dir
	d := otatest.StartDevice(t, b.URL(), cfg)
	// An outbox on the same file system that nothing drains, to see what a full disk does to it.
	outbox, err := store.Open(filepath.Join(dir, "outbox.db"), store.Options{MaxCommitDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer outbox.Close()
	ctx := context.Background()
	payload := func(seq uint64) ([]byte, error) {
		return []byte(fmt.Sprintf(`{"seq":%d,"pad":"%s"}`, seq, bytes.Repeat([]byte("x"), 200))), nil
	}
	for range 50 {
		if _, err := outbox.Append(ctx, payload); err != nil {
			t.Fatal(err)
		}
	}

	model := otatest.ReadFile(t, otatest.Mobilenet)
	m, env := s.Update(t, model, ota.UpdateOptions{Version: "2", ChunkSize: 4096, Target: ota.Target{Devices: []string{"dev"}}})
	op.offer(ota.DeviceTopic(op.prefix, "dev", "manifest"), "", env, m, model, func(int) bool { return false })
	d.WaitState(ota.StateReceiving, m.ID, 10*time.Second)
	filler := fill(t, dir, 96<<10) // room for a few chunks only
	sha := sha256.Sum256(model)
	for i := range m.ChunkCount {
		op.publish(ota.DeviceTopic(op.prefix, "dev", "chunk"), false, ota.ChunkMessage(model, sha, m.ChunkSize, i))
	}
	st := d.WaitState(ota.StateRejected, m.ID, 20*time.Second)
	if st.Check != ota.CheckDisk {
		t.Fatalf("rejected with %q, want a disk reason", st.Reason)
	}
	t.Logf("rejected: %s", st.Reason)
	d.CheckOneValidModel()

	// The outbox lost nothing, and the space the transfer had taken is free again.
	var seqs []uint64
	if err := outbox.Scan(0, 1000, func(seq uint64, p []byte) error {
		if want, _ := payload(seq); !bytes.Equal(p, want) {
			return fmt.Errorf("record %d changed", seq)
		}
		seqs = append(seqs, seq)
		return nil
	}); err != nil || len(seqs) != 50 {
		t.Fatalf("outbox after the full disk: %d records, %v", len(seqs), err)
	}
	otatest.WaitFor(t, 10*time.Second, "an outbox append to succeed again", func() bool {
		_, err := outbox.Append(ctx, payload)
		if err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatal(err)
		}
		return err == nil
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	m2, env2 := s.Update(t, model, ota.UpdateOptions{Version: "3", ChunkSize: 4096, Target: ota.Target{Devices: []string{"dev"}}})
	op.offerDevice("dev", env2, m2, model)
	op.serve(model, nil)
	d.WaitState(ota.StateCommitted, m2.ID, 30*time.Second)
	d.CheckOneValidModel()
}
