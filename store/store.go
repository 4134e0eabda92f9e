package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket and key names. Changing any of them is a schema change (see schemaVersion).
var (
	bucketMeta     = []byte("meta")     // schema version
	bucketOutbox   = []byte("outbox")   // 8-byte big-endian seq -> record
	bucketCounters = []byte("counters") // sequence counter, outbox totals, drop counters
	bucketState    = []byte("state")    // GetState/PutState: OTA, model registry, ...

	keySchema  = []byte("schema_version")
	keySeq     = []byte("seq")
	keyRecords = []byte("records")
	keyBytes   = []byte("bytes")
)

// schemaVersion is the layout this build writes. Bump it with a migration in migrations when the
// layout changes.
const schemaVersion = 1

// migration upgrades a file from schema version from to from+1 inside Open's transaction.
type migration struct {
	from  uint64
	apply func(tx *bolt.Tx) error
}

// schema is what open checks a file against: the version it writes and how to get there.
type schema struct {
	version    uint64
	migrations []migration
}

// currentSchema returns the schema of this build. Version 1 is the first; no migrations yet.
func currentSchema() schema { return schema{version: schemaVersion} }

// DB is the agent's store: one bbolt file holding the outbox, its counters and a small key-value
// state. Its methods are safe for concurrent use. DB implements sync.Outbox.
type DB struct {
	path string
	opts Options
	log  *slog.Logger

	// hmu guards bdb and closed. Transactions hold it shared; compaction (which swaps bdb for
	// the rewritten file) and Close hold it exclusively.
	hmu    sync.RWMutex
	bdb    *bolt.DB
	closed bool

	reqs      chan *request // appends and acks waiting for the committer goroutine
	stop      chan struct{} // closed by Close: the committer commits what is queued and exits
	done      chan struct{} // closed when the committer has exited
	committed chan struct{} // capacity 1; receives a value after a commit that added records

	closeOnce sync.Once
	closeErr  error

	// smu guards stats, which the committer updates after each transaction.
	smu   sync.Mutex
	stats Stats

	// reserved is the high-water mark on disk (see reserveSeqs); only the committer (and open,
	// before it starts) uses it.
	reserved uint64
	// recovery is set when Open replaced a damaged file (Options.RecoverCorrupt).
	recovery *Recovery

	// compactedSize is the file's size after the last compaction; only the committer (and
	// open, before it starts) uses it. A file no larger is not compacted again: the copy would
	// come out the same size.
	compactedSize int64
}

// Open opens the store at path, creating the file if it does not exist, checks its schema
// version and runs migrations, and starts the goroutine that commits appends. Close stops it.
//
// Open fails with ErrLocked when another process holds the file for longer than
// Options.LockTimeout, with ErrCorrupt when the file is not a readable bbolt database (unless
// Options.RecoverCorrupt), and with ErrSchemaVersion when it was written by a newer build. The
// file is never modified or removed on these errors.
func Open(path string, opts Options) (*DB, error) {
	return open(path, opts, currentSchema())
}

func open(path string, opts Options, sch schema) (*DB, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := openFile(path, opts, sch, 0)
	if err == nil || !opts.RecoverCorrupt || !errors.Is(err, ErrCorrupt) {
		return db, err
	}
	r, rerr := recoverFile(path, err, opts)
	if rerr != nil {
		return nil, fmt.Errorf("%w; %w", err, rerr)
	}
	opts.Logger.Error("store file damaged: moved aside, starting a fresh one", "moved_to", r.MovedTo, "err", err, "next_seq", r.NextSeq)
	db, err = openFile(path, opts, sch, r.NextSeq-1)
	if err != nil {
		return nil, fmt.Errorf("store: fresh file after moving the damaged one to %s: %w", r.MovedTo, err)
	}
	db.recovery = r
	return db, nil
}

// Recovered returns what Open did about a damaged file, or nil if the file was fine.
func (db *DB) Recovered() *Recovery { return db.recovery }

// openFile opens path; a new file's sequence numbers continue after lastSeq or after the
// high-water mark file, whichever is higher.
func openFile(path string, opts Options, sch schema, lastSeq uint64) (_ *DB, err error) {
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)

	bdb, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = bdb.Close()
		}
	}()
	if created {
		// bbolt syncs the file, not the directory entry: without this a power cut right after
		// the first commits could lose the whole file.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("store: sync directory of new file %s: %w", path, err)
		}
	}
	// A compaction interrupted by a crash leaves its half-written copy; we hold the lock, so no
	// other process is writing it.
	if err := os.Remove(compactPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: remove stale %s: %w", compactPath(path), err)
	}

	c, fresh, err := initSchema(bdb, path, sch)
	if err != nil {
		return nil, err
	}
	hwm, hwmErr := readHWM(path)
	if fresh && hwm > lastSeq {
		// The database was deleted or emptied but its high-water mark survived: numbers go on.
		lastSeq = hwm
	}
	if fresh && lastSeq > c.seq {
		if err := seedSeq(bdb, lastSeq); err != nil {
			return nil, fmt.Errorf("store: seed sequence of new file %s: %w", path, err)
		}
		c.seq = lastSeq
	}
	if opts.VerifyOnOpen {
		if err := verify(bdb, path); err != nil {
			return nil, err
		}
	}

	db := &DB{
		path:      path,
		opts:      opts,
		log:       opts.Logger.With("store", path),
		bdb:       bdb,
		reqs:      make(chan *request, opts.MaxBatch),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		committed: make(chan struct{}, 1),
	}
	db.stats.Drops = make(map[string]uint64, len(dropReasons))
	if hwmErr == nil {
		db.reserved = hwm
	}
	if err := db.reserveSeqs(c.seq); err != nil {
		// The next commit tries again, and fails while the mark cannot be written.
		db.log.Warn("cannot reserve sequence numbers yet", "err", err)
	}
	oldest, newest, err := db.bounds()
	if err != nil {
		return nil, err
	}
	db.setCounters(c, oldest, newest)
	if c.records > 0 {
		// Records from before the restart are waiting: the publisher should not wait for the
		// next append to find them.
		db.committed <- struct{}{}
	}
	if err := db.maybeCompact(); err != nil {
		// The old file is intact; a full disk must not keep the agent from starting.
		db.log.Warn("compaction at open failed", "err", err)
	}
	go db.run()
	return db, nil
}

// openBolt opens the bbolt file and turns its errors into ours.
func openBolt(path string, opts Options) (bdb *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		// bbolt panics on some kinds of damage it meets while loading the freelist.
		if r := recover(); r != nil {
			bdb, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	bdb, err = bolt.Open(path, opts.FileMode, &bolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
	})
	switch {
	case err == nil:
		return bdb, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, opts.LockTimeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch), strings.Contains(err.Error(), "file size too small"):
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return nil, fmt.Errorf("store: open %s: %w", path, err)
}

// initSchema creates the buckets of a new file or checks and migrates an existing one, and
// returns the stored counters and whether the file was new.
func initSchema(bdb *bolt.DB, path string, sch schema) (c counters, fresh bool, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	err = bdb.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			fresh = true
			if err := tx.ForEach(func([]byte, *bolt.Bucket) error { return ErrNotStore }); err != nil {
				return fmt.Errorf("%w: %s holds buckets but no %q bucket", ErrNotStore, path, bucketMeta)
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := meta.Put(keySchema, u64(sch.version)); err != nil {
				return err
			}
		}
		v := meta.Get(keySchema)
		if len(v) != 8 {
			return fmt.Errorf("%w: %s: schema version is %d bytes long, want 8", ErrCorrupt, path, len(v))
		}
		ver := binary.BigEndian.Uint64(v)
		if ver > sch.version {
			return fmt.Errorf("%w: %s has schema version %d, this build knows versions up to %d (written by a newer agent?)",
				ErrSchemaVersion, path, ver, sch.version)
		}
		for ver < sch.version {
			m, ok := findMigration(sch.migrations, ver)
			if !ok {
				return fmt.Errorf("%w: %s has schema version %d and there is no migration from it", ErrSchemaVersion, path, ver)
			}
			if err := m.apply(tx); err != nil {
				return fmt.Errorf("store: migrate %s from schema version %d: %w", path, ver, err)
			}
			ver++
			if err := meta.Put(keySchema, u64(ver)); err != nil {
				return err
			}
		}
		for _, name := range [][]byte{bucketOutbox, bucketCounters, bucketState} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %q in %s: %w", name, path, err)
			}
		}
		var err error
		c, err = readCounters(tx)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
		return nil
	})
	return c, fresh, err
}

func findMigration(ms []migration, from uint64) (migration, bool) {
	for _, m := range ms {
		if m.from == from {
			return m, true
		}
	}
	return migration{}, false
}

// verify runs bbolt's consistency check over the whole file.
func verify(bdb *bolt.DB, path string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	return bdb.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			if len(errs) < 5 {
				errs = append(errs, e)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, errors.Join(errs...))
		}
		return nil
	})
}

// Path returns the file the store was opened from.
func (db *DB) Path() string { return db.path }

// Close commits the appends and acks already queued, stops the committer and closes the file.
// Calls waiting in Append or Ack after that fail with ErrClosed. Close is safe to call more
// than once; later calls return the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stop)
		<-db.done
		db.hmu.Lock()
		defer db.hmu.Unlock()
		db.closed = true
		if db.bdb != nil {
			if err := db.bdb.Close(); err != nil {
				db.closeErr = fmt.Errorf("store: close %s: %w", db.path, err)
			}
			db.bdb = nil
		}
	})
	return db.closeErr
}

// view runs fn in a read transaction on the current file.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	db.hmu.RLock()
	defer db.hmu.RUnlock()
	if db.closed || db.bdb == nil {
		return ErrClosed
	}
	return db.bdb.View(fn)
}

// Scan calls fn for up to max records with sequence numbers greater than after, oldest first.
// payload is only valid during the call. Scan runs in one read transaction: fn must be quick and
// must not call Append, Ack or PutState (a write that has to grow the file waits for the read
// transaction to end). An error from fn stops the scan and is returned.
func (db *DB) Scan(after uint64, max int, fn func(seq uint64, payload []byte) error) (err error) {
	if max <= 0 {
		return fmt.Errorf("store: Scan max must be positive, got %d", max)
	}
	if after == ^uint64(0) {
		return nil
	}
	inFn := false
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		// A panic in bbolt means a damaged page: report it. A panic in fn is the caller's.
		if r := recover(); r != nil {
			if inFn {
				panic(r)
			}
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, r)
		}
	}()
	return db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketOutbox).Cursor()
		n := 0
		for k, v := c.Seek(u64(after + 1)); k != nil && n < max; k, v = c.Next() {
			if len(k) != 8 || len(v) < recordHeader {
				return fmt.Errorf("%w: %s: malformed outbox record (key %x, %d bytes)", ErrCorrupt, db.path, k, len(v))
			}
			inFn = true
			err := fn(binary.BigEndian.Uint64(k), v[recordHeader:])
			inFn = false
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
}

// Committed returns a channel that receives a value after new records have been committed, and
// holds one from Open when the outbox is not empty. It has room for one value and the store
// never blocks on it, so one receive may stand for many commits: read with Scan until it
// returns nothing new.
func (db *DB) Committed() <-chan struct{} { return db.committed }

// bounds returns the oldest and newest sequence numbers in the outbox, 0 when it is empty.
func (db *DB) bounds() (oldest, newest uint64, err error) {
	err = db.view(func(tx *bolt.Tx) error {
		oldest, newest = outboxBounds(tx.Bucket(bucketOutbox))
		return nil
	})
	return oldest, newest, err
}

func outboxBounds(b *bolt.Bucket) (oldest, newest uint64) {
	c := b.Cursor()
	k, _ := c.First()
	if k == nil {
		// Not only an answer: bbolt's Last loops forever on a bucket whose leaves were all
		// emptied earlier in the same transaction.
		return 0, 0
	}
	if len(k) == 8 {
		oldest = binary.BigEndian.Uint64(k)
	}
	if k, _ := c.Last(); len(k) == 8 {
		newest = binary.BigEndian.Uint64(k)
	}
	return oldest, newest
}

// syncDir fsyncs a directory so a file created or renamed in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
