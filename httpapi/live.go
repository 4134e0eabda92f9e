package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	gosync "sync"
	"time"
)

// Frame is a processed frame for the live view and /v1/snapshot.jpg.
type Frame struct {
	// JPEG is the frame with its detections drawn (camera.Frame.SnapshotJPEG). The server keeps
	// it: the caller must not change it afterwards.
	JPEG []byte
	// Time is when the frame was captured.
	Time time.Time
}

// Live-view pacing: while nobody watches, WantFrame asks for a frame this often, so that
// /v1/snapshot.jpg is never much older; a snapshot request counts as watching for snapshotWatch.
const (
	idleFrameInterval = 5 * time.Second
	snapshotWatch     = 10 * time.Second
	eventPing         = 15 * time.Second
	eventWriteTimeout = 10 * time.Second
	eventQueue        = 64
)

// live holds the newest frame, the last records and the event streams' clients.
type live struct {
	liveInterval time.Duration
	maxClients   int

	mu            gosync.Mutex // guards the fields below
	frame         Frame
	frameID       uint64
	frameAt       time.Time // when frame was published
	snapshotUntil time.Time // a snapshot was asked for recently
	recent        [][]byte  // record JSON, oldest first, at most cap(recent)
	clients       map[*client]struct{}
}

// client is one event stream. The hub sends it preformatted events; one that cannot keep up is
// dropped (gone is closed) and reconnects, getting the recent records again.
type client struct {
	ch   chan []byte
	gone chan struct{}
}

func newLive(cfg Config) *live {
	return &live{
		liveInterval: time.Duration(float64(time.Second) / cfg.LiveFPS),
		maxClients:   cfg.MaxEventClients,
		recent:       make([][]byte, 0, cfg.RecentRecords),
		clients:      map[*client]struct{}{},
	}
}

// sse formats one server-sent event; data must be a single line (JSON is).
func sse(event string, data []byte) []byte {
	b := make([]byte, 0, len(event)+len(data)+16)
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}

// broadcastLocked queues msg for every client, dropping those whose queue is full.
func (l *live) broadcastLocked(msg []byte) {
	for c := range l.clients {
		select {
		case c.ch <- msg:
		default:
			delete(l.clients, c)
			close(c.gone)
		}
	}
}

func frameEvent(id uint64, t time.Time) []byte {
	b, _ := json.Marshal(struct {
		ID uint64    `json:"id"`
		TS time.Time `json:"ts"`
	}{id, t.UTC()})
	return sse("frame", b)
}

// WantFrame reports whether the agent should encode the current frame for PublishFrame: at most
// LiveFPS times a second while a page or a snapshot poller is watching, every few seconds
// otherwise. It is cheap; call it for every processed frame.
func (s *Server) WantFrame() bool {
	l := s.live
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	interval := idleFrameInterval
	if len(l.clients) > 0 || now.Before(l.snapshotUntil) {
		interval = l.liveInterval
	}
	return l.frame.JPEG == nil || now.Sub(l.frameAt) >= interval
}

// PublishFrame makes f the newest frame, served by /v1/snapshot.jpg and announced to the pages.
func (s *Server) PublishFrame(f Frame) {
	if len(f.JPEG) == 0 {
		return
	}
	l := s.live
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frameID++
	l.frame, l.frameAt = f, time.Now()
	l.broadcastLocked(frameEvent(l.frameID, f.Time))
}

// PublishRecord sends a stored record to the pages and keeps it among the recent ones. rec is
// encoded at once (so it may change afterwards); leave the snapshot out of it: the page shows
// the frame from /v1/snapshot.jpg.
func (s *Server) PublishRecord(rec any) {
	b, err := json.Marshal(rec)
	if err != nil {
		s.log.Debug("record for the live view does not encode", "err", err)
		return
	}
	l := s.live
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recent) == cap(l.recent) {
		copy(l.recent, l.recent[1:])
		l.recent = l.recent[:len(l.recent)-1]
	}
	l.recent = append(l.recent, b)
	l.broadcastLocked(sse("record", b))
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	l := s.live
	l.mu.Lock()
	l.snapshotUntil = time.Now().Add(snapshotWatch)
	f, id := l.frame, l.frameID
	l.mu.Unlock()
	if f.JPEG == nil {
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "no frame processed yet")
		return
	}
	etag := fmt.Sprintf(`"frame-%d"`, id)
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", etag)
	h.Set("X-Frame-Time", f.Time.UTC().Format(time.RFC3339Nano))
	h.Set("Content-Type", "image/jpeg")
	// ServeContent answers If-None-Match with 304 (no Last-Modified: frames change within a
	// second).
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.JPEG))
}

// statusEvent is the page's periodic view of the agent.
type statusEvent struct {
	Status any `json:"status"`
	readiness
}

func (s *Server) statusEvent() []byte {
	b, err := json.Marshal(statusEvent{Status: s.deps.Agent.Status(), readiness: s.readiness()})
	if err != nil {
		b, _ = json.Marshal(errorBody{Error: "status does not encode as JSON: " + err.Error()})
	}
	return sse("status", b)
}

// events streams server-sent events: "status" every StatusInterval, "record" for each stored
// record (the recent ones first), "frame" with the id of each new frame for /v1/snapshot.jpg.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	l := s.live
	c := &client{ch: make(chan []byte, eventQueue), gone: make(chan struct{})}
	l.mu.Lock()
	if len(l.clients) >= l.maxClients {
		l.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "too many event streams open (%d)", l.maxClients)
		return
	}
	l.clients[c] = struct{}{}
	backlog := append([][]byte(nil), l.recent...)
	frameID, frameTime := l.frameID, l.frame.Time
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if _, ok := l.clients[c]; ok {
			delete(l.clients, c)
			close(c.gone)
		}
		l.mu.Unlock()
	}()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a reverse proxy must not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	first := append([]byte("retry: 2000\n\n"), s.statusEvent()...)
	for _, b := range backlog {
		first = append(first, sse("record", b)...)
	}
	if frameID > 0 {
		first = append(first, frameEvent(frameID, frameTime)...)
	}
	if !write(first) {
		return
	}
	status := time.NewTicker(s.cfg.StatusInterval)
	defer status.Stop()
	ping := time.NewTicker(eventPing)
	defer ping.Stop()
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		case <-c.gone:
			return
		case msg = <-c.ch:
		case <-status.C:
			msg = s.statusEvent()
		case <-ping.C:
			msg = []byte(": ping\n\n")
		}
		if !write(msg) {
			return
		}
	}
}
