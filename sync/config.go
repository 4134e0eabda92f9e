package sync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTopicPrefix    = "edge"
	DefaultInFlight       = 32
	DefaultKeepAlive      = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultStatusInterval = time.Minute
	DefaultVerifyTimeout  = 5 * time.Second
	DefaultBackoffInitial = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultBackoffJitter  = 0.2
	// MaxCommandSize bounds a command payload; larger ones are ignored.
	MaxCommandSize = 64 << 10
	maxTopicLevel  = 128
	maxInFlight    = 65000 // MQTT packet ids are 16 bits
)

// Config configures a Client. DeviceID and Broker are required; zero values elsewhere get the
// defaults above.
type Config struct {
	// Broker is the broker URL. Schemes: tcp:// or mqtt:// (plain, default port 1883),
	// ssl://, tls:// or mqtts:// (TLS, default port 8883), ws:// and wss:// (websockets; the path
	// is kept, e.g. wss://host/mqtt).
	Broker string
	// Brokers lists several broker URLs (the nodes of a cluster, or a primary and its standby) in
	// order of preference; set either Broker or Brokers. The Client connects to one at a time and
	// moves to the next after each failure (see "Several brokers" in the package doc). The URLs
	// must all be TLS or all plain: a failover must not drop encryption.
	Brokers []string
	// DeviceID names the device in topics and payloads. It must be a single topic level: no '/',
	// '+', '#', at most 128 bytes of UTF-8.
	DeviceID string
	// ClientID is the MQTT client identifier; default "edge-agent-<DeviceID>". Two connections with
	// the same id kick each other off the broker.
	ClientID string
	// Username and Password authenticate to the broker (optional).
	Username string
	Password string
	// CAFile is a PEM bundle of the CAs trusted for the broker's certificate; empty uses the
	// system roots. Only valid with a TLS scheme.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key for mutual TLS; both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify disables verification of the broker's certificate. For tests only: it
	// makes TLS useless against an active attacker.
	InsecureSkipVerify bool
	// KeepAlive is the MQTT keepalive; a dead connection is noticed within about 1.5 times it.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (TCP, TLS and CONNECT/CONNACK).
	ConnectTimeout time.Duration
	// TopicPrefix is the first level(s) of every topic; default "edge". No wildcards.
	TopicPrefix string
	// InFlight is the most predictions published and not yet acknowledged (PUBACK) at once.
	InFlight int
	// Backoff paces reconnection attempts.
	Backoff Backoff
	// AgentVersion goes into the status payload.
	AgentVersion string
	// Status, if set, is called for every online status payload. It must be quick and safe to call
	// from another goroutine.
	Status func() StatusInfo
	// StatusInterval is how often the online status is republished while connected.
	StatusInterval time.Duration
	// OnCommand, if set, handles messages on <prefix>/<device>/cmd/<name>. It is called from one
	// goroutine, one command at a time; its error is reported in the "cmd_ack" event. Without it
	// every command is logged as unexpected and ignored.
	OnCommand func(ctx context.Context, cmd Command) error
	// Subscriptions are subscribed on every connection (see Subscription).
	Subscriptions []Subscription
	// OnConnect, if set, runs after each connection is made and the online status is published
	// (to publish discovery payloads, say). It runs on its own goroutine, which the connection
	// waits for before the next attempt; ctx ends when the connection does.
	OnConnect func(ctx context.Context)
	// Verify chooses what happens when the first prediction of a connection is acknowledged but
	// not delivered back (see "Denied topics" in the package doc): VerifyHold (default) keeps the
	// records, reports ErrPublishDenied and retries with backoff; VerifyWarn reports it and
	// publishes anyway; VerifyOff skips the check. Hold needs an ACL that lets the device read
	// its own predictions topic; with a write-only ACL use warn or off.
	Verify string
	// VerifyTimeout is how long to wait for that echo.
	VerifyTimeout time.Duration
}

// Values of Config.Verify.
const (
	VerifyHold = "hold"
	VerifyWarn = "warn"
	VerifyOff  = "off"
)

// Backoff is a capped exponential backoff with jitter: the n-th consecutive failure waits
// min(Initial*2^n, Max), randomly moved by up to ±Jitter of itself.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Jitter  float64 // 0..1
}

func (b Backoff) delay(n int) time.Duration {
	d := b.Initial
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if b.Jitter > 0 {
		d = time.Duration(float64(d) * (1 + b.Jitter*(2*randFloat()-1)))
	}
	return max(d, time.Millisecond)
}

// withDefaults validates c and fills in defaults, returning the broker URLs in paho's form.
func (c Config) withDefaults() (Config, []*url.URL, error) {
	bad := func(format string, args ...any) (Config, []*url.URL, error) {
		return c, nil, fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if err := checkTopicLevel(c.DeviceID); err != nil {
		return bad("device id %q: %v", c.DeviceID, err)
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = DefaultTopicPrefix
	}
	for _, level := range strings.Split(c.TopicPrefix, "/") {
		if err := checkTopicLevel(level); err != nil {
			return bad("topic prefix %q: %v", c.TopicPrefix, err)
		}
	}
	if c.ClientID == "" {
		c.ClientID = "edge-agent-" + c.DeviceID
	}
	if len(c.ClientID) > 65535 || !utf8.ValidString(c.ClientID) {
		return bad("client id is not a short UTF-8 string")
	}
	if c.InFlight == 0 {
		c.InFlight = DefaultInFlight
	}
	if c.InFlight < 1 || c.InFlight > maxInFlight {
		return bad("in-flight window %d is not between 1 and %d", c.InFlight, maxInFlight)
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.KeepAlive < time.Second {
		return bad("keepalive %s is under 1s", c.KeepAlive)
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	switch c.Verify {
	case "":
		c.Verify = VerifyHold
	case VerifyHold, VerifyWarn, VerifyOff:
	default:
		return bad("verify %q is not %q, %q or %q", c.Verify, VerifyHold, VerifyWarn, VerifyOff)
	}
	if c.VerifyTimeout <= 0 {
		c.VerifyTimeout = DefaultVerifyTimeout
	}
	if c.Backoff.Initial <= 0 {
		c.Backoff.Initial = DefaultBackoffInitial
	}
	if c.Backoff.Max <= 0 {
		c.Backoff.Max = max(DefaultBackoffMax, c.Backoff.Initial)
	}
	if c.Backoff.Max < c.Backoff.Initial {
		return bad("backoff max %s is below initial %s", c.Backoff.Max, c.Backoff.Initial)
	}
	if c.Backoff.Jitter == 0 {
		c.Backoff.Jitter = DefaultBackoffJitter
	}
	if c.Backoff.Jitter < 0 || c.Backoff.Jitter > 1 {
		return bad("backoff jitter %g is not between 0 and 1", c.Backoff.Jitter)
	}

	if err := checkSubscriptions(c.Subscriptions); err != nil {
		return bad("%v", err)
	}

	list := c.Brokers
	switch {
	case len(list) == 0:
		list = []string{c.Broker}
	case c.Broker != "":
		return bad("both Broker %q and Brokers %q are set: set one", c.Broker, c.Brokers)
	}
	urls := make([]*url.URL, 0, len(list))
	seen := map[string]bool{}
	for _, b := range list {
		u, err := brokerURL(b)
		if err != nil {
			return bad("broker %q: %v", b, err)
		}
		if seen[u.String()] {
			return bad("broker %q is listed twice", b)
		}
		seen[u.String()] = true
		if len(urls) > 0 && isSecure(u) != isSecure(urls[0]) {
			return bad("brokers %q and %q mix TLS and plain schemes: a failover would drop encryption", list[0], b)
		}
		urls = append(urls, u)
	}
	if !isSecure(urls[0]) && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.InsecureSkipVerify) {
		return bad("TLS settings given but broker scheme %q is not TLS (use ssl://, mqtts:// or wss://)", urls[0].Scheme)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return bad("client certificate and key must be given together (cert %q, key %q)", c.CertFile, c.KeyFile)
	}
	return c, urls, nil
}

func isSecure(u *url.URL) bool { return u.Scheme == "ssl" || u.Scheme == "wss" }

// Validate checks c as New does, reading the TLS files, without connecting: what it accepts,
// New accepts.
func (c Config) Validate() error {
	c, urls, err := c.withDefaults()
	if err != nil {
		return err
	}
	_, err = c.tlsConfig(urls[0])
	return err
}

// BrokerURL parses a broker URL as Config.Broker accepts it and returns it as paho dials it:
// scheme tcp, ssl, ws or wss, with the default port filled in. Credentials in the URL are
// refused.
func BrokerURL(s string) (*url.URL, error) { return brokerURL(s) }

// brokerURL parses a broker URL and maps its scheme to the one paho dials.
func brokerURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	port := ""
	switch strings.ToLower(u.Scheme) {
	case "tcp", "mqtt":
		u.Scheme, port = "tcp", "1883"
	case "ssl", "tls", "mqtts":
		u.Scheme, port = "ssl", "8883"
	case "ws":
		u.Scheme, port = "ws", "80"
	case "wss":
		u.Scheme, port = "wss", "443"
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want tcp, mqtt, ssl, tls, mqtts, ws or wss)", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("no host")
	}
	if u.User != nil {
		return nil, fmt.Errorf("credentials in the URL: use the username and password settings")
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u, nil
}

func checkTopicLevel(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty")
	case len(s) > maxTopicLevel:
		return fmt.Errorf("longer than %d bytes", maxTopicLevel)
	case !utf8.ValidString(s):
		return fmt.Errorf("not UTF-8")
	case strings.ContainsAny(s, "/+#\x00"):
		return fmt.Errorf("contains one of / + # or NUL")
	case strings.HasPrefix(s, "$"):
		return fmt.Errorf("starts with $ (reserved by brokers)")
	}
	return nil
}

// tlsConfig builds the TLS configuration from the files, or returns nil for plain schemes. Its
// ServerName is u's host: each broker of a list gets its own copy (tls.Config.Clone).
func (c Config) tlsConfig(u *url.URL) (*tls.Config, error) {
	if !isSecure(u) {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         u.Hostname(),
		InsecureSkipVerify: c.InsecureSkipVerify, // #nosec G402 -- documented as test-only
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: CA file: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrConfig, c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate %s / key %s: %w", ErrConfig, c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
