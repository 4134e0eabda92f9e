package camera

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of frame source a Config.URL names.
type Kind int

// Source kinds. Files end (or loop); every other kind is live: it always yields its newest frame
// and reconnects when it fails.
const (
	KindDevice    Kind = iota + 1 // V4L2 device: "/dev/video0", "/dev/v4l/by-id/...", an index "0", or "v4l2:/dev/video0"
	KindFile                      // video file read by OpenCV's FFmpeg backend: a path or "file:path"
	KindStream                    // network stream via FFmpeg: rtsp://, rtsps://, rtmp://, http://, https://, udp://, tcp://
	KindGStreamer                 // GStreamer pipeline ending in appsink: "gst:..." or any string containing " ! "
)

// String returns the kind's name, as used in logs.
func (k Kind) String() string {
	switch k {
	case KindDevice:
		return "device"
	case KindFile:
		return "file"
	case KindStream:
		return "stream"
	case KindGStreamer:
		return "gstreamer"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Defaults for the reconnect backoff.
const (
	DefaultReconnectInitial = 500 * time.Millisecond
	DefaultReconnectMax     = 30 * time.Second
)

// maxDim bounds requested capture sizes and model input sizes: nothing a Pi-class board handles
// is larger, and it keeps size arithmetic far from overflow.
const maxDim = 8192

// Config says which source to open and how to read it. The zero value of every field except URL
// is a usable default.
type Config struct {
	// URL names the source; its form selects the Kind (see the Kind constants). Examples:
	//	/dev/video0
	//	0
	//	testdata/clips/sample.mp4
	//	rtsp://user:pass@192.168.1.10:554/stream1
	//	gst:libcamerasrc ! video/x-raw,width=640,height=480,framerate=30/1 ! videoconvert ! appsink
	URL string

	// MaxFPS caps the frame rate Next hands out; 0 means no cap. A live source is still read at
	// its full rate (so the newest frame is always fresh) and frames in between are dropped. A
	// file with MaxFPS set plays like a live camera at that rate (frames the consumer is too slow
	// for are dropped); a file without it yields every frame, as fast as the consumer takes them.
	MaxFPS float64

	// Loop restarts a file at its end instead of ending with io.EOF. Ignored for live sources.
	Loop bool

	// Width, Height and FourCC (for example "MJPG") request a capture mode from a V4L2 device;
	// zero values keep the driver's default. The driver may pick the nearest mode it supports.
	Width, Height int
	FourCC        string

	// ReconnectInitial and ReconnectMax bound the exponential backoff between attempts to open a
	// live source (defaults DefaultReconnectInitial and DefaultReconnectMax). The delay doubles
	// after each failed attempt up to ReconnectMax, and starts over once a frame is read.
	ReconnectInitial, ReconnectMax time.Duration

	// OnState, when set, is called on every state change, from the source's reader goroutine: it
	// must return quickly and must not call the source's Close.
	OnState func(StateChange)
}

// target is a parsed Config.URL.
type target struct {
	kind Kind
	// open is what the backend opens: a device path, a file path, a URL or a pipeline.
	open string
	// name is how errors and logs show the source (credentials redacted).
	name string
}

// KindOf reports which kind of source rawURL names, or an ErrBadConfig error.
func KindOf(rawURL string) (Kind, error) {
	t, err := parseTarget(rawURL)
	return t.kind, err
}

func parseTarget(raw string) (target, error) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return target{}, fmt.Errorf("%w: empty source URL", ErrBadConfig)
	case strings.HasPrefix(s, "gst:"):
		return gstTarget(strings.TrimSpace(strings.TrimPrefix(s, "gst:")))
	case strings.Contains(s, " ! "):
		return gstTarget(s)
	case strings.HasPrefix(s, "v4l2:"):
		return deviceTarget(strings.TrimPrefix(s, "v4l2:"))
	case strings.HasPrefix(s, "file:") && !strings.HasPrefix(s, "file://"):
		p := strings.TrimPrefix(s, "file:")
		if p == "" {
			return target{}, fmt.Errorf("%w: empty file path", ErrBadConfig)
		}
		return target{kind: KindFile, open: p, name: p}, nil
	case strings.HasPrefix(s, "/dev/"):
		return deviceTarget(s)
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 255 {
			return target{}, fmt.Errorf("%w: device index %d out of range 0-255", ErrBadConfig, n)
		}
		return deviceTarget("/dev/video" + strconv.Itoa(n))
	}
	if i := strings.Index(s, "://"); i > 0 {
		u, err := url.Parse(s)
		if err != nil {
			return target{}, fmt.Errorf("%w: source URL: %v", ErrBadConfig, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "rtp", "srt":
			if u.Host == "" {
				return target{}, fmt.Errorf("%w: stream URL %s has no host", ErrBadConfig, u.Redacted())
			}
			return target{kind: KindStream, open: s, name: u.Redacted()}, nil
		case "file":
			if u.Path == "" {
				return target{}, fmt.Errorf("%w: empty file path", ErrBadConfig)
			}
			return target{kind: KindFile, open: u.Path, name: u.Path}, nil
		default:
			return target{}, fmt.Errorf("%w: unsupported URL scheme %q (want rtsp, http(s), rtmp, udp, tcp, srt, a file path, a /dev/video device, or a gst: pipeline)", ErrBadConfig, u.Scheme)
		}
	}
	return target{kind: KindFile, open: s, name: s}, nil
}

func deviceTarget(p string) (target, error) {
	if p == "" {
		return target{}, fmt.Errorf("%w: empty device path", ErrBadConfig)
	}
	return target{kind: KindDevice, open: p, name: p}, nil
}

func gstTarget(p string) (target, error) {
	if p == "" {
		return target{}, fmt.Errorf("%w: empty GStreamer pipeline", ErrBadConfig)
	}
	// OpenCV takes frames only from an appsink; without one it fails with a warning on stderr
	// and nothing the caller can act on.
	if !strings.Contains(p, "appsink") {
		return target{}, fmt.Errorf("%w: GStreamer pipeline %q must end in appsink (e.g. \"... ! videoconvert ! appsink\")", ErrBadConfig, p)
	}
	return target{kind: KindGStreamer, open: p, name: "gst:" + p}, nil
}

// withDefaults checks c and fills the defaults.
func (c Config) withDefaults() (Config, target, error) {
	t, err := parseTarget(c.URL)
	if err != nil {
		return c, t, err
	}
	switch {
	case c.MaxFPS < 0 || c.MaxFPS > 1000 || c.MaxFPS != c.MaxFPS:
		return c, t, fmt.Errorf("%w: MaxFPS %v out of range 0-1000", ErrBadConfig, c.MaxFPS)
	case c.Width < 0 || c.Width > maxDim || c.Height < 0 || c.Height > maxDim:
		return c, t, fmt.Errorf("%w: capture size %dx%d out of range 0-%d", ErrBadConfig, c.Width, c.Height, maxDim)
	case c.FourCC != "" && len(c.FourCC) != 4:
		return c, t, fmt.Errorf("%w: FourCC %q must be 4 characters", ErrBadConfig, c.FourCC)
	case c.ReconnectInitial < 0 || c.ReconnectMax < 0:
		return c, t, fmt.Errorf("%w: negative reconnect delay", ErrBadConfig)
	}
	if c.ReconnectInitial == 0 {
		c.ReconnectInitial = DefaultReconnectInitial
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.ReconnectMax < c.ReconnectInitial {
		c.ReconnectMax = c.ReconnectInitial
	}
	return c, t, nil
}

// Validate reports whether c can be opened, without opening anything: the URL's syntax, the
// settings' ranges and, for a file, that it exists and is a regular file (Open fails at once on a
// missing file, while a missing device is waited for).
func (c Config) Validate() error {
	_, t, err := c.withDefaults()
	if err != nil || t.kind != KindFile {
		return err
	}
	fi, err := os.Stat(t.open)
	switch {
	case err != nil:
		return fmt.Errorf("%w: video file: %w", ErrBadConfig, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: video file %s is not a regular file", ErrBadConfig, t.open)
	}
	return nil
}
