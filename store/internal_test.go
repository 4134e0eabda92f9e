package store

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// clock is a settable time source for MaxAge.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func appendSome(t *testing.T, db *DB, n int) {
	t.Helper()
	for range n {
		if _, err := db.Append(context.Background(), func(seq uint64) ([]byte, error) { return []byte("x"), nil }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMaxAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts := Options{MaxAge: time.Hour, MaxCommitDelay: -1, CompactInterval: 10 * time.Millisecond, now: clk.Now}
	db, err := open(path, opts, currentSchema())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	appendSome(t, db, 5) // seqs 1-5 at 0:00
	clk.advance(30 * time.Minute)
	appendSome(t, db, 3) // seqs 6-8 at 0:30
	clk.advance(40 * time.Minute)
	appendSome(t, db, 1) // seq 9 at 1:10 expires 1-5 in its transaction
	if st := db.Stats(); st.Drops[DropMaxAge] != 5 || st.OldestSeq != 6 || st.Records != 4 {
		t.Fatalf("after appending past MaxAge: %+v, want 5 max_age drops and 6..9 left", st)
	}
	clk.advance(40 * time.Minute) // 1:50: 6-8 expired, no appends: maintenance drops them
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().Drops[DropMaxAge] != 8 {
		if time.Now().After(deadline) {
			t.Fatalf("maintenance did not expire records: %+v", db.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := db.Stats(); st.OldestSeq != 9 || st.Records != 1 {
		t.Fatalf("after expiry: %+v, want only seq 9", st)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = open(path, opts, currentSchema())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Stats().Drops[DropMaxAge]; got != 8 {
		t.Fatalf("max_age drops after reopen = %d, want 8", got)
	}
}

func storedVersion(t *testing.T, path string) uint64 {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var v uint64
	if err := bdb.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.db")
	db, err := Open(path, Options{MaxCommitDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	appendSome(t, db, 3)
	db.Close()

	v2 := schema{version: 2, migrations: []migration{{from: 1, apply: func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("models"))
		return err
	}}}}
	if db, err = open(path, Options{}, v2); err != nil {
		t.Fatalf("open with a migration to version 2: %v", err)
	}
	if st := db.Stats(); st.Records != 3 || st.LastSeq != 3 {
		t.Fatalf("records after migration: %+v", st)
	}
	db.Close()
	if v := storedVersion(t, path); v != 2 {
		t.Fatalf("stored version %d after migrating, want 2", v)
	}

	// This build (version 1) refuses the newer file.
	if _, err := Open(path, Options{}); !errors.Is(err, ErrSchemaVersion) {
		t.Fatalf("version 1 build opening a version 2 file: %v", err)
	}
	// No path from 2 to 3.
	if _, err := open(path, Options{}, schema{version: 3}); !errors.Is(err, ErrSchemaVersion) {
		t.Fatalf("open without a migration: %v", err)
	}
	// A failing migration leaves the file as it was.
	errMigrate := errors.New("cannot migrate")
	v3 := schema{version: 3, migrations: []migration{{from: 2, apply: func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucket([]byte("half")); err != nil {
			return err
		}
		return errMigrate
	}}}}
	if _, err := open(path, Options{}, v3); !errors.Is(err, errMigrate) {
		t.Fatalf("open with a failing migration: %v", err)
	}
	if v := storedVersion(t, path); v != 2 {
		t.Fatalf("stored version %d after a failed migration, want 2", v)
	}
}
