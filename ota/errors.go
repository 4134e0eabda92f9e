package ota

import (
	"errors"
	"fmt"
)

// The checks an update goes through, in order. A Rejection names the first one that failed; it
// is the "check" field of the status and the start of its "reason".
const (
	CheckManifest  = "manifest"  // the envelope or manifest is malformed, too large or of an unknown version
	CheckSignature = "signature" // no trusted key, unknown key id, or the signature does not verify
	CheckTarget    = "target"    // neither this device nor one of its groups is targeted
	CheckVersion   = "version"   // a downgrade (or the same version with other bytes) without rollback
	CheckSize      = "size"      // over ota.max_model_bytes, or the data disagrees with the manifest's size
	CheckDisk      = "disk"      // not enough free space, or a write failed
	CheckTransfer  = "transfer"  // no chunk arrived for ota.stall_timeout while connected
	CheckSHA256    = "sha256"    // a chunk or the assembled file does not match its hash
	CheckValidate  = "validate"  // the agent's Validator refused the model
	CheckShadow    = "shadow"    // the shadow run missed the manifest's thresholds
	CheckActivate  = "activate"  // the agent could not switch to the model
	CheckHealth    = "health"    // the model failed its health window
	CheckRollback  = "rollback"  // a rollback request that cannot apply here
)

// Rejection is why an update was refused or undone.
type Rejection struct {
	Check string // one of the Check constants
	Err   error
}

func (r *Rejection) Error() string { return r.Check + ": " + r.Err.Error() }

func (r *Rejection) Unwrap() error { return r.Err }

func reject(check, format string, args ...any) *Rejection {
	return &Rejection{Check: check, Err: fmt.Errorf(format, args...)}
}

// CheckOf returns the check a rejection error names, or "" for other errors.
func CheckOf(err error) string {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Check
	}
	return ""
}

// Sentinel errors callers branch on.
var (
	// ErrOff is returned by operations that need OTA while no trusted key is configured.
	ErrOff = errNoKeys
	// ErrNoModel is returned by LoadFailed when no model is left to fall back to.
	ErrNoModel = errors.New("ota: no model left to fall back to")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("ota: closed")
)
