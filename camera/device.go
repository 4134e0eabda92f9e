package camera

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// v4lMajor is the character-device major number of video4linux nodes (/dev/videoN).
const v4lMajor = 81

// checkDevice explains, before OpenCV tries and fails with nothing but a warning on stderr, why a
// V4L2 device node cannot be used: missing, not a video device, or not permitted.
func checkDevice(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist (camera unplugged or its driver not loaded? `v4l2-ctl --list-devices` lists the cameras)", ErrDeviceMissing, path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: %s: cannot look up the device node: %v", ErrPermission, path, err)
	case err != nil:
		return fmt.Errorf("%w: %s: %v", ErrOpen, path, err)
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		what := "a regular file"
		switch {
		case fi.IsDir():
			what = "a directory"
		case fi.Mode()&fs.ModeDevice != 0:
			what = "a block device"
		case !fi.Mode().IsRegular():
			what = "not a device (" + fi.Mode().Type().String() + ")"
		}
		return fmt.Errorf("%w: %s is %s, not a video4linux character device (for a video file use its path outside /dev or \"file:%s\")", ErrNotDevice, path, what, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if major := devMajor(uint64(st.Rdev)); major != v4lMajor {
			return fmt.Errorf("%w: %s is a character device with major number %d, not a video4linux device (major %d)", ErrNotDevice, path, major, v4lMajor)
		}
	}
	// Opening the node (without streaming) is what OpenCV does first; doing it here turns its
	// silent failure into the precise reason.
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		var errno syscall.Errno
		errors.As(err, &errno)
		switch {
		case errors.Is(err, fs.ErrPermission):
			return fmt.Errorf("%w: %s: permission denied — add the user to group video (`sudo usermod -aG video $USER`, then log in again) or run the agent with SupplementaryGroups=video", ErrPermission, path)
		case errno == syscall.ENXIO || errno == syscall.ENODEV:
			return fmt.Errorf("%w: %s exists but no device answers (camera unplugged?): %v", ErrDeviceMissing, path, errno)
		case errno == syscall.EBUSY:
			return fmt.Errorf("%w: %s is in use by another program (`fuser %s` shows which)", ErrBusy, path, path)
		}
		return fmt.Errorf("%w: %s: %v", ErrOpen, path, err)
	}
	f.Close()
	return nil
}

// devMajor extracts the major number from a Linux dev_t (glibc's encoding, as in gnu_dev_major).
func devMajor(dev uint64) uint32 {
	return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff)
}
