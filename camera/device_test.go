package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// deviceErr opens url as a source and returns the error of its first failed attempt.
func deviceErr(t *testing.T, url string) error {
	t.Helper()
	s, log := openTest(t, Config{URL: url, ReconnectInitial: time.Hour})
	c := log.waitFor(t, "a failed attempt", 10*time.Second, func(c StateChange) bool { return c.State == StateReconnecting })
	if st := s.State(); st.State != StateReconnecting || st.Err == nil {
		t.Errorf("State() = %v %v, want reconnecting with the error", st.State, st.Err)
	}
	return c.Err
}

func TestDeviceErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "video0")
	if err := os.WriteFile(regular, []byte("not a camera"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		url      string
		sentinel error
		text     string
	}{
		{"/dev/video9", ErrDeviceMissing, "/dev/video9 does not exist (camera unplugged or its driver not loaded?"},
		{"9", ErrDeviceMissing, "/dev/video9 does not exist"},
		{"/dev/null", ErrNotDevice, "/dev/null is a character device with major number 1, not a video4linux device"},
		{"v4l2:" + dir, ErrNotDevice, dir + " is a directory, not a video4linux character device"},
		{"v4l2:" + regular, ErrNotDevice, regular + " is a regular file, not a video4linux character device"},
	}
	for _, c := range cases {
		err := deviceErr(t, c.url)
		if !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: error %q, want %v containing %q", c.url, err, c.sentinel, c.text)
		}
	}
}

// permEnv makes the test binary act as TestHelperDevicePermission's child.
const permEnv = "CAMERA_TEST_PERMISSION_DEVICE"

// TestDevicePermissionDenied opens a video4linux device node that the user may not open. Root may
// open anything, so as root the check runs in a child process that drops to user nobody.
func TestDevicePermissionDenied(t *testing.T) {
	dir, err := os.MkdirTemp("", "camera-perm-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	node := filepath.Join(dir, "video0")
	// A video4linux node (major 81) with mode 000; minor 99 has no device behind it, which does
	// not matter: the kernel checks permissions before it looks for the driver.
	if err := syscall.Mknod(node, syscall.S_IFCHR|0o000, int((81<<8)|99)); err != nil {
		t.Skipf("cannot create a device node (needs root or CAP_MKNOD): %v; the permission-denied message is not checked", err)
	}
	if err := os.Chmod(node, 0); err != nil {
		t.Fatal(err)
	}
	var out string
	if os.Geteuid() != 0 {
		out = fmt.Sprint(deviceErr(t, "v4l2:"+node))
	} else {
		// The child must be able to run the test binary: copy it where nobody can read it.
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "camera.test")
		if err := copyFile(exe, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestHelperDevicePermission$", "-test.count=1")
		cmd.Env = append(os.Environ(), permEnv+"="+node)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child as nobody: %v\n%s", err, b)
		}
		out = string(b)
	}
	t.Logf("as an unprivileged user: %s", strings.TrimSpace(out))
	for _, want := range []string{ErrPermission.Error(), node + ": permission denied — add the user to group video"} {
		if !strings.Contains(out, want) {
			t.Errorf("error %q does not contain %q", out, want)
		}
	}
}

// TestHelperDevicePermission is the child of TestDevicePermissionDenied; alone it does nothing.
func TestHelperDevicePermission(t *testing.T) {
	node := os.Getenv(permEnv)
	if node == "" {
		return
	}
	s, err := Open(context.Background(), Config{URL: "v4l2:" + node, ReconnectInitial: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 1000 && s.State().State != StateReconnecting; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	c := s.State()
	if !errors.Is(c.Err, ErrPermission) {
		t.Fatalf("got %v", c.Err)
	}
	fmt.Println(c.Err)
}

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
