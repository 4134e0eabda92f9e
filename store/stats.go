package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Reasons for dropping records, the keys of Stats.Drops.
const (
	DropMaxRecords = "max_records" // the outbox held Options.MaxRecords records
	DropMaxBytes   = "max_bytes"   // the outbox held Options.MaxBytes bytes
	DropMaxAge     = "max_age"     // the record was older than Options.MaxAge
)

// Indexes into counters.drops, in the order of dropReasons.
const (
	dropRecords = iota
	dropBytes
	dropAge
	numDropReasons
)

var dropReasons = [numDropReasons]string{DropMaxRecords, DropMaxBytes, DropMaxAge}

// recordHeader is the bytes stored before each payload: the append time in Unix nanoseconds,
// which MaxAge needs.
const recordHeader = 8

// recordOverhead is what a record costs beyond its payload in Stats.Bytes and MaxBytes: its
// key and its header.
const recordOverhead = 8 + recordHeader

// counters are the totals the store persists in the counters bucket, updated in the same
// transaction as the records they count.
type counters struct {
	seq     uint64 // last sequence number assigned; the next record gets seq+1
	records uint64 // records in the outbox
	bytes   uint64 // their size: payloads plus recordOverhead each
	drops   [numDropReasons]uint64
}

func dropKey(i int) []byte { return []byte("drops/" + dropReasons[i]) }

func readCounters(tx *bolt.Tx) (counters, error) {
	var c counters
	b := tx.Bucket(bucketCounters)
	get := func(key []byte, dst *uint64) error {
		v := b.Get(key)
		switch len(v) {
		case 0:
			*dst = 0
		case 8:
			*dst = binary.BigEndian.Uint64(v)
		default:
			return fmt.Errorf("counter %q is %d bytes long, want 8", key, len(v))
		}
		return nil
	}
	for _, kv := range []struct {
		key []byte
		dst *uint64
	}{{keySeq, &c.seq}, {keyRecords, &c.records}, {keyBytes, &c.bytes}} {
		if err := get(kv.key, kv.dst); err != nil {
			return c, err
		}
	}
	for i := range c.drops {
		if err := get(dropKey(i), &c.drops[i]); err != nil {
			return c, err
		}
	}
	return c, nil
}

// writeCounters stores the counters that differ from old.
func writeCounters(tx *bolt.Tx, c, old counters) error {
	b := tx.Bucket(bucketCounters)
	put := func(key []byte, v, was uint64) error {
		if v == was {
			return nil
		}
		return b.Put(key, u64(v))
	}
	if err := put(keySeq, c.seq, old.seq); err != nil {
		return err
	}
	if err := put(keyRecords, c.records, old.records); err != nil {
		return err
	}
	if err := put(keyBytes, c.bytes, old.bytes); err != nil {
		return err
	}
	for i := range c.drops {
		if err := put(dropKey(i), c.drops[i], old.drops[i]); err != nil {
			return err
		}
	}
	return nil
}

// Stats describe the store for the status topic and metrics.
type Stats struct {
	// Records and Bytes are the outbox's backlog; Bytes counts payloads plus 16 bytes per
	// record, the measure Options.MaxBytes bounds.
	Records uint64
	Bytes   uint64
	// OldestSeq and NewestSeq are the first and last sequence numbers in the outbox, 0 when it
	// is empty. LastSeq is the last sequence number ever committed.
	OldestSeq uint64
	NewestSeq uint64
	LastSeq   uint64
	// Drops counts records dropped by the bounds, by reason (DropMaxRecords, DropMaxBytes,
	// DropMaxAge), over the file's whole life.
	Drops map[string]uint64

	// Since Open: records appended, records deleted by Ack, transactions committed (many
	// appends share one), transactions that failed, and compactions.
	Appended     uint64
	Acked        uint64
	Commits      uint64
	CommitErrors uint64
	Compactions  uint64

	// LastError is the most recent write or compaction error and LastErrorTime when it
	// happened; Failing reports whether the most recent commit failed.
	LastError     string
	LastErrorTime time.Time
	Failing       bool

	// FileSize is the database file's size in bytes.
	FileSize int64
}

// Stats returns a snapshot of the store's counters.
func (db *DB) Stats() Stats {
	db.smu.Lock()
	s := db.stats
	s.Drops = make(map[string]uint64, len(db.stats.Drops))
	for k, v := range db.stats.Drops {
		s.Drops[k] = v
	}
	db.smu.Unlock()
	if fi, err := os.Stat(db.path); err == nil {
		s.FileSize = fi.Size()
	}
	return s
}

// setCounters copies persisted counters into stats.
func (db *DB) setCounters(c counters, oldest, newest uint64) {
	db.smu.Lock()
	defer db.smu.Unlock()
	db.stats.Records = c.records
	db.stats.Bytes = c.bytes
	db.stats.LastSeq = c.seq
	db.stats.OldestSeq = oldest
	db.stats.NewestSeq = newest
	for i, n := range c.drops {
		db.stats.Drops[dropReasons[i]] = n
	}
}

// noteError records a failed write or compaction in stats.
func (db *DB) noteError(err error, commit bool) {
	db.smu.Lock()
	defer db.smu.Unlock()
	db.stats.LastError = err.Error()
	db.stats.LastErrorTime = db.opts.now()
	if commit {
		db.stats.CommitErrors++
		db.stats.Failing = true
	}
}
