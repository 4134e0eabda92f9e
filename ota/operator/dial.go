// Package operator is the operator's side of OTA, used by `edge-agent model push|serve|status|
// rollback`: it publishes signed manifests, serves chunks and follows the devices' model status
// topics over a plain MQTT connection (operators have no outbox).
package operator

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	gosync "sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/edge-agent/edge-agent/sync"
)

// Broker is how to reach and authenticate to the broker.
type Broker struct {
	// URL is tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss://.
	URL      string
	Username string
	Password string
	// CAFile verifies the broker's certificate (default: the system roots); CertFile and
	// KeyFile are a client certificate for mutual TLS.
	CAFile, CertFile, KeyFile string
	// InsecureSkipVerify turns off certificate verification (tests only).
	InsecureSkipVerify bool
	// ClientID defaults to "edge-agent-op-<random>"; two connections with one id kick each
	// other off.
	ClientID string
	// AckTimeout bounds the wait for the broker's acknowledgement of one publish; default 30s.
	AckTimeout time.Duration
}

// Dial connects with a clean session and paho's reconnection (an operator tool rides out a
// broker restart). Subscriptions made with Subscribe are made again after a reconnect.
func Dial(ctx context.Context, b Broker) (*Conn, error) {
	u, err := sync.BrokerURL(b.URL)
	if err != nil {
		return nil, fmt.Errorf("broker %q: %w", b.URL, err)
	}
	id := b.ClientID
	if id == "" {
		r := make([]byte, 6)
		_, _ = rand.Read(r)
		id = "edge-agent-op-" + hex.EncodeToString(r)
	}
	c := &Conn{ackTimeout: b.AckTimeout}
	if c.ackTimeout <= 0 {
		c.ackTimeout = defaultAckTimeout
	}
	o := mqtt.NewClientOptions().AddBroker(u.String()).SetClientID(id).
		SetUsername(b.Username).SetPassword(b.Password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(false).
		SetMaxReconnectInterval(5 * time.Second).SetConnectTimeout(10 * time.Second).
		// In order: a device's statuses must be seen in the order it sent them. Handlers only queue.
		SetKeepAlive(30 * time.Second).SetOrderMatters(true).
		SetOnConnectHandler(c.resubscribe)
	if u.Scheme == "ssl" || u.Scheme == "wss" {
		tc, err := tlsConfig(b, u.Hostname())
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	} else if b.CAFile != "" || b.CertFile != "" || b.InsecureSkipVerify {
		return nil, fmt.Errorf("TLS settings given for a plain %s:// broker (use ssl:// or wss://)", u.Scheme)
	}
	c.c = mqtt.NewClient(o)
	if err := wait(ctx, c.c.Connect()); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(u), err)
	}
	return c, nil
}

// Conn is a connection to the broker.
type Conn struct {
	c          mqtt.Client
	ackTimeout time.Duration
	mu         gosync.Mutex
	subs       []sub // made again on every reconnect
}

type sub struct {
	filter string
	h      mqtt.MessageHandler
}

func (c *Conn) resubscribe(cl mqtt.Client) {
	c.mu.Lock()
	subs := append([]sub(nil), c.subs...)
	c.mu.Unlock()
	for _, s := range subs {
		cl.Subscribe(s.filter, 1, s.h) // paho reports failures on the token; the next reconnect tries again
	}
}

// Subscribe subscribes at QoS 1 and waits for the SUBACK; a refused subscription is an error.
func (c *Conn) Subscribe(ctx context.Context, filter string, h func(topic string, payload []byte, retained bool)) error {
	ph := func(_ mqtt.Client, m mqtt.Message) { h(m.Topic(), m.Payload(), m.Retained()) }
	tok := c.c.Subscribe(filter, 1, ph)
	if err := wait(ctx, tok); err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if code, ok := tok.(*mqtt.SubscribeToken).Result()[filter]; ok && code >= 0x80 {
		return fmt.Errorf("subscribe %s: refused by the broker (not allowed by its ACL?)", filter)
	}
	c.mu.Lock()
	c.subs = append(c.subs, sub{filter, ph})
	c.mu.Unlock()
	return nil
}

// Publish publishes at QoS 1 and waits for the PUBACK.
func (c *Conn) Publish(ctx context.Context, topic string, retained bool, payload []byte) error {
	if err := c.ack(ctx, c.c.Publish(topic, 1, retained, payload)); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// Close disconnects.
func (c *Conn) Close() { c.c.Disconnect(250) }

// defaultAckTimeout bounds the wait for one acknowledgement. paho does not complete the token of
// a QoS 1 publish that was in flight when the connection dropped (the clean session forgets it),
// so an unbounded wait would hang a chunk server or a push for good after a broker failover.
const defaultAckTimeout = 30 * time.Second

func wait(ctx context.Context, tok mqtt.Token) error { return waitFor(ctx, tok, defaultAckTimeout) }

// ack waits for a publish's acknowledgement within the connection's bound.
func (c *Conn) ack(ctx context.Context, tok mqtt.Token) error { return waitFor(ctx, tok, c.ackTimeout) }

func waitFor(ctx context.Context, tok mqtt.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no acknowledgement within %s (the connection was lost meanwhile?)", timeout)
	}
}

func tlsConfig(b Broker, host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: b.InsecureSkipVerify} // #nosec G402 -- documented as test-only
	if b.CAFile != "" {
		pem, err := os.ReadFile(b.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", b.CAFile)
		}
		tc.RootCAs = pool
	}
	if (b.CertFile == "") != (b.KeyFile == "") {
		return nil, errors.New("a client certificate and its key go together")
	}
	if b.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(b.CertFile, b.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func redact(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }
