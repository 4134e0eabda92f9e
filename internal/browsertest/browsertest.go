// Package browsertest opens the agent's status page in a real browser for tests: Debian's
// chromium package, headless, driven through the DevTools protocol (chromedp). No browser is
// downloaded; the Makefile's test-deps target installs chromium with apt, and a test fails when it
// is missing. Set CHROMIUM to use another binary, and SCREENSHOT_DIR to keep the screenshots.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium returns the browser binary: $CHROMIUM, else Debian's /usr/bin/chromium.
func Chromium(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("no browser at %s (%v): install Debian's chromium package (make test-deps) or set CHROMIUM", bin, err)
	}
	return bin
}

// Browser is one headless chromium with a fresh profile, stopped by t.Cleanup.
type Browser struct {
	ctx context.Context

	mu     gosync.Mutex
	errors []string // uncaught exceptions and console errors of the page
}

// Start launches the browser. The flags keep it from reaching out to the network by itself (sync,
// component updates, QUIC) and let it run as root without a GPU.
func Start(t testing.TB) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &Browser{ctx: ctx}
	// The first action starts the browser; do it here so a broken install fails clearly.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	consoleCtx, stopConsole := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { stopConsole(); <-done })
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// Errors returns the page's uncaught exceptions and console errors so far.
func (b *Browser) Errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// Want is what StatusPage expects to see.
type Want struct {
	// Token, when set, is typed into the sign-in form the page redirects to.
	Token string
	// Model is the model name the page must show.
	Model string
	// Label must appear among the live frame's detections (e.g. "cat").
	Label string
	// Timeout bounds each wait (default 60 s: the pipeline may be slow on a shared machine).
	Timeout time.Duration
}

// StatusPage opens the status page at url, signs in if asked, and waits until the live view
// runs: the model's name, a detection of want.Label, frames per second above zero and a frame
// loaded in the image. It then takes a screenshot, checks that it and the frame in it are not
// blank, and returns it (PNG).
func (b *Browser) StatusPage(t testing.TB, url string, want Want) []byte {
	t.Helper()
	if want.Timeout == 0 {
		want.Timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*want.Timeout)
	defer cancel()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v (page errors: %v)", what, err, b.Errors())
		}
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(want.Timeout), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
			t.Fatalf("waiting for %s (%s): %v\npage text:\n%s\npage errors: %v", what, expr, err, b.text(ctx), b.Errors())
		}
	}

	step("open the page", chromedp.Navigate(url))
	if want.Token != "" {
		step("sign in",
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), want.Token),
			chromedp.Click(chromedp.ID("sign-in")),
		)
	}
	step("the live view", chromedp.WaitVisible(chromedp.ID("frame")))
	poll("the event stream", `document.getElementById('conn').textContent === 'live'`)
	poll("the model name "+want.Model, fmt.Sprintf(`document.getElementById('model').textContent === %q`, want.Model))
	poll("frames per second above zero", `parseFloat(document.getElementById('fps').textContent) > 0`)
	poll("a frame in the live view", `document.getElementById('frame').naturalWidth > 0`)
	poll("a "+want.Label+" detection", fmt.Sprintf(
		`[...document.querySelectorAll('#detections li')].some(li => li.textContent.startsWith(%q + ' '))`, want.Label))
	poll("the records table", `document.querySelectorAll('#records tr').length > 0`)

	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	rectJSON, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`JSON.stringify((() => { const r = document.getElementById('frame').getBoundingClientRect(), s = devicePixelRatio; return {x: r.x*s, y: r.y*s, w: r.width*s, h: r.height*s}; })())`))
	if err != nil {
		t.Fatalf("frame position: %v", err)
	}
	var rect struct{ X, Y, W, H float64 }
	if err := json.Unmarshal([]byte(rectJSON), &rect); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		p := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png")
		if err := os.WriteFile(p, shot, 0o644); err == nil {
			t.Logf("screenshot: %s", p)
		}
	}
	whole := img.Bounds()
	if spread := lumaSpread(img, whole); spread < 10 {
		t.Errorf("the screenshot is blank (luminance spread %.1f)", spread)
	}
	frame := image.Rect(int(rect.X), int(rect.Y), int(rect.X+rect.W), int(rect.Y+rect.H)).Intersect(whole)
	if frame.Dx() < 100 || frame.Dy() < 75 {
		t.Errorf("the live frame is %v on the screenshot, too small to see", frame)
	} else if spread := lumaSpread(img, frame); spread < 20 {
		t.Errorf("the live frame on the screenshot is blank (luminance spread %.1f)", spread)
	}
	if errs := b.Errors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %v", errs)
	}
	return shot
}

func (b *Browser) text(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	return s
}

// lumaSpread is the standard deviation of the luminance in r, sampled on a grid.
func lumaSpread(img image.Image, r image.Rectangle) float64 {
	var n, sum, sq float64
	for y := r.Min.Y; y < r.Max.Y; y += 3 {
		for x := r.Min.X; x < r.Max.X; x += 3 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			l := (0.299*float64(cr) + 0.587*float64(cg) + 0.114*float64(cb)) / 257
			n, sum, sq = n+1, sum+l, sq+l*l
		}
	}
	if n == 0 {
		return 0
	}
	mean := sum / n
	return math.Sqrt(max(0, sq/n-mean*mean))
}
