package ota

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// stateDB is ota.db: the registry and the chunks of the transfer in progress, in a bbolt file of
// its own so that an update can neither corrupt the outbox nor hold up its commits.
//
//	meta      schema -> 8-byte big-endian version
//	registry  state  -> JSON registry
//	chunks    <sha256>-<chunk size> (one bucket per transfer) -> 4-byte big-endian index -> data
type stateDB struct {
	path string
	log  *slog.Logger
	// mu guards bdb: transactions hold it shared, compact (which swaps the file) exclusively.
	mu  gosync.RWMutex
	bdb *bolt.DB
}

var (
	bucketMeta     = []byte("meta")
	bucketRegistry = []byte("registry")
	bucketChunks   = []byte("chunks")
	keySchema      = []byte("schema")
	keyState       = []byte("state")
)

const dbSchema = 1

// errDamaged marks an ota.db that cannot be read; Open moves it aside.
var errDamaged = errors.New("ota: state database damaged")

// openStateDB opens or creates the file. A file that bbolt cannot read, or that holds a schema
// this build does not know, is reported with errDamaged and left untouched.
func openStateDB(path string, log *slog.Logger) (db *stateDB, err error) {
	// A compaction cut short by a crash leaves its copy; the original is intact.
	_ = os.Remove(path + ".compact")
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil && db.bdb != nil {
				_ = db.bdb.Close()
			}
			db, err = nil, fmt.Errorf("%w: %s: %v", errDamaged, path, r)
		}
	}()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType})
	switch {
	case err == nil:
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("ota: %s is locked by another process", path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), strings.Contains(err.Error(), "file size too small"):
		return nil, fmt.Errorf("%w: %s: %v", errDamaged, path, err)
	default:
		return nil, fmt.Errorf("ota: open %s: %w", path, err)
	}
	db = &stateDB{path: path, log: log, bdb: bdb}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = bdb.Close()
			return nil, err
		}
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, dbSchema)); err != nil {
				return err
			}
		}
		if v := meta.Get(keySchema); len(v) != 8 || binary.BigEndian.Uint64(v) != dbSchema {
			return fmt.Errorf("%w: %s: unknown schema", errDamaged, path)
		}
		for _, b := range [][]byte{bucketRegistry, bucketChunks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = bdb.Close()
		if errors.Is(err, errDamaged) {
			return nil, err
		}
		return nil, fmt.Errorf("ota: initialise %s: %w", path, err)
	}
	return db, nil
}

// moveAside renames a damaged file out of the way so a fresh one can be created, keeping it for
// inspection.
func moveAside(path string) (string, error) {
	dst := path + ".damaged-" + strconv.FormatInt(time.Now().Unix(), 10)
	if err := os.Rename(path, dst); err != nil {
		return "", err
	}
	return dst, syncDir(filepath.Dir(path))
}

func (d *stateDB) close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bdb.Close()
}

// view and update run fn in a transaction, turning a fault on a damaged page into errDamaged.
func (d *stateDB) view(fn func(tx *bolt.Tx) error) error   { return d.tx(false, fn) }
func (d *stateDB) update(fn func(tx *bolt.Tx) error) error { return d.tx(true, fn) }

func (d *stateDB) tx(writable bool, fn func(tx *bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", errDamaged, d.path, r)
		}
	}()
	d.mu.RLock()
	defer d.mu.RUnlock()
	if writable {
		return d.bdb.Update(fn)
	}
	return d.bdb.View(fn)
}

// loadRegistry returns the stored registry, or nil for a new file.
func (d *stateDB) loadRegistry() (*registry, error) {
	var reg *registry
	err := d.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRegistry).Get(keyState)
		if v == nil {
			return nil
		}
		reg = new(registry)
		if err := json.Unmarshal(v, reg); err != nil {
			return fmt.Errorf("%w: %s: registry: %v", errDamaged, d.path, err)
		}
		return nil
	})
	return reg, err
}

func (d *stateDB) saveRegistry(reg *registry) error {
	b, err := json.Marshal(reg)
	if err != nil {
		return err
	}
	return d.update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRegistry).Put(keyState, b) })
}

func transferName(sha string, chunkSize int) []byte {
	return []byte(sha + "-" + strconv.Itoa(chunkSize))
}

// prepareChunks makes the bucket of one transfer, deletes every other transfer's, and returns
// the indices already stored (a resumed transfer, or a new manifest for the same file).
func (d *stateDB) prepareChunks(name []byte, count int) ([]int, error) {
	var have []int
	err := d.update(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketChunks)
		if err := deleteOthers(all, name); err != nil {
			return err
		}
		b, err := all.CreateBucketIfNotExists(name)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) == 4 {
				if i := int(binary.BigEndian.Uint32(k)); i < count {
					have = append(have, i)
				}
			}
			return nil
		})
	})
	return have, err
}

// putChunks stores chunks of one transfer in one transaction.
func (d *stateDB) putChunks(name []byte, chunks []Chunk) error {
	return d.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks).Bucket(name)
		if b == nil {
			return fmt.Errorf("no transfer %s", name)
		}
		for _, c := range chunks {
			if err := b.Put(binary.BigEndian.AppendUint32(nil, uint32(c.Index)), c.Data); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachChunk calls fn with chunks 0..count-1 of a transfer in order; data is valid during the
// call only. A missing chunk is an error.
func (d *stateDB) eachChunk(name []byte, count int, fn func(i int, data []byte) error) error {
	return d.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks).Bucket(name)
		if b == nil {
			return fmt.Errorf("no stored chunks for %s", name)
		}
		for i := range count {
			v := b.Get(binary.BigEndian.AppendUint32(nil, uint32(i)))
			if v == nil {
				return fmt.Errorf("chunk %d is not stored", i)
			}
			if err := fn(i, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropStaleChunks deletes the chunks of every transfer but keep's (nil: all).
func (d *stateDB) dropStaleChunks(keep []byte) error {
	return d.update(func(tx *bolt.Tx) error { return deleteOthers(tx.Bucket(bucketChunks), keep) })
}

// deleteOthers deletes every nested bucket of b but keep.
func deleteOthers(b *bolt.Bucket, keep []byte) error {
	var others [][]byte
	if err := b.ForEachBucket(func(k []byte) error {
		if string(k) != string(keep) {
			others = append(others, append([]byte(nil), k...))
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range others {
		if err := b.DeleteBucket(k); err != nil {
			return err
		}
	}
	return nil
}

// dropChunks deletes every stored chunk.
func (d *stateDB) dropChunks() error {
	return d.update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketChunks); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
		_, err := tx.CreateBucket(bucketChunks)
		return err
	})
}

// compactMin is the file size above which a finished transfer compacts ota.db: bbolt never
// gives freed pages back, and a file the size of the last model would otherwise stay.
const compactMin = 1 << 20

// compact rewrites the file with only its live data when it is large, so the disk space a
// transfer used is returned. The new file is synced before it is renamed over the old one; a
// crash leaves one or the other.
func (d *stateDB) compact() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	fi, err := os.Stat(d.path)
	if err != nil || fi.Size() < compactMin {
		return err
	}
	tmp := d.path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("ota: compact: %w", err)
	}
	if err := bolt.Compact(dst, d.bdb, 4<<20); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("ota: compact: %w", err)
	}
	if err := dst.Sync(); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("ota: compact: %w", err)
	}
	if err := os.Rename(tmp, d.path); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("ota: compact: %w", err)
	}
	_ = d.bdb.Close()
	d.bdb = dst
	return syncDir(filepath.Dir(d.path))
}
