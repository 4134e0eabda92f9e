package store

import "errors"

// Errors returned by the store; test for them with errors.Is. The returned errors wrap these
// with the file name and the underlying cause.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store: closed")

	// ErrLocked is returned by Open when another process holds the database file's lock for
	// longer than Options.LockTimeout.
	ErrLocked = errors.New("store: database file is locked by another process")

	// ErrCorrupt is returned when the file is not a readable bbolt database: both meta pages
	// invalid, truncated, garbage, or a page that fails the consistency check.
	ErrCorrupt = errors.New("store: database file is corrupt")

	// ErrSchemaVersion is returned by Open when the file was written with a schema this build does
	// not know (a newer agent) or has no migration for.
	ErrSchemaVersion = errors.New("store: unsupported schema version")

	// ErrNotStore is returned by Open for a bbolt file that holds buckets but no store metadata:
	// some other program's database.
	ErrNotStore = errors.New("store: not an edge-agent store")

	// ErrTooLarge is returned by Append when a single record could never fit under
	// Options.MaxBytes, and by PutState for an over-long key.
	ErrTooLarge = errors.New("store: record too large")

	// ErrNotFound is returned by GetState for a key that was never written or was deleted.
	ErrNotFound = errors.New("store: key not found")
)
