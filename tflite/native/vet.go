//go:build cgo

package native

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edge-agent/edge-agent/tflite"
)

// TensorFlow Lite aborts the process on some values a file may hold (a quantization scale of
// 1e34 fails a CHECK in its multiplier code), and no check on this side can list them all. So
// before a model is built in this process, a child process, the same executable re-run with
// vetEnv set, builds it with the same library and options and invokes it once on
// tflite.FillProbe's input: what kills the child (the build and the probe run depend only on the
// file) is refused here. The child is started by the init function below, in any program that
// links this package, before its main function runs.
const (
	vetEnv     = "EDGE_AGENT_TFLITE_VET"     // "child" in the vetting process; "off" disables vetting
	vetLibEnv  = "EDGE_AGENT_TFLITE_VET_LIB" // the library's path
	vetOptsEnv = "EDGE_AGENT_TFLITE_VET_OPTS"
	vetTimeout = 2 * time.Minute
	vetOK      = "ok"
)

// ErrVet marks a model the official runtime crashed on, or hung on, in the vetting process. Its
// errors wrap tflite.ErrInvalidModel too.
var ErrVet = errors.New("the official runtime crashed on the model in a vetting process")

func init() {
	if os.Getenv(vetEnv) != "child" {
		return
	}
	msg := vetChild(os.Stdin)
	fmt.Println(msg)
	os.Exit(0)
}

// vetChild reads a model from r and builds and probes it; it returns vetOK or an error message.
// It only returns if the library did not crash.
func vetChild(r io.Reader) string {
	b, err := io.ReadAll(r)
	if err != nil {
		return err.Error()
	}
	m, err := tflite.Load(b)
	if err != nil {
		return err.Error()
	}
	lib, err := Open(os.Getenv(vetLibEnv))
	if err != nil {
		return err.Error()
	}
	f := strings.Fields(os.Getenv(vetOptsEnv))
	if len(f) != 2 {
		return "bad options"
	}
	threads, _ := strconv.Atoi(f[0])
	mode, _ := strconv.Atoi(f[1])
	ip, err := lib.build(m, Options{Threads: threads, XNNPACK: XNNPACK(mode)})
	if err != nil {
		return err.Error()
	}
	defer ip.Close()
	for i := range ip.InputCount() {
		tflite.FillProbe(ip.Input(i))
	}
	// A run-time error is no crash: the model is fit to build in the parent, whose Invoke will
	// report the error.
	_ = ip.Invoke()
	return vetOK
}

// vet runs the vetting process for m. It returns nil when the child survived building and probing
// the model, an error wrapping ErrVet when it crashed or hung, and nil with vetting off
// ($EDGE_AGENT_TFLITE_VET=off, for qemu-user, which cannot start a foreign binary).
func (l *Library) vet(m *tflite.Model, o Options) error {
	if os.Getenv(vetEnv) == "off" || os.Getenv(vetEnv) == "child" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("native: vetting process: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), vetTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), vetEnv+"=child", vetLibEnv+"="+l.path,
		fmt.Sprintf("%s=%d %d", vetOptsEnv, o.Threads, int(o.XNNPACK)))
	cmd.Stdin = bytes.NewReader(m.Bytes())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limited{w: &stderr, n: 64 << 10}
	runErr := cmd.Run()
	last := lastLine(stdout.String())
	switch {
	case runErr == nil && last == vetOK:
		return nil
	case runErr == nil:
		// The child refused the model without crashing: building it here will say why.
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("native: %w: %w: it took over %v", tflite.ErrInvalidModel, ErrVet, vetTimeout)
	}
	// Go's runtime turns a fatal signal in C code into a report on stderr ("SIGABRT: abort") and
	// exit status 2; a signal it does not handle kills the process.
	sig := crashSignal(stderr.String())
	var exitErr *exec.ExitError
	if errors.As(runErr, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal().String()
		}
	}
	if sig != "" {
		return fmt.Errorf("native: %w: %w (%s): %s", tflite.ErrInvalidModel, ErrVet, sig, crashMessage(stderr.String()))
	}
	return fmt.Errorf("native: vetting process: %w: %s (set %s=off where it cannot run)", runErr, crashMessage(stderr.String()), vetEnv)
}

// crashSignal returns the signal of Go's crash report in s ("SIGABRT: abort"), or "".
func crashSignal(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if name, _, ok := strings.Cut(l, ": "); ok && strings.HasPrefix(name, "SIG") && !strings.Contains(name, " ") {
			return l
		}
	}
	return ""
}

// crashMessage picks the library's last messages out of the child's stderr (Go's crash report of
// the signal follows them).
func crashMessage(s string) string {
	var keep []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "SIG") {
			break
		}
		if l != "" && !strings.HasPrefix(l, "INFO:") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return "no message"
	}
	return strings.Join(keep[max(0, len(keep)-3):], "; ")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// limited keeps at most n bytes written to it.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
