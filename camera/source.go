package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
)

// Source yields frames from one camera, file, stream or pipeline. Next and State may be called
// from any goroutine; Close may be called more than once.
type Source interface {
	// Next returns the newest frame not returned before, waiting for one if needed. The caller
	// owns the frame and must Close it. Next returns io.EOF at the end of a file that does not
	// loop (after its last frame), ErrClosed after Close, and ctx's error if ctx is done first.
	Next(ctx context.Context) (*Frame, error)
	// State returns the source's current state.
	State() StateChange
	// Stats returns the source's counters.
	Stats() Stats
	// SetMaxFPS changes Config.MaxFPS while the source runs (0: no cap).
	SetMaxFPS(fps float64) error
	// Close stops the reader goroutine and releases the backend and any frame not yet taken. It
	// waits for a read in progress to finish, which a hung network stream can make take up to the
	// backend's read timeout (30 s for FFmpeg).
	Close() error
}

// Open validates cfg and starts reading the source it names in a goroutine that runs until Close
// or until ctx is done. A file is opened before Open returns, so a missing or undecodable file is
// an error here; a device, stream or pipeline is opened by the reader, which keeps retrying with
// backoff and reports failures through State and cfg.OnState rather than failing Open, so that the
// agent runs while a camera is unplugged. log may be nil.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (Source, error) {
	cfg, t, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &source{
		cfg:     cfg,
		target:  t,
		log:     log.With("camera", t.name),
		pool:    newMatPool(4),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		state:   StateChange{State: StateConnecting, Source: t.name, Time: time.Now()},
	}
	s.setInterval(cfg.MaxFPS)
	var vc *gocv.VideoCapture
	if t.kind == KindFile {
		if vc, err = s.openCapture(); err != nil {
			return nil, err
		}
	}
	go s.run(ctx, vc)
	return s, nil
}

// source is the Source behind Open: one reader goroutine (run) hands frames to Next through the
// single slot latest.
type source struct {
	cfg      Config
	target   target
	log      *slog.Logger
	interval atomic.Int64 // 1/MaxFPS in nanoseconds, or 0; SetMaxFPS changes it
	pool     *matPool

	stop      chan struct{} // closed by Close
	closeOnce sync.Once
	done      chan struct{} // closed when run has returned

	mu sync.Mutex
	// changed is closed and replaced whenever latest, closed or ended change, waking every waiter.
	changed   chan struct{}
	latest    *Frame // newest frame not yet taken by Next; owned by the source until taken
	lastTaken time.Time
	closed    bool  // Close was called
	ended     bool  // run has stopped reading; Next returns endErr once latest is taken
	endErr    error // why reading stopped
	state     StateChange
	stats     Stats
}

// live reports whether the source drops old frames: every kind but a file read without a rate.
func (s *source) live() bool { return s.target.kind != KindFile || s.period() > 0 }

func (s *source) period() time.Duration { return time.Duration(s.interval.Load()) }

func (s *source) setInterval(fps float64) {
	var d time.Duration
	if fps > 0 {
		d = time.Duration(float64(time.Second) / fps)
	}
	s.interval.Store(int64(d))
}

// SetMaxFPS changes the frame-rate cap from the next frame on. A file that was read without a
// cap then plays like a camera at that rate, and the other way round.
func (s *source) SetMaxFPS(fps float64) error {
	if fps < 0 || fps > 1000 || fps != fps {
		return fmt.Errorf("%w: MaxFPS %v out of range 0-1000", ErrBadConfig, fps)
	}
	s.setInterval(fps)
	s.mu.Lock()
	s.broadcastLocked() // a reader waiting for Next to take an unpaced frame re-checks live()
	s.mu.Unlock()
	return nil
}

func (s *source) Next(ctx context.Context) (*Frame, error) {
	if p := s.period(); p > 0 && s.target.kind != KindFile {
		// A paced file is already paced by the reader; a live source is read at full speed and
		// handed out no faster than MaxFPS, always its newest frame.
		s.mu.Lock()
		due := s.lastTaken.Add(p)
		s.mu.Unlock()
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-s.stop:
				t.Stop()
				return nil, ErrClosed
			}
		}
	}
	s.mu.Lock()
	for {
		switch {
		case s.closed:
			s.mu.Unlock()
			return nil, ErrClosed
		case s.latest != nil:
			f := s.latest
			s.latest = nil
			s.lastTaken = time.Now()
			s.broadcastLocked()
			s.mu.Unlock()
			return f, nil
		case s.ended:
			err := s.endErr
			s.mu.Unlock()
			return nil, err
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
	}
}

func (s *source) State() StateChange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *source) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *source) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		if s.latest != nil {
			s.latest.Close()
			s.latest = nil
		}
		s.broadcastLocked()
		s.mu.Unlock()
		close(s.stop)
	})
	<-s.done
	return nil
}

func (s *source) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// run is the reader goroutine. It owns vc (the open backend, or nil to open one) and every frame
// until publish hands it over.
func (s *source) run(ctx context.Context, vc *gocv.VideoCapture) {
	var endErr error
	defer func() {
		if vc != nil {
			vc.Close()
		}
		s.finish(endErr)
		close(s.done)
	}()
	delay := s.cfg.ReconnectInitial
	attempt := 0
	opened := false
	for {
		if err := s.stopErr(ctx); err != nil {
			endErr = err
			return
		}
		if vc == nil {
			var err error
			if vc, err = s.openCapture(); err != nil {
				if s.target.kind == KindFile {
					endErr = err
					return
				}
				attempt++
				s.setState(StateChange{State: StateReconnecting, Err: err, Attempt: attempt, RetryIn: delay})
				if endErr = s.sleep(ctx, delay); endErr != nil {
					return
				}
				delay = min(2*delay, s.cfg.ReconnectMax)
				continue
			}
		}
		// Connected is reported on the first frame, not on open: a busy V4L2 camera or a stream
		// that accepts the connection but sends nothing opens fine and then fails.
		connected := func() {
			if opened && s.target.kind == KindFile {
				return // a looping file reopens at its end; that is not news
			}
			s.mu.Lock()
			if opened {
				s.stats.Reconnects++
			}
			s.mu.Unlock()
			opened = true
			s.setState(StateChange{State: StateConnected})
		}
		n := s.readLoop(ctx, vc, connected)
		vc.Close()
		vc = nil
		if n > 0 {
			delay, attempt = s.cfg.ReconnectInitial, 0
		}
		if endErr = s.stopErr(ctx); endErr != nil {
			return
		}
		if s.target.kind == KindFile {
			switch {
			case n == 0:
				endErr = fmt.Errorf("%w: %s", ErrNoFrames, s.target.name)
				return
			case !s.cfg.Loop:
				endErr = io.EOF
				return
			}
			continue
		}
		attempt++
		err := fmt.Errorf("%w: %s stopped delivering frames after %d (connection dropped, camera unplugged, or end of stream)", ErrStreamEnded, s.target.name, n)
		if n == 0 {
			err = fmt.Errorf("%w: %s opened but delivered no frame (camera in use by another program, unsupported format, or an empty stream)", ErrStreamEnded, s.target.name)
		}
		s.setState(StateChange{State: StateReconnecting, Err: err, Attempt: attempt, RetryIn: delay})
		if endErr = s.sleep(ctx, delay); endErr != nil {
			return
		}
		delay = min(2*delay, s.cfg.ReconnectMax)
	}
}

// readLoop reads frames from vc until it fails or the source stops, and returns how many it read.
// It calls first after reading the first frame.
func (s *source) readLoop(ctx context.Context, vc *gocv.VideoCapture, first func()) int {
	var due time.Time
	n := 0
	for s.stopErr(ctx) == nil {
		m := s.pool.get()
		if !vc.Read(&m) || m.Empty() {
			s.pool.put(m)
			return n
		}
		n++
		if n == 1 {
			first()
		}
		f := &Frame{mat: m, time: time.Now(), pool: s.pool}
		if !s.publish(ctx, f) {
			f.Close()
			return n
		}
		if p := s.period(); p > 0 && s.target.kind == KindFile {
			// Play the file like a camera: one frame per interval, catching up after a stall
			// instead of bursting.
			due = due.Add(p)
			if d := time.Until(due); d > 0 {
				if s.sleep(ctx, d) != nil {
					return n
				}
			} else if d < -p { // not -d > p: d saturates at the minimum Duration, whose negation overflows
				due = time.Now()
			}
		}
	}
	return n
}

// publish hands f to Next: a live source replaces (and drops) a frame not yet taken; a file read
// without a rate waits until Next has taken the previous frame. It reports false if the source
// stopped first; the caller then still owns f.
func (s *source) publish(ctx context.Context, f *Frame) bool {
	s.mu.Lock()
	for !s.live() && s.latest != nil && !s.closed {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.stop:
			return false
		case <-ctx.Done():
			return false
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.latest != nil {
		s.latest.Close()
		s.stats.Dropped++
	}
	// Numbering here, with the hand-over, makes Stats().Frames the Seq of the newest frame.
	s.stats.Frames++
	f.seq = s.stats.Frames
	s.latest = f
	s.broadcastLocked()
	return true
}

// finish reports StateStopped and then lets Next return err, so that a consumer that sees the end
// has also seen the state change.
func (s *source) finish(err error) {
	s.pool.close()
	s.setState(StateChange{State: StateStopped, Err: err})
	s.mu.Lock()
	s.ended = true
	s.endErr = err
	s.broadcastLocked()
	s.mu.Unlock()
}

// setState records and reports a state change; only run calls it, so callbacks arrive in order.
func (s *source) setState(c StateChange) {
	c.Source = s.target.name
	c.Time = time.Now()
	s.mu.Lock()
	s.state = c
	s.mu.Unlock()
	switch c.State {
	case StateConnected:
		s.log.Info("camera connected")
	case StateReconnecting:
		s.log.Warn("camera unavailable, retrying", "err", c.Err, "attempt", c.Attempt, "retry_in", c.RetryIn)
	case StateStopped:
		if c.Err == nil || errors.Is(c.Err, ErrClosed) || errors.Is(c.Err, io.EOF) || errors.Is(c.Err, context.Canceled) {
			s.log.Info("camera stopped", "reason", c.Err)
		} else {
			s.log.Error("camera stopped", "err", c.Err)
		}
	}
	if s.cfg.OnState != nil {
		s.cfg.OnState(c)
	}
}

// stopErr returns why the source must stop (ErrClosed or ctx's error), or nil.
func (s *source) stopErr(ctx context.Context) error {
	select {
	case <-s.stop:
		return ErrClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// sleep waits d, or returns why the source must stop.
func (s *source) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-s.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openCapture opens the backend for the source's kind, explaining failures OpenCV only reports
// as a boolean.
func (s *source) openCapture() (*gocv.VideoCapture, error) {
	t := s.target
	var api gocv.VideoCaptureAPI
	var hint string
	switch t.kind {
	case KindDevice:
		if err := checkDevice(t.open); err != nil {
			return nil, err
		}
		api, hint = gocv.VideoCaptureV4L2, "V4L2 cannot capture from it (busy, or not a capture device?)"
	case KindFile:
		fi, err := os.Stat(t.open)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%w: video file %s does not exist", ErrOpen, t.open)
		case err != nil:
			return nil, fmt.Errorf("%w: video file: %w", ErrOpen, err)
		case fi.IsDir():
			return nil, fmt.Errorf("%w: video file %s is a directory", ErrOpen, t.open)
		}
		if f, err := os.Open(t.open); err != nil {
			return nil, fmt.Errorf("%w: video file: %w", ErrOpen, err)
		} else {
			f.Close()
		}
		api, hint = gocv.VideoCaptureFFmpeg, "FFmpeg cannot decode it (not a video, or an unsupported container or codec)"
	case KindStream:
		api, hint = gocv.VideoCaptureFFmpeg, "FFmpeg cannot open the stream (unreachable, refused, wrong path or credentials, or an unsupported format)"
	case KindGStreamer:
		api, hint = gocv.VideoCaptureGstreamer, "GStreamer cannot start the pipeline (check it with gst-launch-1.0; a missing element or a busy camera fails here)"
	}
	vc, err := gocv.VideoCaptureFileWithAPI(t.open, api)
	if err != nil || !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("%w: %s: %s", ErrOpen, t.name, hint)
	}
	if t.kind == KindDevice {
		if c := s.cfg.FourCC; c != "" {
			vc.Set(gocv.VideoCaptureFOURCC, vc.ToCodec(c))
		}
		if s.cfg.Width > 0 {
			vc.Set(gocv.VideoCaptureFrameWidth, float64(s.cfg.Width))
		}
		if s.cfg.Height > 0 {
			vc.Set(gocv.VideoCaptureFrameHeight, float64(s.cfg.Height))
		}
	}
	return vc, nil
}
