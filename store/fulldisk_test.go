package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edge-agent/edge-agent/store"
)

// mountTmpfs mounts a tmpfs of the given size ("4m") on a temporary directory for the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		// Needs root (CAP_SYS_ADMIN). TestFileSizeLimit covers the same path without it.
		t.Skipf("cannot mount a tmpfs (%v); TestFileSizeLimit checks write errors instead", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestFullDisk fills a real, small file system: the append that does not fit fails with ENOSPC,
// Stats report it, nothing committed is lost, and appends work again once space is freed.
func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	// Leave the database about 1.5 MiB.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 2<<20+512<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.db")
	opts := store.Options{MaxCommitDelay: -1}
	db := openT(t, path, opts)
	ctx := context.Background()
	build := func(_ int, seq uint64) ([]byte, error) {
		return append(payloadOf(seq), bytes.Repeat([]byte{'x'}, 300)...), nil
	}

	var committed uint64
	var appendErr error
	for range 1000 {
		first, err := db.AppendBatch(ctx, 100, build)
		if err != nil {
			appendErr = err
			break
		}
		if first != committed+1 {
			t.Fatalf("batch starts at %d, want %d", first, committed+1)
		}
		committed += 100
	}
	if !errors.Is(appendErr, syscall.ENOSPC) {
		t.Fatalf("filling the disk ended with %v, want ENOSPC", appendErr)
	}
	t.Logf("disk full after %d records: %v", committed, appendErr)
	st := db.Stats()
	if !st.Failing || st.CommitErrors == 0 || !strings.Contains(st.LastError, "no space") || st.LastErrorTime.IsZero() {
		t.Fatalf("Stats after ENOSPC = %+v, want the error reported", st)
	}
	if st.Records != committed || st.LastSeq != committed {
		t.Fatalf("Stats = %+v, want %d records", st, committed)
	}
	checkPrefix(t, db, 1, committed)

	// An ack on a full disk either deletes or fails; it never half-applies.
	ackErr := db.Ack(1, 2, 3)
	t.Logf("ack on a full disk: %v", ackErr)
	if ackErr == nil {
		checkPrefix(t, db, 4, committed)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = openT(t, path, opts)
		checkPrefix(t, db, 4, committed)
	} else {
		if !errors.Is(ackErr, syscall.ENOSPC) {
			t.Fatalf("ack on a full disk: %v", ackErr)
		}
		checkPrefix(t, db, 1, committed)
	}
	base := db.Stats().OldestSeq

	// Still full: the retry fails the same way and breaks nothing.
	if _, err := db.AppendBatch(ctx, 100, build); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second append on a full disk: %v, want ENOSPC", err)
	}
	checkPrefix(t, db, base, committed)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	first, err := db.AppendBatch(ctx, 100, build)
	if err != nil {
		t.Fatalf("append after freeing space: %v", err)
	}
	if first != committed+1 {
		t.Fatalf("first seq after the failures = %d, want %d (failed appends take no numbers)", first, committed+1)
	}
	committed += 100
	if st := db.Stats(); st.Failing || st.LastError == "" {
		t.Fatalf("Stats after recovery = %+v: want Failing false and the last error kept", st)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, path, opts)
	checkPrefix(t, db, base, committed)
}

// checkPrefix checks that the outbox holds exactly first..last, each carrying its seq.
func checkPrefix(t *testing.T, db *store.DB, first, last uint64) {
	t.Helper()
	if err := verifyRange(db, first, last); err != nil {
		t.Fatal(err)
	}
}

func verifyRange(db *store.DB, first, last uint64) error {
	want := first
	if err := db.Scan(0, 1<<30, func(seq uint64, p []byte) error {
		if seq != want || !bytes.HasPrefix(p, payloadOf(seq)) {
			return fmt.Errorf("record %d (%.20q), want %d", seq, p, want)
		}
		want++
		return nil
	}); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	if want != last+1 {
		return fmt.Errorf("outbox ends at %d, want %d", want-1, last)
	}
	return nil
}

// fsizeChildEnv makes the test binary run fileSizeLimitChild instead of the tests: the file size
// limit applies to the whole process, so it gets a process of its own.
const fsizeChildEnv = "STORE_FSIZE_CHILD"

// TestFileSizeLimit makes the kernel refuse to grow the file (RLIMIT_FSIZE, EFBIG), which needs
// no privileges: the failing append reports the error, nothing committed is lost, and appends
// work again once the limit is lifted.
func TestFileSizeLimit(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+filepath.Join(t.TempDir(), "agent.db"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "ok:") {
		t.Fatalf("child wrote %q", out)
	}
	t.Logf("%s", out)
}

func fileSizeLimitChild(path string) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return err
	}
	unlimited := lim
	lim.Cur = 1 << 20
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		return err
	}
	opts := store.Options{MaxCommitDelay: -1}
	db, err := store.Open(path, opts)
	if err != nil {
		return err
	}
	ctx := context.Background()
	build := func(_ int, seq uint64) ([]byte, error) {
		return append(payloadOf(seq), bytes.Repeat([]byte{'x'}, 300)...), nil
	}
	var committed uint64
	var appendErr error
	for range 1000 {
		if _, err := db.AppendBatch(ctx, 100, build); err != nil {
			appendErr = err
			break
		}
		committed += 100
	}
	if appendErr == nil || !strings.Contains(appendErr.Error(), "file too large") {
		return fmt.Errorf("appending past the file size limit ended with %v, want EFBIG", appendErr)
	}
	if st := db.Stats(); !st.Failing || st.Records != committed || !strings.Contains(st.LastError, "file too large") {
		return fmt.Errorf("Stats after EFBIG = %+v", st)
	}
	if err := verifyRange(db, 1, committed); err != nil {
		return err
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &unlimited); err != nil {
		return err
	}
	if _, err := db.AppendBatch(ctx, 100, build); err != nil {
		return fmt.Errorf("append after lifting the limit: %w", err)
	}
	committed += 100
	if err := db.Close(); err != nil {
		return err
	}
	if db, err = store.Open(path, opts); err != nil {
		return err
	}
	defer db.Close()
	if err := verifyRange(db, 1, committed); err != nil {
		return err
	}
	fmt.Printf("ok: %d records committed; the limit stopped %v\n", committed, appendErr)
	return nil
}
