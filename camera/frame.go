package camera

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // DecodeImage checks the headers of these formats
	_ "image/png"
	"io"
	"os"
	"sync"
	"time"

	"gocv.io/x/gocv"
	_ "golang.org/x/image/bmp"
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

// Limits on still images (ReadImage, DecodeImage): the header is checked before any pixel is
// decoded, so a small file that claims a huge picture is refused instead of filling memory.
const (
	MaxImageBytes  = 32 << 20
	MaxImagePixels = 40 << 20 // 40 megapixels: 120 MiB as BGR
)

// ReadImage loads an image file (JPEG, PNG, BMP) as a Frame, for still-image pipelines (`edge-agent
// infer`) and tests. It decodes with OpenCV, as frames from a camera are.
func ReadImage(path string) (*Frame, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("camera: reading image: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxImageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("camera: reading image %s: %w", path, err)
	}
	fr, err := DecodeImage(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return fr, nil
}

// DecodeImage decodes a JPEG, PNG or BMP image into a Frame. Errors wrap ErrImage.
func DecodeImage(data []byte) (*Frame, error) {
	if len(data) > MaxImageBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrImage, MaxImageBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not a JPEG, PNG or BMP image (%v)", ErrImage, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxDim || cfg.Height > maxDim || cfg.Width*cfg.Height > MaxImagePixels {
		return nil, fmt.Errorf("%w: %s of %dx%d pixels (the limit is %dx%d and %d pixels)", ErrImage, format,
			cfg.Width, cfg.Height, maxDim, maxDim, MaxImagePixels)
	}
	// libjpeg decodes a cut-off JPEG and fills the rest with gray; a complete one ends with its
	// EOI marker (trailing padding aside).
	if format == "jpeg" {
		if i := bytes.LastIndex(data, []byte{0xff, 0xd9}); i < 0 || len(data)-i > 1024 {
			return nil, fmt.Errorf("%w: truncated JPEG (no end-of-image marker)", ErrImage)
		}
	}
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return nil, fmt.Errorf("%w: %s image does not decode: %v", ErrImage, format, err)
	}
	if m.Empty() {
		m.Close()
		return nil, fmt.Errorf("%w: %s image does not decode", ErrImage, format)
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
