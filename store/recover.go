package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Recovery describes a damaged store file that Open moved aside (Options.RecoverCorrupt).
type Recovery struct {
	// MovedTo is where the damaged file went: <path>.corrupt-<UTC time>. The store never
	// deletes it; it may hold records that were not yet published.
	MovedTo string
	// Cause is why the file could not be used (it wraps ErrCorrupt).
	Cause error
	// At is when the file was moved aside.
	At time.Time
	// NextSeq is the sequence number of the first record in the fresh file: above every number
	// the damaged file issued.
	NextSeq uint64
	// FromClock reports that NextSeq comes from the clock because the high-water mark file was
	// missing or unreadable too (see the package doc, "Sequence numbers after a recovery").
	FromClock bool
}

// seqReserve is how many sequence numbers the high-water mark file reserves at a time: the file
// is rewritten (one more fsync) once per that many records.
const seqReserve = 1 << 20

// hwmPath is the high-water mark file kept beside the database: a sequence number no record of
// the database has reached.
func hwmPath(path string) string { return path + ".seq" }

// readHWM returns the high-water mark, or an error if the file is missing or unreadable.
func readHWM(path string) (uint64, error) {
	b, err := os.ReadFile(hwmPath(path))
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("high-water mark file %s holds %q, not a sequence number", hwmPath(path), s)
	}
	return n, nil
}

// writeHWM replaces the high-water mark file durably: temporary file, fsync, rename, directory
// fsync, so a power cut leaves the old or the new mark.
func writeHWM(path string, n uint64, mode os.FileMode) error {
	tmp := hwmPath(path) + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatUint(n, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, hwmPath(path))
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store: write sequence high-water mark %s: %w", hwmPath(path), err)
	}
	return nil
}

// clockSeq is the first sequence number after a recovery that lost the high-water mark too: the
// Unix time in seconds times 2^20. It exceeds every number issued before as long as the store
// never issued more than 2^20 records per second since its start and the clock did not go back;
// it stays below 2^53, so JSON consumers that read numbers as doubles keep it exact until the
// year 2255.
func clockSeq(now time.Time) uint64 {
	s := now.Unix()
	if s < 0 {
		s = 0
	}
	return uint64(s) << 20
}

// reserveSeqs makes sure the high-water mark file covers seq: if it does not, it reserves the
// next block. db.reserved is only used by the committer (and open before it starts).
func (db *DB) reserveSeqs(seq uint64) error {
	if seq < db.reserved {
		return nil
	}
	next := seq + seqReserve
	if err := writeHWM(db.path, next, db.opts.FileMode); err != nil {
		return err
	}
	db.reserved = next
	return nil
}

// moveAside renames a damaged file out of the way, never over another file.
func moveAside(path string, now time.Time) (string, error) {
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	dst := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.%d", base, i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("store: move damaged %s aside: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", fmt.Errorf("store: move damaged %s aside: %w", path, err)
	}
	return dst, nil
}

// recoverFile moves the damaged file at path aside and returns what the fresh file's sequence
// numbers must start after.
func recoverFile(path string, cause error, opts Options) (*Recovery, error) {
	now := opts.now()
	moved, err := moveAside(path, now)
	if err != nil {
		return nil, err
	}
	r := &Recovery{MovedTo: moved, Cause: cause, At: now}
	hwm, err := readHWM(path)
	if err != nil {
		r.FromClock = true
		hwm = clockSeq(now)
		opts.Logger.Warn("sequence high-water mark unusable; numbering the fresh store from the clock", "err", err, "next_seq", hwm+1)
	}
	r.NextSeq = hwm + 1
	return r, nil
}

// seedSeq makes the counter of a new, empty file continue after last.
func seedSeq(bdb *bolt.DB, last uint64) error {
	return bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCounters).Put(keySeq, u64(last))
	})
}
