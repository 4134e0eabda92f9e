package native

import "errors"

// Errors returned by Open; callers test them with errors.Is. Every error that means the official
// runtime cannot be used on this machine wraps ErrUnavailable, and one of the narrower two where
// it applies.
var (
	// ErrUnavailable is wrapped by every error of Open: no library, an unusable one, or a build
	// without cgo.
	ErrUnavailable = errors.New("official TensorFlow Lite runtime unavailable")

	// ErrNotFound: no library at the given path, or none in the default places.
	ErrNotFound = errors.New("library not found")

	// ErrIncompatible: the file is not a TensorFlow Lite 2.x C library for this machine (another
	// architecture, a corrupt or truncated file, missing symbols, another major version).
	ErrIncompatible = errors.New("incompatible library")
)
