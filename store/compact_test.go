package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/store"
)

// fill appends n records of about 500 bytes in batches and returns the last seq.
func fill(t *testing.T, db *store.DB, n int) uint64 {
	t.Helper()
	var last uint64
	for n > 0 {
		b := min(n, 1000)
		first, err := db.AppendBatch(context.Background(), b, func(_ int, seq uint64) ([]byte, error) {
			return append(payloadOf(seq), bytes.Repeat([]byte{'p'}, 480)...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		last = first + uint64(b) - 1
		n -= b
	}
	return last
}

func ackRange(t *testing.T, db *store.DB, first, last uint64) {
	t.Helper()
	seqs := make([]uint64, 0, last-first+1)
	for s := first; s <= last; s++ {
		seqs = append(seqs, s)
	}
	if err := db.Ack(seqs...); err != nil {
		t.Fatal(err)
	}
}

func TestCompactionShrinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	opts := store.Options{MaxCommitDelay: -1, CompactMinWaste: 1 << 20, CompactRatio: 2, CompactInterval: 20 * time.Millisecond}
	db := openT(t, path, opts)
	last := fill(t, db, 20000)
	full := db.Stats().FileSize
	if full < 8<<20 {
		t.Fatalf("file is %d bytes after 20000 records, want at least 8 MiB", full)
	}
	// Keep the newest 100: compaction must carry them over.
	ackRange(t, db, 1, last-100)
	deadline := time.Now().Add(20 * time.Second)
	for db.Stats().Compactions == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no compaction after draining: %+v", db.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := db.Stats()
	if st.FileSize*4 > full {
		t.Fatalf("file is %d bytes after compaction, was %d: want at most a quarter", st.FileSize, full)
	}
	t.Logf("file %d bytes full, %d after draining and compacting", full, st.FileSize)
	checkPrefix(t, db, last-99, last)
	if got := appendN(t, db, 1)[0]; got != last+1 {
		t.Fatalf("seq after compaction = %d, want %d", got, last+1)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("compaction left its temporary file: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, path, opts)
	checkPrefix(t, db, last-99, last+1)
	if got := db.Stats(); got.Records != 101 || got.LastSeq != last+1 {
		t.Fatalf("Stats after compaction and reopen = %+v", got)
	}
}

func TestCompactionAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db := openT(t, path, store.Options{MaxCommitDelay: -1, CompactMinWaste: -1})
	last := fill(t, db, 10000)
	ackRange(t, db, 1, last)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A copy left by a compaction that was killed.
	if err := os.WriteFile(path+".compact", []byte("half a file"), 0o600); err != nil {
		t.Fatal(err)
	}

	db = openT(t, path, store.Options{CompactMinWaste: 1 << 20})
	st := db.Stats()
	if st.Compactions != 1 || st.FileSize*4 > fi.Size() {
		t.Fatalf("Open of a drained %d-byte file: %d compactions, %d bytes", fi.Size(), st.Compactions, st.FileSize)
	}
	if _, err := os.Stat(path + ".compact"); !os.IsNotExist(err) {
		t.Fatalf("stale compaction file still there: %v", err)
	}
	if got := appendN(t, db, 1)[0]; got != last+1 {
		t.Fatalf("seq after compaction at open = %d, want %d", got, last+1)
	}
}
