package operator

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	gosync "sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/ota"
)

// ServerOptions configure a chunk server.
type ServerOptions struct {
	Prefix string // topic prefix, default "edge"
	// Dir holds the model files to serve, by any name; they are found by their SHA-256 and the
	// directory is scanned again (at most every RescanEvery) when a request names one it has not
	// seen.
	Dir string
	// Models are models held in memory, by SHA-256 (a push serves its own model this way).
	Models map[string][]byte
	// Share, when set, subscribes to $share/<Share>/<prefix>/+/model/req so that the broker hands
	// each request to one of the servers sharing the name.
	Share string
	// Workers answer requests in parallel (default 4); Queue bounds the requests waiting for
	// them (default 256; more are dropped, and the devices ask again).
	Workers, Queue int
	// InFlight bounds the chunks published and not yet acknowledged per worker (default 16).
	InFlight    int
	RescanEvery time.Duration // default 10 s
	Logger      *slog.Logger
}

// Server answers chunk requests: each request's chunks go to the requesting device's chunk
// topic, named by the topic the request came on.
type Server struct {
	conn *Conn
	o    ServerOptions
	log  *slog.Logger
	reqs chan incoming

	mu       gosync.Mutex
	files    map[string]string // sha256 -> path
	seen     map[string]fileKey
	lastScan time.Time

	served   atomic.Uint64 // chunks sent
	requests atomic.Uint64
	unknown  atomic.Uint64 // requests for a model this server does not have
	dropped  atomic.Uint64
}

type incoming struct {
	device string
	req    ota.Request
}

type fileKey struct {
	size  int64
	mtime time.Time
	sha   string
}

// ServerStats counts what a server did.
type ServerStats struct {
	Requests, Served, Unknown, Dropped uint64
	Models                             int
}

// NewServer prepares a server on conn and indexes Dir.
func NewServer(conn *Conn, o ServerOptions) (*Server, error) {
	if o.Prefix == "" {
		o.Prefix = ota.DefaultTopicPrefix
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Queue <= 0 {
		o.Queue = 256
	}
	if o.InFlight <= 0 {
		o.InFlight = 16
	}
	if o.RescanEvery <= 0 {
		o.RescanEvery = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{conn: conn, o: o, log: o.Logger, reqs: make(chan incoming, o.Queue),
		files: map[string]string{}, seen: map[string]fileKey{}}
	if o.Dir != "" {
		if err := s.scan(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	n := len(s.files) + len(s.o.Models)
	s.mu.Unlock()
	return ServerStats{Requests: s.requests.Load(), Served: s.served.Load(), Unknown: s.unknown.Load(), Dropped: s.dropped.Load(), Models: n}
}

// scan indexes the files of Dir by SHA-256, hashing only new or changed ones.
func (s *Server) scan() error {
	ents, err := os.ReadDir(s.o.Dir)
	if err != nil {
		return fmt.Errorf("model directory: %w", err)
	}
	files := map[string]string{}
	seen := map[string]fileKey{}
	s.mu.Lock()
	old := s.seen
	s.mu.Unlock()
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(s.o.Dir, e.Name())
		fi, err := e.Info()
		if err != nil {
			continue
		}
		k := fileKey{size: fi.Size(), mtime: fi.ModTime()}
		if prev, ok := old[path]; ok && prev.size == k.size && prev.mtime.Equal(k.mtime) {
			k.sha = prev.sha
		} else if k.sha, err = ota.FileSHA256(path); err != nil {
			s.log.Warn("cannot read model file", "path", path, "err", err)
			continue
		}
		seen[path] = k
		files[k.sha] = path
	}
	s.mu.Lock()
	s.files, s.seen, s.lastScan = files, seen, time.Now()
	s.mu.Unlock()
	return nil
}

// Run subscribes and answers requests until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	filter := ota.RequestFilter(s.o.Prefix)
	if s.o.Share != "" {
		filter = "$share/" + s.o.Share + "/" + filter
	}
	if err := s.conn.Subscribe(ctx, filter, s.receive); err != nil {
		return err
	}
	var wg gosync.WaitGroup
	for range s.o.Workers {
		wg.Go(func() { s.worker(ctx) })
	}
	wg.Wait()
	return nil
}

func (s *Server) receive(topic string, payload []byte, retained bool) {
	dev, ok := ota.DeviceOf(s.o.Prefix, topic)
	if !ok || retained {
		return
	}
	r, err := ota.ParseRequest(payload)
	if err != nil {
		s.log.Debug("malformed chunk request", "device", dev, "err", err)
		return
	}
	s.requests.Add(1)
	select {
	case s.reqs <- incoming{dev, r}:
	default:
		s.dropped.Add(1)
	}
}

func (s *Server) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-s.reqs:
			if err := s.answer(ctx, in); err != nil && ctx.Err() == nil {
				s.log.Warn("answering a chunk request", "device", in.device, "err", err)
			}
		}
	}
}

// source returns a reader of the model with the given hash, or nil.
func (s *Server) source(sha string) (io.ReaderAt, int64, func(), error) {
	if m, ok := s.o.Models[sha]; ok {
		return bytesReaderAt(m), int64(len(m)), func() {}, nil
	}
	if s.o.Dir == "" {
		return nil, 0, nil, nil
	}
	s.mu.Lock()
	path, ok := s.files[sha]
	stale := time.Since(s.lastScan) > s.o.RescanEvery
	s.mu.Unlock()
	if !ok && stale {
		if err := s.scan(); err != nil {
			return nil, 0, nil, err
		}
		s.mu.Lock()
		path, ok = s.files[sha]
		s.mu.Unlock()
	}
	if !ok {
		return nil, 0, nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	return f, fi.Size(), func() { f.Close() }, nil
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// answer publishes the requested chunks, a window of them in flight at a time.
func (s *Server) answer(ctx context.Context, in incoming) error {
	src, size, done, err := s.source(in.req.SHA256)
	if err != nil {
		return err
	}
	if src == nil {
		s.unknown.Add(1)
		s.log.Debug("chunk request for a model this server does not have", "device", in.device, "sha256", in.req.SHA256)
		return nil
	}
	defer done()
	var sha [32]byte
	if _, err := hex.Decode(sha[:], []byte(in.req.SHA256)); err != nil {
		return err
	}
	cs := in.req.ChunkSize
	count := int((size + int64(cs) - 1) / int64(cs))
	topic := ota.DeviceTopic(s.o.Prefix, in.device, "chunk")
	var window []mqtt.Token
	flush := func(keep int) error {
		for len(window) > keep {
			if err := s.conn.ack(ctx, window[0]); err != nil {
				return err
			}
			window = window[1:]
		}
		return nil
	}
	buf := make([]byte, cs)
	for _, rg := range in.req.Ranges {
		for i := rg[0]; i <= rg[1] && i < count; i++ {
			n, err := src.ReadAt(buf, int64(i)*int64(cs))
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			msg := ota.AppendChunk(nil, ota.Chunk{SHA256: sha, ChunkSize: cs, Index: i, Data: buf[:n]})
			window = append(window, s.conn.c.Publish(topic, 1, false, msg))
			s.served.Add(1)
			if err := flush(s.o.InFlight - 1); err != nil {
				return err
			}
		}
	}
	return flush(0)
}
