package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// compactTxMax bounds each transaction of a compaction, and so the memory it needs.
const compactTxMax = 4 << 20

// compactPath is where a compaction writes the new file before renaming it over path.
func compactPath(path string) string { return path + ".compact" }

// usage returns the file's size and the bytes its live pages take (all pages below the
// high-water mark that are not free).
func (db *DB) usage() (fileSize, live int64, err error) {
	db.hmu.RLock()
	defer db.hmu.RUnlock()
	if db.closed || db.bdb == nil {
		return 0, 0, ErrClosed
	}
	var hwm int64
	if err := db.bdb.View(func(tx *bolt.Tx) error {
		hwm = tx.Size()
		return nil
	}); err != nil {
		return 0, 0, err
	}
	st := db.bdb.Stats()
	free := int64(st.FreePageN+st.PendingPageN) * int64(db.bdb.Info().PageSize)
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0, 0, err
	}
	return fi.Size(), max(hwm-free, 0), nil
}

// maybeCompact compacts the file when it is CompactMinWaste larger and CompactRatio times
// larger than its live data.
func (db *DB) maybeCompact() error {
	if db.opts.CompactMinWaste < 0 {
		return nil
	}
	fileSize, live, err := db.usage()
	if err != nil {
		return err
	}
	if fileSize-live < db.opts.CompactMinWaste || float64(fileSize) < db.opts.CompactRatio*float64(live) ||
		fileSize <= db.compactedSize {
		return nil
	}
	if err := db.compact(); err != nil {
		db.noteError(err, false)
		return err
	}
	after, _, err := db.usage()
	if err != nil {
		return err
	}
	db.compactedSize = after
	db.log.Info("compacted", "before", fileSize, "after", after, "live", live)
	return nil
}

// compact copies the live data into a new file and renames it over the old one. bbolt never
// gives pages back to the file system, so this is how the file shrinks after a backlog drains.
//
// The new file is complete and synced before the rename, and the rename is atomic, so a crash
// leaves either the old file or the new one (plus a stale copy Open removes). The new file is
// opened, and so locked, before the rename: no other process can take the path in between.
// Readers and writers wait for the duration.
func (db *DB) compact() (err error) {
	tmp := compactPath(db.path)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: compact %s: %w", db.path, err)
	}
	dst, err := bolt.Open(tmp, db.opts.FileMode, &bolt.Options{
		Timeout:      db.opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return fmt.Errorf("store: compact %s: open %s: %w", db.path, tmp, err)
	}
	defer func() {
		if err != nil {
			_ = dst.Close()
			_ = os.Remove(tmp)
		}
	}()

	db.hmu.Lock()
	defer db.hmu.Unlock()
	if db.closed || db.bdb == nil {
		return ErrClosed
	}
	if err := bolt.Compact(dst, db.bdb, compactTxMax); err != nil {
		return fmt.Errorf("store: compact %s: %w", db.path, err)
	}
	if err := dst.Sync(); err != nil {
		return fmt.Errorf("store: compact %s: sync %s: %w", db.path, tmp, err)
	}
	if err := os.Rename(tmp, db.path); err != nil {
		return fmt.Errorf("store: compact %s: %w", db.path, err)
	}
	// From here the new file is the store whatever happens.
	if err := syncDir(filepath.Dir(db.path)); err != nil {
		db.log.Warn("compaction: syncing the directory failed; a power cut may bring back the old file", "err", err)
	}
	if err := db.bdb.Close(); err != nil {
		db.log.Warn("compaction: closing the old file failed", "err", err)
	}
	db.bdb = dst
	db.smu.Lock()
	db.stats.Compactions++
	db.smu.Unlock()
	return nil
}
