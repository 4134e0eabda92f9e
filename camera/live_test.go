package camera

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	cases := []struct {
		url  string
		want Kind
	}{
		{"/dev/video0", KindDevice},
		{"0", KindDevice},
		{"3", KindDevice},
		{"v4l2:/tmp/x", KindDevice},
		{"/dev/v4l/by-id/usb-cam-video-index0", KindDevice},
		{"testdata/clips/sample.mp4", KindFile},
		{"file:/dev/shm/x.mp4", KindFile},
		{"file:///var/clip.avi", KindFile},
		{"rtsp://user:pw@10.0.0.2:554/s1", KindStream},
		{"http://cam.local/mjpg", KindStream},
		{"https://cam.local/live.m3u8", KindStream},
		{"gst:libcamerasrc ! video/x-raw,width=640,height=480 ! videoconvert ! appsink", KindGStreamer},
		{"videotestsrc ! videoconvert ! appsink", KindGStreamer},
	}
	for _, c := range cases {
		got, err := KindOf(c.url)
		if err != nil || got != c.want {
			t.Errorf("KindOf(%q) = %v, %v; want %v", c.url, got, err, c.want)
		}
	}
	bad := map[string]string{
		"":                            "empty",
		"   ":                         "empty",
		"ftp://host/x":                "unsupported URL scheme",
		"rtsp:///nohost":              "no host",
		"300":                         "out of range",
		"videotestsrc ! videoconvert": "must end in appsink",
		"gst:":                        "empty GStreamer pipeline",
		"v4l2:":                       "empty device path",
	}
	for url, want := range bad {
		_, err := KindOf(url)
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("KindOf(%q) = %v, want ErrBadConfig mentioning %q", url, err, want)
		}
	}
	// Passwords never reach errors or logs.
	_, err := Open(context.Background(), Config{URL: "ftp://user:secret@host/x"}, nil)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v leaks the password or is missing", err)
	}
	for _, cfg := range []Config{
		{URL: "0", MaxFPS: -1},
		{URL: "0", Width: -5},
		{URL: "0", FourCC: "MJPEG"},
		{URL: "0", ReconnectInitial: -time.Second},
	} {
		if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrBadConfig", cfg, err)
		}
	}
}

func TestFileOpenErrors(t *testing.T) {
	cases := map[string]string{
		"../testdata/clips/missing.mp4":            "does not exist",
		"../testdata/models/tiny/sin_model.tflite": "FFmpeg cannot decode",
		"../testdata/clips":                        "is a directory",
	}
	empty := t.TempDir() + "/empty.mp4"
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases[empty] = "FFmpeg cannot decode"
	for path, want := range cases {
		s, err := Open(context.Background(), Config{URL: path}, nil)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
			continue
		}
		if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want ErrOpen mentioning %q", path, err, want)
		}
	}
}

func TestFileSourceAtRateDropsForSlowConsumer(t *testing.T) {
	// At MaxFPS a file plays like a camera: a consumer slower than the rate gets the newest frame
	// and the ones in between are dropped, yet every frame is read and accounted for.
	s, _ := openTest(t, Config{URL: clipPath, MaxFPS: 200})
	got := 0
	var last uint64
	for {
		f, err := nextCtx(t, s, 10*time.Second)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Seq() <= last {
			t.Errorf("Seq %d after %d", f.Seq(), last)
		}
		last = f.Seq()
		got++
		f.Close()
		time.Sleep(20 * time.Millisecond)
	}
	st := s.Stats()
	if st.Frames != clipFrames || uint64(got)+st.Dropped != clipFrames || st.Dropped == 0 {
		t.Errorf("consumer got %d frames, stats %+v; want all %d read, some dropped, got+dropped = read", got, st, clipFrames)
	}
}

func TestLatestFrameSlowConsumer(t *testing.T) {
	// A live 100 fps source and a consumer that takes 50 ms per frame: a queue would fall further
	// behind every frame; the source must hand out its newest frame every time.
	s, _ := openTest(t, Config{URL: "gst:videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=100/1 ! videoconvert ! appsink"})
	const iterations = 12
	var first, last uint64
	for i := 0; i < iterations; i++ {
		newest := s.Stats().Frames
		f, err := nextCtx(t, s, 20*time.Second)
		if err != nil {
			t.Fatalf("Next %d: %v", i, err)
		}
		if f.Width() != 160 || f.Height() != 120 {
			t.Errorf("frame is %dx%d, want 160x120", f.Width(), f.Height())
		}
		// Every frame handed out is at least as new as the newest read before asking.
		if f.Seq() < newest {
			t.Errorf("Next returned frame %d, but frame %d had already been read: a stale frame", f.Seq(), newest)
		}
		if f.Seq() <= last {
			t.Errorf("Seq %d after %d", f.Seq(), last)
		}
		if i == 0 {
			first = f.Seq()
		}
		last = f.Seq()
		f.Close()
		time.Sleep(50 * time.Millisecond)
	}
	st := s.Stats()
	if st.Dropped == 0 || last-first < 2*(iterations-1) {
		t.Errorf("consumer saw frames %d..%d in %d calls, stats %+v: old frames were not skipped", first, last, iterations, st)
	}
}

func TestGStreamerPipelineEndsAndReconnects(t *testing.T) {
	s, log := openTest(t, Config{
		URL:              "gst:videotestsrc num-buffers=5 ! video/x-raw,width=320,height=240,framerate=50/1 ! videoconvert ! appsink",
		ReconnectInitial: 10 * time.Millisecond,
		ReconnectMax:     50 * time.Millisecond,
	})
	f, err := nextCtx(t, s, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.Width() != 320 || f.Height() != 240 {
		t.Errorf("frame is %dx%d, want 320x240", f.Width(), f.Height())
	}
	f.Close()
	ended := log.waitFor(t, "reconnecting after the pipeline ended", 20*time.Second, func(c StateChange) bool {
		return c.State == StateReconnecting && errors.Is(c.Err, ErrStreamEnded)
	})
	log.waitFor(t, "connected again", 20*time.Second, func(c StateChange) bool {
		return c.State == StateConnected && c.Time.After(ended.Time)
	})
	// Frames keep coming from the reopened pipeline.
	for {
		f, err := nextCtx(t, s, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		after := f.Time().After(ended.Time)
		f.Close()
		if after {
			break
		}
	}
	if st := s.Stats(); st.Reconnects == 0 {
		t.Errorf("stats %+v count no reconnect", st)
	}
}

func TestHTTPStreamDropsAndReconnects(t *testing.T) {
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		w.Header().Set("Content-Type", "video/mp4")
		if n == 1 {
			// Cut the first connection half way through the clip, as a flaky network would.
			w.Write(clip[:len(clip)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Write(clip)
	}))
	defer srv.Close()

	s, log := openTest(t, Config{URL: srv.URL + "/clip.mp4", ReconnectInitial: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
	f, err := nextCtx(t, s, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if f.Width() != clipW || f.Height() != clipH {
		t.Errorf("frame is %dx%d, want %dx%d", f.Width(), f.Height(), clipW, clipH)
	}
	f.Close()
	dropped := log.waitFor(t, "reconnecting after the connection was cut", 20*time.Second, func(c StateChange) bool {
		return c.State == StateReconnecting && errors.Is(c.Err, ErrStreamEnded)
	})
	if strings.Contains(dropped.Source, "@") || !strings.HasPrefix(dropped.Source, "http://") {
		t.Errorf("state names the source %q", dropped.Source)
	}
	log.waitFor(t, "connected again", 20*time.Second, func(c StateChange) bool {
		return c.State == StateConnected && c.Time.After(dropped.Time)
	})
	for {
		f, err := nextCtx(t, s, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		after := f.Time().After(dropped.Time)
		f.Close()
		if after {
			break
		}
	}
	if n := requests.Load(); n < 2 {
		t.Errorf("server saw %d requests, want a reconnect", n)
	}
	states := log.states()
	if states[0] != StateConnected {
		t.Errorf("states %v do not start connected", states)
	}
}

func TestStreamUnreachableBacksOff(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/gone.mp4"
	srv.Close() // nothing listens there any more
	s, log := openTest(t, Config{URL: url, ReconnectInitial: 10 * time.Millisecond, ReconnectMax: 40 * time.Millisecond})
	log.waitFor(t, "4 failed attempts", 20*time.Second, func(c StateChange) bool { return c.Attempt >= 4 })
	var delays []time.Duration
	for _, c := range log.snapshot()[:4] {
		if c.State != StateReconnecting || !errors.Is(c.Err, ErrOpen) {
			t.Errorf("state %v err %v, want reconnecting with ErrOpen", c.State, c.Err)
		}
		delays = append(delays, c.RetryIn)
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}
	for i := range want {
		if delays[i] != want[i] {
			t.Errorf("retry delays %v, want %v (doubling, capped)", delays, want)
			break
		}
	}
	s.Close()
	if c := s.State(); c.State != StateStopped || !errors.Is(c.Err, ErrClosed) {
		t.Errorf("after Close: %v %v, want stopped with ErrClosed", c.State, c.Err)
	}
}

func TestCloseWakesNextAndContextStops(t *testing.T) {
	s, _ := openTest(t, Config{URL: "/dev/video9", ReconnectInitial: 5 * time.Millisecond})
	errc := make(chan error, 1)
	go func() {
		_, err := s.Next(context.Background())
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	s.Close() // twice is fine
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked Next returned %v after Close, want ErrClosed", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s2, err := Open(ctx, Config{URL: "gst:videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=30/1 ! videoconvert ! appsink"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	f, err := nextCtx(t, s2, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	cancel()
	for {
		f, err := nextCtx(t, s2, 20*time.Second)
		if err == nil {
			f.Close()
			continue
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next after the source's context ended = %v, want context.Canceled", err)
		}
		break
	}
	if c := s2.State(); c.State != StateStopped {
		t.Errorf("state %v after context cancel, want stopped", c.State)
	}
}

func TestLiveMaxFPS(t *testing.T) {
	// 100 fps in, at most 20 handed out: Next waits out the interval, then returns the newest.
	s, _ := openTest(t, Config{URL: "gst:videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=100/1 ! videoconvert ! appsink", MaxFPS: 20})
	var start time.Time
	var first, last uint64
	const n = 6
	for i := 0; i < n; i++ {
		f, err := nextCtx(t, s, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			start, first = time.Now(), f.Seq()
		}
		last = f.Seq()
		f.Close()
	}
	// A lower bound only: the cap can make Next slower, never faster.
	if el := time.Since(start); el < (n-1)*50*time.Millisecond {
		t.Errorf("%d frames in %v at MaxFPS 20", n, el)
	}
	if last-first < 2*(n-1) {
		t.Errorf("frames %d..%d: the source did not keep reading at full rate between frames", first, last)
	}
}
