package sync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	gosync "sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// State is the connection state of a Client.
type State int32

// Connection states.
const (
	StateDisconnected State = iota // not started, or waiting to reconnect
	StateConnecting                // a connection attempt is under way
	StateConnected                 // connected; predictions flow
	StateStopped                   // Run has returned
)

// String returns the state's name, as logged.
func (s State) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateStopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Stats is a snapshot of a Client's state for the watchdog, metrics and the status payload.
type Stats struct {
	State State
	// LastError is the most recent failure: a connection attempt, a lost connection, a denied
	// publish or subscription. It is kept after a successful reconnect, for the status payload.
	LastError error
	// ConnectedSince is when the current connection was made; zero when not connected.
	ConnectedSince time.Time
	// LastAck is when the broker last acknowledged a prediction; zero before the first.
	LastAck    time.Time
	Published  uint64 // predictions published, resends included
	Acked      uint64 // predictions acknowledged and deleted from the outbox
	Reconnects uint64 // connections made after the first
	// PublishDenied is set while the latest delivery check failed (ErrPublishDenied: a prediction
	// acknowledged but not delivered back) and cleared when a later check passes.
	PublishDenied bool
	// Broker is the URL of the broker connected to (scheme, host, port, path); empty when not
	// connected.
	Broker string
}

// broker is one entry of Config.Brokers, ready to dial.
type broker struct {
	url  *url.URL
	tls  *tls.Config // nil for plain schemes
	name string      // the URL as logged and reported
}

// Client publishes an Outbox to an MQTT broker and receives commands. Create it with New and
// start it with Run; the other methods are safe to call from any goroutine.
type Client struct {
	cfg     Config
	brokers []broker // in order of preference
	outbox  Outbox
	log     *slog.Logger
	topics  Topics
	limiter *limiter
	// cmds carries commands from paho's receive goroutine to the command worker, so a slow
	// handler never stalls paho (which would stop PUBACKs from being processed).
	cmds chan queuedCommand
	subs []*subscription // Config.Subscriptions with their queues

	published atomic.Uint64
	acked     atomic.Uint64
	lastAck   atomic.Int64 // unix nanoseconds

	mu             gosync.Mutex // guards the fields below
	running        bool
	started        time.Time
	conn           mqtt.Client // the connected paho client; nil when not connected
	state          State
	lastErr        error
	attemptErr     error // result of the latest connection attempt, for WaitConnected
	changed        chan struct{}
	connectedSince time.Time
	everConnected  bool
	reconnects     uint64
	denied         bool
	broker         string // the connected broker's name
	// permanent counts the latest consecutive connection attempts that failed in a way retrying
	// cannot fix (isPermanent); WaitConnected reports such a failure once every broker gave one.
	permanent int
}

// New validates cfg (URL scheme, TLS files) and returns a Client that publishes outbox.
// Nothing connects until Run.
func New(cfg Config, outbox Outbox, logger *slog.Logger) (*Client, error) {
	if outbox == nil {
		return nil, fmt.Errorf("%w: nil outbox", ErrConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg, urls, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig(urls[0])
	if err != nil {
		return nil, err
	}
	brokers := make([]broker, len(urls))
	for i, u := range urls {
		brokers[i] = broker{url: u, name: redact(u)}
		if tc != nil {
			brokers[i].tls = tc.Clone()
			brokers[i].tls.ServerName = u.Hostname()
		}
	}
	c := &Client{
		cfg:     cfg,
		brokers: brokers,
		outbox:  outbox,
		log:     logger.With("component", "mqtt"),
		topics:  TopicsFor(cfg.TopicPrefix, cfg.DeviceID),
		limiter: newLimiter(10 * time.Second),
		cmds:    make(chan queuedCommand, 16),
		started: time.Now(),
		changed: make(chan struct{}),
	}
	c.subs = c.newSubscriptions()
	return c, nil
}

func redact(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

// Topics returns the client's topics.
func (c *Client) Topics() Topics { return c.topics }

// Stats returns a snapshot of the client's state.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{
		State:          c.state,
		LastError:      c.lastErr,
		ConnectedSince: c.connectedSince,
		Published:      c.published.Load(),
		Acked:          c.acked.Load(),
		Reconnects:     c.reconnects,
		PublishDenied:  c.denied,
		Broker:         c.broker,
	}
	if ns := c.lastAck.Load(); ns != 0 {
		s.LastAck = time.Unix(0, ns)
	}
	return s
}

// State returns the connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// WaitConnected waits until the client is connected and returns nil, or returns the error of a
// connection attempt that cannot succeed without a configuration change (ErrTLS,
// ErrNotAuthorized) so a misconfiguration shows at startup. Run keeps retrying either way.
// Transient failures (broker down, no network) are waited out until ctx ends.
func (c *Client) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		state, err, ch, permanent := c.state, c.attemptErr, c.changed, c.permanent
		c.mu.Unlock()
		switch {
		case state == StateConnected:
			return nil
		case state == StateStopped:
			return errors.New("sync: client stopped")
		case err != nil && isPermanent(err) && permanent >= len(c.brokers):
			// Every broker refused: one with a bad certificate among good ones is only logged.
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
			}
			return ctx.Err()
		}
	}
}

// update changes the guarded state under the lock and wakes WaitConnected.
func (c *Client) update(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn()
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) currentConn() mqtt.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// Run connects, publishes the outbox and serves commands until ctx ends, reconnecting with
// backoff after every failure. On ctx's end it stops its goroutines, publishes the offline status,
// disconnects and returns nil. Run may be called only once.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("sync: Run called twice")
	}
	c.running = true
	c.mu.Unlock()
	defer c.update(func() { c.state = StateStopped })

	var wg gosync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.commandWorker(ctx) })
	for _, s := range c.subs {
		wg.Go(func() { s.serve(ctx) })
	}

	failures := 0
	next := 0      // index in c.brokers of the next attempt
	previous := "" // the broker of the latest connection
	for {
		b := c.brokers[next]
		connected, err := c.session(ctx, b, previous)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			previous = b.name
			if !errors.Is(err, ErrPublishDenied) {
				failures = 0
			}
		}
		// After any failure the next attempt goes to the next broker. The backoff grows once per
		// round through the list, so each broker sees the retry rate it would see alone.
		next = (next + 1) % len(c.brokers)
		delay := c.cfg.Backoff.delay(failures / len(c.brokers))
		failures++
		c.update(func() {
			c.state = StateDisconnected
			c.lastErr = err
			if !connected {
				c.attemptErr = err
				if isPermanent(err) {
					c.permanent++
				} else {
					c.permanent = 0
				}
			}
		})
		attrs := []any{"broker", b.name, "err", err, "retry_in", delay.Round(time.Millisecond), "attempt", failures}
		if len(c.brokers) > 1 {
			attrs = append(attrs, "next", c.brokers[next].name)
		}
		if isPermanent(err) || errors.Is(err, ErrPublishDenied) {
			// Retrying cannot help until someone fixes the configuration: say so loudly, but keep
			// trying, since the fix may be on the broker side.
			c.log.Error("mqtt: connection unusable; retrying", attrs...)
		} else {
			c.log.Warn("mqtt: disconnected; retrying", attrs...)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session makes one connection to b and serves it until it fails or ctx ends. connected reports
// whether CONNACK was received. previous is the broker of the connection before, for the log.
func (c *Client) session(ctx context.Context, b broker, previous string) (connected bool, err error) {
	lost := make(chan error, 1)
	// echo receives this device's own predictions while the first one of the connection is
	// being verified (see verifyFirst).
	echo := make(chan []byte, 8)
	o := mqtt.NewClientOptions().
		AddBroker(b.url.String()).
		// MQTT 3.1.1 only: paho's default retries a refused CONNECT as 3.1, which brokers such
		// as NATS refuse too, doubling every failed attempt.
		SetProtocolVersion(4).
		SetClientID(c.cfg.ClientID).
		SetUsername(c.cfg.Username).
		SetPassword(c.cfg.Password).
		// A fresh session and an in-memory store for each connection: the outbox, not paho,
		// holds what is not yet acknowledged, and publishLoop resends it in order.
		SetCleanSession(true).
		SetStore(mqtt.NewMemoryStore()).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetOrderMatters(true).
		SetKeepAlive(c.cfg.KeepAlive).
		// paho's default of 10 s would let a hung broker hold a short-keepalive connection longer.
		SetPingTimeout(min(10*time.Second, c.cfg.KeepAlive)).
		SetConnectTimeout(c.cfg.ConnectTimeout).
		SetWriteTimeout(c.cfg.ConnectTimeout).
		SetBinaryWill(c.topics.Status, c.offlinePayload("lost"), 1, true).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		}).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			c.ignore("message on an unexpected topic", "topic", m.Topic())
		})
	if b.tls != nil {
		o.SetTLSConfig(b.tls)
	}
	cl := mqtt.NewClient(o)
	c.update(func() { c.state = StateConnecting })
	tok := cl.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		// Abort the attempt, and wait for paho to give up so no goroutine outlives Run.
		cl.Disconnect(0)
		select {
		case <-tok.Done():
		case <-time.After(c.cfg.ConnectTimeout + time.Second):
		}
		return false, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		cl.Disconnect(0)
		return false, classifyConnectErr(err)
	}

	c.update(func() {
		c.conn, c.state, c.connectedSince, c.attemptErr, c.permanent = cl, StateConnected, time.Now(), nil, 0
		c.broker = b.name
		if c.everConnected {
			c.reconnects++
		}
		c.everConnected = true
	})
	if previous != "" && previous != b.name {
		c.log.Warn("mqtt: connected to another broker (failover)", "broker", b.name, "previous", previous, "client_id", c.cfg.ClientID)
	} else {
		c.log.Info("mqtt: connected", "broker", b.name, "client_id", c.cfg.ClientID)
	}
	defer c.update(func() { c.conn, c.connectedSince, c.broker = nil, time.Time{}, "" })

	if err := c.subscribe(ctx, cl, c.topics.Commands, c.onCommand); err != nil {
		if !errors.Is(err, ErrSubscribeDenied) {
			cl.Disconnect(0)
			return true, err
		}
		c.reportError(ctx, cl, "subscribe_denied", err)
	}
	for _, s := range c.subs {
		if err := c.subscribeQoS(ctx, cl, s.Filter, s.QoS, c.receive(s)); err != nil {
			if !errors.Is(err, ErrSubscribeDenied) {
				cl.Disconnect(0)
				return true, err
			}
			c.reportError(ctx, cl, "subscribe_denied", err)
		}
	}
	predictions := c.topics.Predictions
	verify := c.cfg.Verify != VerifyOff
	if verify {
		err = c.subscribe(ctx, cl, predictions, func(_ mqtt.Client, m mqtt.Message) {
			select {
			case echo <- append([]byte(nil), m.Payload()...):
			default:
			}
		})
	}
	if err != nil {
		if !errors.Is(err, ErrSubscribeDenied) {
			cl.Disconnect(0)
			return true, err
		}
		verify = false
		c.log.Warn("mqtt: cannot verify delivery: the broker refuses subscribing to the device's own predictions topic, so a publish its ACL denies would go unnoticed", "topic", predictions)
	}
	c.publishStatus(ctx, cl)

	sctx, cancel := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() { errc <- c.publishLoop(sctx, cl, verify, echo) })
	wg.Go(func() { c.statusLoop(sctx, cl) })
	if c.cfg.OnConnect != nil {
		wg.Go(func() { c.cfg.OnConnect(sctx) })
	}
	select {
	case <-ctx.Done():
		cancel()
		wg.Wait()
		c.shutdown(ctx, cl)
		return true, nil
	case err = <-lost:
		err = fmt.Errorf("connection lost: %w", err)
	case err = <-errc:
	}
	cancel()
	wg.Wait()
	if errors.Is(err, ErrPublishDenied) {
		c.reportError(ctx, cl, "publish_denied", err)
	}
	cl.Disconnect(100)
	return true, err
}

// shutdown publishes the offline status and disconnects, so the LWT is not needed.
func (c *Client) shutdown(ctx context.Context, cl mqtt.Client) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := waitToken(sctx, cl.Publish(c.topics.Status, 1, true, c.offlinePayload("shutdown"))); err != nil {
		c.log.Warn("mqtt: publish offline status", "err", err)
	}
	cl.Disconnect(250)
	c.log.Info("mqtt: disconnected (shutdown)", "broker", c.Stats().Broker)
}

// reportError records a denied publish or subscription and tells everyone who may listen: the
// log, the events topic and the status topic (the last two may be denied too).
func (c *Client) reportError(ctx context.Context, cl mqtt.Client, kind string, err error) {
	// Logged before Stats shows it: whoever sees the error there finds it in the log too.
	c.log.Error("mqtt: "+kind, "err", err)
	c.update(func() {
		c.lastErr = err
		if errors.Is(err, ErrPublishDenied) {
			c.denied = true
		}
	})
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if b, e := c.eventPayload("warning", map[string]any{"warning": kind, "error": err.Error()}); e == nil {
		_ = waitToken(ectx, cl.Publish(c.topics.Events, 1, false, b))
	}
	c.publishStatus(ectx, cl)
}

func (c *Client) subscribe(ctx context.Context, cl mqtt.Client, topic string, h mqtt.MessageHandler) error {
	return c.subscribeQoS(ctx, cl, topic, 1, h)
}

func (c *Client) subscribeQoS(ctx context.Context, cl mqtt.Client, topic string, qos byte, h mqtt.MessageHandler) error {
	tok := cl.Subscribe(topic, qos, h)
	tctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	if err := waitToken(tctx, tok); err != nil {
		return fmt.Errorf("subscribe %s: %w", topic, err)
	}
	if code, ok := tok.(*mqtt.SubscribeToken).Result()[topic]; ok && code >= 0x80 {
		return fmt.Errorf("%w: %s (SUBACK %#x)", ErrSubscribeDenied, topic, code)
	}
	return nil
}

func (c *Client) statusLoop(ctx context.Context, cl mqtt.Client) {
	t := time.NewTicker(c.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.publishStatus(ctx, cl)
		}
	}
}

func (c *Client) publishStatus(ctx context.Context, cl mqtt.Client) {
	tctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	if err := waitToken(tctx, cl.Publish(c.topics.Status, 1, true, c.onlinePayload())); err != nil && ctx.Err() == nil {
		c.log.Warn("mqtt: publish status", "err", err)
	}
}

// PublishStatus publishes the online status now (the status command) and waits for the broker's
// acknowledgement or ctx; ErrNotConnected while disconnected.
func (c *Client) PublishStatus(ctx context.Context) error {
	cl := c.currentConn()
	if cl == nil {
		return ErrNotConnected
	}
	if err := waitToken(ctx, cl.Publish(c.topics.Status, 1, true, c.onlinePayload())); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	return nil
}

// PublishEvent publishes an event (camera state change, command ack, warning) to the events topic
// with QoS 1 and waits for the broker's acknowledgement or ctx. Events are best-effort: they do
// not go through the outbox, and while disconnected PublishEvent returns ErrNotConnected.
func (c *Client) PublishEvent(ctx context.Context, kind string, fields map[string]any) error {
	if kind == "" {
		return errors.New("sync: event kind is empty")
	}
	b, err := c.eventPayload(kind, fields)
	if err != nil {
		return fmt.Errorf("sync: event %q: %w", kind, err)
	}
	cl := c.currentConn()
	if cl == nil {
		return ErrNotConnected
	}
	if err := waitToken(ctx, cl.Publish(c.topics.Events, 1, false, b)); err != nil {
		return fmt.Errorf("sync: event %q: %w", kind, err)
	}
	return nil
}

func waitToken(ctx context.Context, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// classifyConnectErr marks the failures that retrying cannot fix.
func classifyConnectErr(err error) error {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		op  *net.OpError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
		return fmt.Errorf("%w: broker certificate not trusted (check the CA file and broker host name): %w", ErrTLS, err)
	case errors.As(err, &op) && op.Op == "remote error":
		return fmt.Errorf("%w: broker rejected the handshake (client certificate missing or not trusted?): %w", ErrTLS, err)
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword),
		errors.Is(err, packets.ErrorRefusedNotAuthorised),
		errors.Is(err, packets.ErrorRefusedIDRejected):
		return fmt.Errorf("%w: %w", ErrNotAuthorized, err)
	}
	return fmt.Errorf("connect: %w", err)
}

func isPermanent(err error) bool {
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) && ci.Reason == x509.Expired {
		// Boards without a real-time clock boot with a wrong time until NTP syncs: a certificate
		// "not yet valid" or "expired" then is likely to fix itself.
		return false
	}
	return errors.Is(err, ErrTLS) || errors.Is(err, ErrNotAuthorized)
}

func randFloat() float64 { return rand.Float64() }
