package store

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Defaults used by Open for zero Options fields.
const (
	DefaultLockTimeout     = time.Second
	DefaultMaxCommitDelay  = 10 * time.Millisecond
	DefaultMaxBatch        = 1024
	DefaultMaxBytes        = 256 << 20
	DefaultMaxRecords      = 1_000_000
	DefaultCompactMinWaste = 64 << 20
	DefaultCompactRatio    = 4.0
	DefaultCompactInterval = time.Minute
	DefaultFileMode        = 0o600
)

// Options configure Open. The zero value of every field selects the default named after it;
// where a field says so, a negative value turns the feature off.
type Options struct {
	// LockTimeout is how long Open waits for another process to release the file's lock before
	// it fails with ErrLocked. Default 1 s.
	LockTimeout time.Duration

	// MaxCommitDelay is the longest the first record of a group commit waits for others to
	// join its transaction. Concurrent appends share one transaction and one fsync; a lone
	// appender pays this delay plus one fsync per Append. Default 10 ms; negative commits as
	// soon as the previous commit has finished (records arriving meanwhile still share one).
	MaxCommitDelay time.Duration

	// MaxBatch is the most records (appended plus acknowledged) one transaction takes before it
	// commits without waiting for MaxCommitDelay. It also bounds AppendBatch. Default 1024.
	MaxBatch int

	// MaxBytes bounds the outbox's size (payloads plus 16 bytes per record); an append that
	// would exceed it drops the oldest records. Default 256 MiB: bbolt maps the whole file and
	// on 32-bit ARM a map cannot exceed 2 GiB of a 3 GiB address space. Negative: no limit.
	MaxBytes int64

	// MaxRecords bounds the number of records in the outbox the same way. Default 1,000,000.
	// Negative: no limit.
	MaxRecords int

	// MaxAge drops records older than this (by the time they were appended) when records are
	// appended and at every maintenance tick. Zero or negative: records do not expire.
	MaxAge time.Duration

	// CompactMinWaste and CompactRatio decide when the file is rewritten to give space back to
	// the file system: when the file is at least CompactMinWaste bytes larger than its live data
	// and at least CompactRatio times as large. Defaults 64 MiB and 4. A negative
	// CompactMinWaste turns compaction off.
	CompactMinWaste int64
	CompactRatio    float64

	// CompactInterval is how often the store checks whether to compact and expires records by
	// MaxAge. Open always checks once. Default 1 min.
	CompactInterval time.Duration

	// VerifyOnOpen walks every page of the file at Open (bbolt's consistency check) so a damaged
	// file fails Open with ErrCorrupt instead of failing later. It reads the whole file: seconds
	// for a few hundred MiB on an SD card.
	VerifyOnOpen bool

	// RecoverCorrupt makes Open move a file that fails with ErrCorrupt aside, to
	// <path>.corrupt-<UTC time> (never deleted), and start a fresh one whose sequence numbers
	// continue above every number the damaged file issued; DB.Recovered reports it.
	RecoverCorrupt bool

	// FileMode is used when the file is created. Default 0600.
	FileMode os.FileMode

	// Logger receives compaction and error reports. Default: discard.
	Logger *slog.Logger

	// now replaces time.Now in tests of MaxAge.
	now func() time.Time
}

// withDefaults returns o with zero fields replaced by their defaults, or an error naming the
// first invalid field.
func (o Options) withDefaults() (Options, error) {
	if o.LockTimeout == 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.LockTimeout < 0 {
		return o, fmt.Errorf("store: Options.LockTimeout must not be negative, got %v", o.LockTimeout)
	}
	if o.MaxCommitDelay == 0 {
		o.MaxCommitDelay = DefaultMaxCommitDelay
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxBatch < 0 {
		return o, fmt.Errorf("store: Options.MaxBatch must not be negative, got %d", o.MaxBatch)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxRecords == 0 {
		o.MaxRecords = DefaultMaxRecords
	}
	if o.CompactMinWaste == 0 {
		o.CompactMinWaste = DefaultCompactMinWaste
	}
	if o.CompactRatio == 0 {
		o.CompactRatio = DefaultCompactRatio
	}
	if o.CompactRatio < 1 {
		return o, fmt.Errorf("store: Options.CompactRatio must be at least 1, got %v", o.CompactRatio)
	}
	if o.CompactInterval == 0 {
		o.CompactInterval = DefaultCompactInterval
	}
	if o.CompactInterval < 0 {
		return o, fmt.Errorf("store: Options.CompactInterval must not be negative, got %v", o.CompactInterval)
	}
	if o.FileMode == 0 {
		o.FileMode = DefaultFileMode
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o, nil
}
