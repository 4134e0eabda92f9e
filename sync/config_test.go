package sync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

func TestConfigValidation(t *testing.T) {
	pki := mqtttest.NewPKI(t, "dev1")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	ok := Config{Broker: "tcp://127.0.0.1:1883", DeviceID: "dev1"}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"mqtts with CA and client cert", func(c *Config) {
			c.Broker, c.CAFile, c.CertFile, c.KeyFile = "mqtts://localhost", pki.CAFile, pki.ClientCertFile, pki.ClientKeyFile
		}, ""},
		{"wss", func(c *Config) { c.Broker = "wss://localhost/mqtt" }, ""},
		{"bad scheme", func(c *Config) { c.Broker = "http://localhost:1883" }, `unsupported scheme "http"`},
		{"no scheme", func(c *Config) { c.Broker = "localhost:1883" }, "unsupported scheme"},
		{"empty broker", func(c *Config) { c.Broker = "" }, "empty"},
		{"no host", func(c *Config) { c.Broker = "tcp://:1883" }, "no host"},
		{"credentials in URL", func(c *Config) { c.Broker = "tcp://u:p@localhost" }, "credentials in the URL"},
		{"no device", func(c *Config) { c.DeviceID = "" }, "device id"},
		{"device with slash", func(c *Config) { c.DeviceID = "a/b" }, "device id"},
		{"device with wildcard", func(c *Config) { c.DeviceID = "a+" }, "device id"},
		{"prefix with wildcard", func(c *Config) { c.TopicPrefix = "edge/#" }, "topic prefix"},
		{"prefix with empty level", func(c *Config) { c.TopicPrefix = "edge//x" }, "topic prefix"},
		{"missing CA file", func(c *Config) { c.Broker, c.CAFile = "ssl://localhost", missing }, "CA file"},
		{"CA file without certificates", func(c *Config) { c.Broker, c.CAFile = "ssl://localhost", garbage }, "holds no PEM certificate"},
		{"cert without key", func(c *Config) { c.Broker, c.CertFile = "ssl://localhost", pki.ClientCertFile }, "together"},
		{"missing client key", func(c *Config) {
			c.Broker, c.CertFile, c.KeyFile = "ssl://localhost", pki.ClientCertFile, missing
		}, "client certificate"},
		{"TLS files on plain scheme", func(c *Config) { c.CAFile = pki.CAFile }, "not TLS"},
		{"negative in-flight", func(c *Config) { c.InFlight = -1 }, "in-flight"},
		{"keepalive too short", func(c *Config) { c.KeepAlive = time.Millisecond }, "keepalive"},
		{"verify mode", func(c *Config) { c.Verify = "maybe" }, "verify"},
		{"jitter", func(c *Config) { c.Backoff.Jitter = 2 }, "jitter"},
		{"backoff max under initial", func(c *Config) { c.Backoff = Backoff{Initial: time.Minute, Max: time.Second} }, "backoff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			c, err := New(cfg, newMemOutbox(), nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.cfg.ClientID != "edge-agent-dev1" || c.cfg.TopicPrefix != "edge" || c.cfg.InFlight != DefaultInFlight {
					t.Fatalf("defaults not applied: %+v", c.cfg)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted the config; want an error containing %q", tt.want)
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want ErrConfig containing %q", err, tt.want)
			}
		})
	}
}

func TestBrokerURLDefaults(t *testing.T) {
	for in, want := range map[string]string{
		"mqtt://h":          "tcp://h:1883",
		"tcp://h:1884":      "tcp://h:1884",
		"mqtts://h":         "ssl://h:8883",
		"tls://h":           "ssl://h:8883",
		"ssl://[::1]":       "ssl://[::1]:8883",
		"ws://h/mqtt":       "ws://h:80/mqtt",
		"wss://h:9001/mqtt": "wss://h:9001/mqtt",
	} {
		u, err := brokerURL(in)
		if err != nil || u.String() != want {
			t.Errorf("brokerURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}
	for n, base := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		base *= time.Millisecond
		for range 50 {
			d := b.delay(n)
			if d < base*8/10 || d > base*12/10 {
				t.Fatalf("delay(%d) = %s, want %s ±20%%", n, d, base)
			}
		}
	}
	if d := (Backoff{Initial: time.Second, Max: time.Minute}).delay(1000); d != time.Minute {
		t.Fatalf("delay after many failures = %s, want the cap", d)
	}
}

func TestTopics(t *testing.T) {
	got := TopicsFor("edge", "cam-7")
	want := Topics{Status: "edge/cam-7/status", Predictions: "edge/cam-7/predictions", Events: "edge/cam-7/events", Commands: "edge/cam-7/cmd/+", Snapshot: "edge/cam-7/snapshot"}
	if got != want {
		t.Fatalf("TopicsFor = %+v, want %+v", got, want)
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(time.Hour)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("first event not allowed")
	}
	for range 5 {
		if ok, _ := l.allow("a"); ok {
			t.Fatal("repeat within the interval allowed")
		}
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("other key limited")
	}
	l.last["a"] = time.Now().Add(-2 * time.Hour)
	if ok, n := l.allow("a"); !ok || n != 5 {
		t.Fatalf("after the interval: allowed %v, suppressed %d; want true, 5", ok, n)
	}
}
