package sync

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	gosync "sync"

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

// StartEmbeddedBroker starts a broker listening on addr (host:port with a loopback host, port 0
// for any free port). It stops when ctx ends or Close is called.
func StartEmbeddedBroker(ctx context.Context, addr string, logger *slog.Logger) (*EmbeddedBroker, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker address %q: %w", addr, err)
	}
	if !isLoopback(host) {
		return nil, fmt.Errorf("embedded broker address %q: allows anonymous access, so it listens only on a loopback address (127.0.0.1, ::1, localhost)", addr)
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
	b := &EmbeddedBroker{srv: srv, addr: l.Address()}
	context.AfterFunc(ctx, func() { _ = b.Close() })
	return b, nil
}

// Addr returns the address the broker listens on (with the real port when 0 was asked).
func (b *EmbeddedBroker) Addr() string { return b.addr }

// URL returns the tcp:// URL for clients.
func (b *EmbeddedBroker) URL() string { return "tcp://" + b.addr }

// Close stops the broker and disconnects its clients. It is safe to call more than once.
func (b *EmbeddedBroker) Close() error {
	b.once.Do(func() { b.err = b.srv.Close() })
	return b.err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
