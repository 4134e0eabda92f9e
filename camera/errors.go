package camera

import "errors"

// Errors a source reports, through Open, Next, or the Err of a StateChange. Callers test them with
// errors.Is; the wrapped message names the source and says what to do about it.
var (
	// ErrClosed is returned by Next after Close.
	ErrClosed = errors.New("camera: source closed")

	// ErrBadConfig means the configuration can never work (empty URL, unknown scheme, bad option).
	ErrBadConfig = errors.New("camera: bad configuration")

	// ErrDeviceMissing means the V4L2 device node does not exist, or exists with no driver behind it
	// (camera unplugged, driver not loaded).
	ErrDeviceMissing = errors.New("camera: device missing")

	// ErrPermission means the device node exists but this user may not open it.
	ErrPermission = errors.New("camera: permission denied")

	// ErrNotDevice means a /dev path is not a video4linux character device.
	ErrNotDevice = errors.New("camera: not a video device")

	// ErrBusy means the device is in use by another program.
	ErrBusy = errors.New("camera: device busy")

	// ErrOpen means the backend (V4L2, FFmpeg, GStreamer) could not open the source.
	ErrOpen = errors.New("camera: cannot open source")

	// ErrStreamEnded means a live source stopped delivering frames (stream closed, connection dropped,
	// camera unplugged, or a GStreamer pipeline reached its end); the source reconnects.
	ErrStreamEnded = errors.New("camera: stream ended")

	// ErrNoFrames means a video file opened but yielded no frame.
	ErrNoFrames = errors.New("camera: video file has no frames")

	// ErrFrame means a frame cannot be used (nil, closed, empty, or of a pixel format the
	// preprocessor does not handle).
	ErrFrame = errors.New("camera: unusable frame")

	// ErrImage means a still image cannot be used: not a JPEG, PNG or BMP, damaged, or too large.
	ErrImage = errors.New("camera: bad image")

	// ErrInputSpec means an InputSpec is invalid.
	ErrInputSpec = errors.New("camera: bad input spec")

	// ErrDstSize means the destination buffer does not match the InputSpec's tensor size.
	ErrDstSize = errors.New("camera: destination size mismatch")

	// ErrSnapshotTooLarge means no JPEG of the frame fits the byte cap, even at low quality and size.
	ErrSnapshotTooLarge = errors.New("camera: snapshot does not fit size cap")
)
