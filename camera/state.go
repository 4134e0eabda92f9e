package camera

import (
	"strconv"
	"time"
)

// State is where a source is in its life.
type State int

// Source states. A live source moves Connecting -> Connected, and Connected -> Reconnecting ->
// Connected as it loses and regains its camera or stream; every source ends in Stopped.
const (
	StateConnecting   State = iota + 1 // first attempt to open the source in progress
	StateConnected                     // opened; frames are being read
	StateReconnecting                  // the last attempt failed or the stream ended; waiting to retry
	StateStopped                       // closed, context done, or a file ended without Loop; final
)

// String returns the state's name, as published in camera events.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateStopped:
		return "stopped"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// StateChange describes a source's state; it is passed to Config.OnState and returned by
// Source.State.
type StateChange struct {
	State State
	// Source is the source's URL with any password redacted.
	Source string
	// Err is why the source is Reconnecting (the last failure) or Stopped (io.EOF at the end of a
	// file, ErrClosed after Close, the context's error, or a failure to reopen a looping file).
	Err error
	// Attempt counts the consecutive failed attempts while Reconnecting.
	Attempt int
	// RetryIn is the delay before the next attempt while Reconnecting.
	RetryIn time.Duration
	// Time is when the change happened.
	Time time.Time
}

// Stats counts what a source has done since Open.
type Stats struct {
	// Frames read from the backend and handed to Next (the Seq of the newest frame).
	Frames uint64
	// Dropped frames: replaced by a newer frame before Next took them.
	Dropped uint64
	// Reconnects: successful opens after the first one.
	Reconnects uint64
}
