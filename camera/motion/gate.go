package motion

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// Reason says why a frame is inferred or skipped.
type Reason int

// Reasons to infer a frame.
const (
	ReasonStart       Reason = iota // the first frame: there is nothing to compare it with
	ReasonMotion                    // the frame shows motion
	ReasonPostMotion                // within Policy.PostFrames frames after motion stopped
	ReasonSceneChange               // the whole scene changed (lights, camera moved): look once
	ReasonHeartbeat                 // nothing was inferred for Policy.Heartbeat
	// Reasons to skip a frame.
	ReasonNoMotion // nothing moved
	ReasonSettling // the camera is settling after a scene change
	ReasonBlank    // the frame is blank: there is nothing to see
	ReasonFrozen   // the camera is frozen: the picture was inferred before
	numReasons
)

// String returns the reason's name, as counted in the agent's status.
func (r Reason) String() string {
	switch r {
	case ReasonStart:
		return "start"
	case ReasonMotion:
		return "motion"
	case ReasonPostMotion:
		return "post_motion"
	case ReasonSceneChange:
		return "scene_change"
	case ReasonHeartbeat:
		return "heartbeat"
	case ReasonNoMotion:
		return "no_motion"
	case ReasonSettling:
		return "settling"
	case ReasonBlank:
		return "blank"
	case ReasonFrozen:
		return "frozen"
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// Infer reports whether frames with this reason are inferred.
func (r Reason) Infer() bool { return r < ReasonNoMotion }

// Policy says which frames the model sees.
type Policy struct {
	// Heartbeat: infer at least this often, by the frames' times, even when nothing moves, so
	// that objects that are there but still are recorded (default 10s). Frozen and blank frames
	// are not inferred even then.
	Heartbeat time.Duration
	// PostFrames: keep inferring this many frames after motion stops, so that an object that
	// stops moving is recorded where it stopped (default 10; negative: none).
	PostFrames int
}

func (p Policy) withDefaults() (Policy, error) {
	if p.Heartbeat == 0 {
		p.Heartbeat = DefaultHeartbeat
	}
	if p.PostFrames == 0 {
		p.PostFrames = DefaultPostFrames
	}
	if p.PostFrames < 0 {
		p.PostFrames = 0
	}
	switch {
	case p.Heartbeat < 100*time.Millisecond || p.Heartbeat > 24*time.Hour:
		return p, fmt.Errorf("%w: heartbeat %v out of range 100ms-24h", ErrConfig, p.Heartbeat)
	case p.PostFrames > 10000:
		return p, fmt.Errorf("%w: post frames %d out of range 0-10000", ErrConfig, p.PostFrames)
	}
	return p, nil
}

// Validate reports whether p is usable.
func (p Policy) Validate() error {
	_, err := p.withDefaults()
	return err
}

// Gate decides, frame by frame, whether the model runs, from the detector's Result and the
// frames' times; it does no image work and is not safe for concurrent use.
type Gate struct {
	policy    Policy
	started   bool
	lastInfer time.Time // time of the last inferred frame
	post      int       // frames still to infer after motion stopped
}

// NewGate checks p and returns a gate that has seen no frame.
func NewGate(p Policy) (*Gate, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Gate{policy: p}, nil
}

// Policy returns the policy with defaults filled in.
func (g *Gate) Policy() Policy { return g.policy }

// Decide returns whether the frame r describes is to be inferred, and why. Call it once per frame,
// in order.
func (g *Gate) Decide(r Result) Reason {
	reason := g.decide(r)
	if reason.Infer() {
		g.started, g.lastInfer = true, r.Time
	}
	return reason
}

func (g *Gate) decide(r Result) Reason {
	if g.started && r.Time.Before(g.lastInfer) {
		g.lastInfer = r.Time // time went backwards (a looping file, a clock step)
	}
	switch {
	case r.Health == Frozen:
		g.post = 0
		return ReasonFrozen
	case r.Kind == BlankFrame:
		g.post = 0
		return ReasonBlank
	case !g.started:
		return ReasonStart
	case r.Kind == First:
		return ReasonStart
	case r.Kind == SceneChange:
		g.post = 0
		return ReasonSceneChange
	case r.Kind == Moving:
		g.post = g.policy.PostFrames
		return ReasonMotion
	case g.post > 0:
		g.post--
		return ReasonPostMotion
	case r.Time.Sub(g.lastInfer) >= g.policy.Heartbeat:
		return ReasonHeartbeat
	case r.Kind == Settling:
		return ReasonSettling
	}
	return ReasonNoMotion
}

// Counter counts frames by Reason. Its methods are safe for concurrent use: the capture loop adds,
// the status reads.
type Counter struct {
	n [numReasons]atomic.Uint64
}

// Add counts one frame with reason r.
func (c *Counter) Add(r Reason) {
	if r >= 0 && r < numReasons {
		c.n[r].Add(1)
	}
}

// Get returns the count for reason r.
func (c *Counter) Get(r Reason) uint64 {
	if r < 0 || r >= numReasons {
		return 0
	}
	return c.n[r].Load()
}

// Inferred and Skipped return the counts by reason name, leaving out zeros: the agent's status
// "inferred" and "skipped" objects.
func (c *Counter) Inferred() map[string]uint64 { return c.counts(true) }

// Skipped: see Inferred.
func (c *Counter) Skipped() map[string]uint64 { return c.counts(false) }

func (c *Counter) counts(infer bool) map[string]uint64 {
	m := map[string]uint64{}
	for r := Reason(0); r < numReasons; r++ {
		if n := c.n[r].Load(); n > 0 && r.Infer() == infer {
			m[r.String()] = n
		}
	}
	return m
}
