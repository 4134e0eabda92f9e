package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edge-agent/edge-agent/store"
)

func openT(t testing.TB, path string, opts store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func payloadOf(seq uint64) []byte { return []byte(fmt.Sprintf(`{"seq":%d}`, seq)) }

func appendN(t testing.TB, db *store.DB, n int) []uint64 {
	t.Helper()
	seqs := make([]uint64, 0, n)
	for range n {
		seq, err := db.Append(context.Background(), func(seq uint64) ([]byte, error) { return payloadOf(seq), nil })
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

type rec struct {
	seq     uint64
	payload string
}

func scanAll(t testing.TB, db *store.DB) []rec {
	t.Helper()
	var out []rec
	if err := db.Scan(0, 1<<30, func(seq uint64, p []byte) error {
		out = append(out, rec{seq, string(p)})
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return out
}

func seqsOf(rs []rec) []uint64 {
	s := make([]uint64, len(rs))
	for i, r := range rs {
		s[i] = r.seq
	}
	return s
}

func checkRange(t testing.TB, rs []rec, first, last uint64) {
	t.Helper()
	if want := int(last - first + 1); len(rs) != want {
		t.Fatalf("got %d records %v, want %d-%d", len(rs), seqsOf(rs), first, last)
	}
	for i, r := range rs {
		if want := first + uint64(i); r.seq != want || r.payload != string(payloadOf(want)) {
			t.Fatalf("record %d = (%d, %q), want (%d, %q)", i, r.seq, r.payload, want, payloadOf(want))
		}
	}
}

func TestAppendOrderAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db := openT(t, path, store.Options{MaxCommitDelay: -1})
	seqs := appendN(t, db, 50)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("append %d got seq %d, want %d", i, s, i+1)
		}
	}
	checkRange(t, scanAll(t, db), 1, 50)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := db.Append(context.Background(), func(uint64) ([]byte, error) { return nil, nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if err := db.Scan(0, 1, func(uint64, []byte) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Scan after Close: %v, want ErrClosed", err)
	}

	db = openT(t, path, store.Options{MaxCommitDelay: -1})
	select {
	case <-db.Committed():
	default:
		t.Fatal("Open of a non-empty outbox did not signal Committed")
	}
	checkRange(t, scanAll(t, db), 1, 50)
	if got := appendN(t, db, 1)[0]; got != 51 {
		t.Fatalf("first seq after reopen = %d, want 51", got)
	}
	st := db.Stats()
	if st.Records != 51 || st.OldestSeq != 1 || st.NewestSeq != 51 || st.LastSeq != 51 {
		t.Fatalf("Stats = %+v, want 51 records 1..51", st)
	}
	if want := uint64(51 * 16); st.Bytes < want {
		t.Fatalf("Stats.Bytes = %d, want at least %d", st.Bytes, want)
	}
}

func TestSeqNeverReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db := openT(t, path, store.Options{MaxCommitDelay: -1})
	seqs := appendN(t, db, 10)
	if err := db.Ack(seqs...); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Records != 0 || st.OldestSeq != 0 || st.Bytes != 0 {
		t.Fatalf("after acking all: %+v", st)
	}
	// A failed encode stores nothing and uses no number.
	errBoom := errors.New("boom")
	if _, err := db.Append(context.Background(), func(uint64) ([]byte, error) { return nil, errBoom }); !errors.Is(err, errBoom) {
		t.Fatalf("Append with failing build: %v, want boom", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, path, store.Options{MaxCommitDelay: -1})
	if got := appendN(t, db, 1)[0]; got != 11 {
		t.Fatalf("seq after draining and reopening = %d, want 11", got)
	}
	checkRange(t, scanAll(t, db), 11, 11)
}

func TestAppendBatch(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxBatch: 100})
	appendN(t, db, 3)
	first, err := db.AppendBatch(context.Background(), 100, func(i int, seq uint64) ([]byte, error) {
		return payloadOf(seq), nil
	})
	if err != nil || first != 4 {
		t.Fatalf("AppendBatch = %d, %v; want 4", first, err)
	}
	// All or nothing.
	_, err = db.AppendBatch(context.Background(), 10, func(i int, seq uint64) ([]byte, error) {
		if i == 7 {
			return nil, errors.New("bad frame")
		}
		return payloadOf(seq), nil
	})
	if err == nil || !strings.Contains(err.Error(), "bad frame") {
		t.Fatalf("AppendBatch with a failing record: %v", err)
	}
	for _, n := range []int{0, -1, 101} {
		if _, err := db.AppendBatch(context.Background(), n, nil); err == nil {
			t.Fatalf("AppendBatch(%d) succeeded", n)
		}
	}
	checkRange(t, scanAll(t, db), 1, 103)
}

func TestScan(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxCommitDelay: -1})
	appendN(t, db, 10)
	var got []uint64
	if err := db.Scan(5, 3, func(seq uint64, _ []byte) error { got = append(got, seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[6 7 8]" {
		t.Fatalf("Scan(5, 3) = %v, want [6 7 8]", got)
	}
	errStop := errors.New("stop")
	n := 0
	if err := db.Scan(0, 10, func(uint64, []byte) error { n++; return errStop }); !errors.Is(err, errStop) || n != 1 {
		t.Fatalf("Scan with failing fn: err %v after %d calls", err, n)
	}
	if err := db.Scan(0, 0, func(uint64, []byte) error { return nil }); err == nil {
		t.Fatal("Scan with max 0 succeeded")
	}
	if err := db.Scan(10, 5, func(uint64, []byte) error { t.Fatal("called past the end"); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := db.Scan(^uint64(0), 5, func(uint64, []byte) error { t.Fatal("called"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestAckIdempotent(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxCommitDelay: -1})
	appendN(t, db, 5)
	before := db.Stats().Commits
	if err := db.Ack(100, 200); err != nil {
		t.Fatalf("Ack of unknown seqs: %v", err)
	}
	if err := db.Ack(); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.Commits != before || st.Records != 5 {
		t.Fatalf("Ack of unknown seqs changed the store: %+v", st)
	}
	for range 2 {
		if err := db.Ack(2, 4, 4); err != nil {
			t.Fatal(err)
		}
	}
	st := db.Stats()
	if st.Records != 3 || st.Acked != 2 {
		t.Fatalf("after acking 2 and 4 twice: records %d acked %d, want 3 and 2", st.Records, st.Acked)
	}
	if got := fmt.Sprint(seqsOf(scanAll(t, db))); got != "[1 3 5]" {
		t.Fatalf("remaining %s, want [1 3 5]", got)
	}
}

func TestGroupCommit(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxCommitDelay: 20 * time.Millisecond})
	const n = 200
	start := make(chan struct{})
	var wg sync.WaitGroup
	seqs := make([]uint64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			seqs[i], errs[i] = db.Append(context.Background(), func(seq uint64) ([]byte, error) { return payloadOf(seq), nil })
		})
	}
	close(start)
	wg.Wait()
	seen := map[uint64]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[seqs[i]] {
			t.Fatalf("seq %d returned twice", seqs[i])
		}
		seen[seqs[i]] = true
	}
	checkRange(t, scanAll(t, db), 1, n)
	st := db.Stats()
	if st.Appended != n || st.Commits == 0 || st.Commits > n/10 {
		t.Fatalf("%d concurrent appends took %d commits, want at most %d", st.Appended, st.Commits, n/10)
	}
	t.Logf("%d appends in %d commits", n, st.Commits)

	// Acks share transactions too.
	before := st.Commits
	wg = sync.WaitGroup{}
	for i := range n {
		wg.Go(func() {
			if err := db.Ack(uint64(i + 1)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st = db.Stats()
	if st.Records != 0 || st.Commits-before > n/10 {
		t.Fatalf("%d concurrent acks: %d records left, %d commits", n, st.Records, st.Commits-before)
	}
}

func TestCommittedNotifies(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxCommitDelay: -1})
	select {
	case <-db.Committed():
		t.Fatal("notified before any commit")
	default:
	}
	appendN(t, db, 3) // more commits than the channel holds must not block
	select {
	case <-db.Committed():
	default:
		t.Fatal("no notification after commits")
	}
	select {
	case <-db.Committed():
		t.Fatal("second notification without a new commit")
	default:
	}
	if err := db.Ack(1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-db.Committed():
		t.Fatal("notified after an ack, which adds nothing to publish")
	default:
	}
}

func TestAppendContextCancelled(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxCommitDelay: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := db.Append(ctx, func(seq uint64) ([]byte, error) { return payloadOf(seq), nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append with expiring context: %v", err)
	}
	// Withdrawn while waiting for the group: the next record takes the number.
	seq := appendN(t, db, 1)[0]
	if seq != 1 {
		t.Fatalf("seq after a withdrawn append = %d, want 1", seq)
	}
	checkRange(t, scanAll(t, db), 1, 1)
}

func TestBuildPanicReachesCaller(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxCommitDelay: -1})
	func() {
		defer func() {
			if r := recover(); r != "encoder bug" {
				t.Fatalf("recovered %v, want the build panic", r)
			}
		}()
		_, _ = db.Append(context.Background(), func(uint64) ([]byte, error) { panic("encoder bug") })
		t.Fatal("Append returned after build panicked")
	}()
	if got := appendN(t, db, 1)[0]; got != 1 {
		t.Fatalf("store unusable after a build panic: seq %d", got)
	}
}

func TestBoundsMaxRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	opts := store.Options{MaxRecords: 10, MaxCommitDelay: -1}
	db := openT(t, path, opts)
	appendN(t, db, 25)
	checkRange(t, scanAll(t, db), 16, 25)
	st := db.Stats()
	if st.Records != 10 || st.OldestSeq != 16 || st.Drops[store.DropMaxRecords] != 15 || st.Drops[store.DropMaxBytes] != 0 {
		t.Fatalf("Stats = %+v, want 10 records from 16 and 15 max_records drops", st)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openT(t, path, opts)
	if got := db.Stats().Drops[store.DropMaxRecords]; got != 15 {
		t.Fatalf("drop counter after reopen = %d, want 15", got)
	}
	// A batch larger than the bound keeps its newest records.
	first, err := db.AppendBatch(context.Background(), 12, func(_ int, seq uint64) ([]byte, error) { return payloadOf(seq), nil })
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, scanAll(t, db), first+2, first+11)
	if got := db.Stats().Drops[store.DropMaxRecords]; got != 15+12 {
		t.Fatalf("drops = %d, want 27", got)
	}
}

func TestBoundsMaxBytes(t *testing.T) {
	const size = 100
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxBytes: 10 * (size + 16), MaxCommitDelay: -1})
	for range 15 {
		if _, err := db.Append(context.Background(), func(uint64) ([]byte, error) { return make([]byte, size), nil }); err != nil {
			t.Fatal(err)
		}
	}
	st := db.Stats()
	if st.Records != 10 || st.Bytes != 10*(size+16) || st.OldestSeq != 6 || st.Drops[store.DropMaxBytes] != 5 {
		t.Fatalf("Stats = %+v, want 10 records, 1160 bytes, oldest 6, 5 max_bytes drops", st)
	}
	_, err := db.Append(context.Background(), func(uint64) ([]byte, error) { return make([]byte, 20*size), nil })
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Append larger than MaxBytes: %v, want ErrTooLarge", err)
	}
	if got := db.Stats(); got.Records != 10 || got.Drops[store.DropMaxBytes] != 5 {
		t.Fatalf("a rejected record changed the outbox: %+v", got)
	}
}

func TestState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db := openT(t, path, store.Options{})
	if _, err := db.GetState("model"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetState of a missing key: %v", err)
	}
	if err := db.PutState("model", []byte("ssd-v2")); err != nil {
		t.Fatal(err)
	}
	if err := db.PutState("", []byte("x")); err == nil {
		t.Fatal("PutState with an empty key succeeded")
	}
	if err := db.PutState(strings.Repeat("k", 2000), nil); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("PutState with a long key: %v", err)
	}
	db.Close()
	db = openT(t, path, store.Options{})
	v, err := db.GetState("model")
	if err != nil || string(v) != "ssd-v2" {
		t.Fatalf("GetState after reopen = %q, %v", v, err)
	}
	if err := db.DeleteState("model"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetState("model"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetState after delete: %v", err)
	}
	if err := db.DeleteState("model"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
}

func TestLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	openT(t, path, store.Options{})
	_, err := store.Open(path, store.Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "locked by another process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not say the file is locked and name it", err)
	}
}

func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	garbage := bytes.Repeat([]byte("not a bbolt file "), 2000)

	good := filepath.Join(dir, "good.db")
	db := openT(t, good, store.Options{MaxCommitDelay: -1})
	appendN(t, db, 100)
	db.Close()
	valid, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// Both meta pages overwritten.
	badMeta := append([]byte{}, valid...)
	copy(badMeta[16:4096], garbage)
	copy(badMeta[4096+16:8192], garbage)

	for name, content := range map[string][]byte{
		"garbage":   garbage,
		"truncated": valid[:100],
		"bad-meta":  badMeta,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := store.Open(path, store.Options{})
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, path)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, content) {
				t.Fatal("Open modified the corrupt file")
			}
		})
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db := openT(t, path, store.Options{})
	db.Close()

	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, 99})
	}); err != nil {
		t.Fatal(err)
	}
	bdb.Close()

	_, err = store.Open(path, store.Options{})
	if !errors.Is(err, store.ErrSchemaVersion) || !strings.Contains(err.Error(), "99") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of a newer schema = %v, want ErrSchemaVersion naming version 99 and the file", err)
	}
}

func TestNotStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("users"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	if _, err := store.Open(path, store.Options{}); !errors.Is(err, store.ErrNotStore) {
		t.Fatalf("Open of another program's bbolt file = %v, want ErrNotStore", err)
	}
}

func TestOptionsValidated(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []store.Options{
		{MaxBatch: -1},
		{LockTimeout: -time.Second},
		{CompactRatio: 0.5},
		{CompactInterval: -time.Second},
	} {
		if db, err := store.Open(filepath.Join(dir, "x.db"), o); err == nil {
			db.Close()
			t.Errorf("Open with %+v succeeded", o)
		}
	}
}

func TestVerifyOnOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db := openT(t, path, store.Options{MaxCommitDelay: -1})
	if _, err := db.AppendBatch(context.Background(), 1000, func(_ int, seq uint64) ([]byte, error) {
		return payloadOf(seq), nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openT(t, path, store.Options{VerifyOnOpen: true})
	db.Close()

	// Mark every leaf page with an invalid page type, as a flipped bit on the card would.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize, leafFlag = 4096, 0x02
	n := 0
	for off := 2 * pageSize; off+pageSize <= len(data); off += pageSize {
		if data[off+8] == leafFlag && data[off+9] == 0 {
			data[off+8] = 0x40
			n++
		}
	}
	if n == 0 {
		t.Fatal("no leaf pages found")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = store.Open(path, store.Options{VerifyOnOpen: true})
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open with VerifyOnOpen of a damaged file = %v, want ErrCorrupt naming it", err)
	}
	t.Log(err)
}

func TestScanPanicInFnPropagates(t *testing.T) {
	db := openT(t, filepath.Join(t.TempDir(), "agent.db"), store.Options{MaxCommitDelay: -1})
	appendN(t, db, 1)
	defer func() {
		if r := recover(); r != "publisher bug" {
			t.Fatalf("recovered %v, want the panic from fn", r)
		}
	}()
	_ = db.Scan(0, 1, func(uint64, []byte) error { panic("publisher bug") })
	t.Fatal("Scan returned after fn panicked")
}

// TestTruncatedUnderneath cuts the file while it is open, as a failing card or a careless
// operator might: reads and writes fail with ErrCorrupt instead of crashing the process.
func TestTruncatedUnderneath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db := openT(t, path, store.Options{MaxCommitDelay: -1})
	if _, err := db.AppendBatch(context.Background(), 1000, func(_ int, seq uint64) ([]byte, error) {
		return append(payloadOf(seq), bytes.Repeat([]byte{'x'}, 300)...), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 2*4096); err != nil {
		t.Fatal(err)
	}
	err := db.Scan(0, 1000, func(uint64, []byte) error { return nil })
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Scan of a truncated file = %v, want ErrCorrupt", err)
	}
	t.Log(err)
	_, err = db.Append(context.Background(), func(seq uint64) ([]byte, error) { return payloadOf(seq), nil })
	if err == nil {
		t.Fatal("Append to a truncated file succeeded")
	}
	t.Log(err)
}
