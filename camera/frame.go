package camera

import (
	"fmt"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// Frame is one captured image: 8-bit BGR pixels in C memory owned by the frame. Close it exactly
// once when done (a second Close is a no-op); the frame's methods must not be called concurrently
// with Close. A Frame may outlive the Source that produced it.
type Frame struct {
	mat    gocv.Mat // BGR (or the backend's format); released by Close
	time   time.Time
	seq    uint64
	pool   *matPool // nil: Close frees the Mat
	closed bool
}

// Width returns the frame's width in pixels (0 after Close).
func (f *Frame) Width() int {
	if f == nil || f.closed {
		return 0
	}
	return f.mat.Cols()
}

// Height returns the frame's height in pixels (0 after Close).
func (f *Frame) Height() int {
	if f == nil || f.closed {
		return 0
	}
	return f.mat.Rows()
}

// Time returns when the frame was captured (read from the backend).
func (f *Frame) Time() time.Time { return f.time }

// Seq returns the frame's number within its source, from 1, counting every frame read including
// the ones dropped: a gap between two frames a consumer gets is the number of frames skipped.
func (f *Frame) Seq() uint64 { return f.seq }

// Close releases the frame's pixels.
func (f *Frame) Close() error {
	if f == nil || f.closed {
		return nil
	}
	f.closed = true
	if f.pool != nil {
		f.pool.put(f.mat)
	} else {
		f.mat.Close()
	}
	f.mat = gocv.Mat{}
	return nil
}

// usable checks that f can be read.
func (f *Frame) usable() error {
	switch {
	case f == nil:
		return fmt.Errorf("%w: nil frame", ErrFrame)
	case f.closed:
		return fmt.Errorf("%w: frame already closed", ErrFrame)
	case f.mat.Empty():
		return fmt.Errorf("%w: empty frame", ErrFrame)
	}
	return nil
}

// ReadImage loads an image file (JPEG, PNG, BMP, ...) as a Frame, for tests and still-image
// pipelines.
func ReadImage(path string) (*Frame, error) {
	m := gocv.IMRead(path, gocv.IMReadColor)
	if m.Empty() {
		m.Close()
		return nil, fmt.Errorf("camera: reading image %s: not found or not a decodable image", path)
	}
	return &Frame{mat: m, time: time.Now(), seq: 1}, nil
}

// matPool recycles frame Mats so that steady-state capture reuses C buffers instead of allocating
// a new image for every frame. Mats handed back after the pool is closed are freed.
type matPool struct {
	mu     sync.Mutex
	free   []gocv.Mat // guarded by mu; at most cap(free)
	closed bool       // guarded by mu
}

func newMatPool(n int) *matPool { return &matPool{free: make([]gocv.Mat, 0, n)} }

func (p *matPool) get() gocv.Mat {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		m := p.free[n-1]
		p.free = p.free[:n-1]
		return m
	}
	return gocv.NewMat()
}

func (p *matPool) put(m gocv.Mat) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.free) == cap(p.free) {
		m.Close()
		return
	}
	p.free = append(p.free, m)
}

// close frees the pooled Mats; frames still out free theirs on Close.
func (p *matPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for i := range p.free {
		p.free[i].Close()
	}
	p.free = p.free[:0]
}
