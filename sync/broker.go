package sync

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	gosync "sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// EmbeddedBroker is an in-process MQTT broker for `make run` and demos: it allows every client
// everything, so it listens on loopback addresses only. It is not the production path (use a real
// broker such as mosquitto for that).
type EmbeddedBroker struct {
	srv  *mochi.Server
	addr string
	once gosync.Once
	err  error
}

// CheckEmbeddedAddr checks an address for StartEmbeddedBroker: host:port with a loopback host.
func CheckEmbeddedAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("embedded broker address %q: %w", addr, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("embedded broker address %q: invalid port", addr)
	}
	if !isLoopback(host) {
		return fmt.Errorf("embedded broker address %q: allows anonymous access, so it listens only on a loopback address (127.0.0.1, ::1, localhost)", addr)
	}
	return nil
}

// StartEmbeddedBroker starts a broker listening on addr (host:port with a loopback host, port 0
// for any free port). It runs until Close: the agent stops it after its own client has published
// its offline status and disconnected, so that status reaches the subscribers.
func StartEmbeddedBroker(addr string, logger *slog.Logger) (*EmbeddedBroker, error) {
	if err := CheckEmbeddedAddr(addr); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := mochi.New(&mochi.Options{Logger: logger.With("component", "embedded-broker")})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := srv.AddListener(l); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &EmbeddedBroker{srv: srv, addr: l.Address()}, nil
}

// Addr returns the address the broker listens on (with the real port when 0 was asked).
func (b *EmbeddedBroker) Addr() string { return b.addr }

// URL returns the tcp:// URL for clients.
func (b *EmbeddedBroker) URL() string { return "tcp://" + b.addr }

// drainDelay is how long Close lets the broker deliver what it has queued for its subscribers
// (the agent's offline status, published just before) before it disconnects them: mochi gives
// no way to wait for its write queues to empty.
const drainDelay = 200 * time.Millisecond

// Close stops the broker and disconnects its clients. It is safe to call more than once.
func (b *EmbeddedBroker) Close() error {
	b.once.Do(func() {
		time.Sleep(drainDelay)
		b.err = b.srv.Close()
	})
	return b.err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
