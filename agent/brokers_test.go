package agent

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestBrokerList: mqtt.urls from the file (a YAML list), the environment (comma-separated) and
// a setter alike reaches the client's configuration in order, and turns the embedded broker off.
func TestBrokerList(t *testing.T) {
	want := []string{"tcp://n1:1883", "tcp://n2:1883", "tcp://n3:1883"}
	for name, set := range map[string]func(l *Loader) error{
		"file": func(l *Loader) error {
			return l.LoadYAML("edge.yaml", []byte("mqtt:\n  urls:\n    - tcp://n1:1883\n    - tcp://n2:1883\n    - tcp://n3:1883\n"))
		},
		"file flow": func(l *Loader) error {
			return l.LoadYAML("edge.yaml", []byte("mqtt:\n  urls: [tcp://n1:1883, tcp://n2:1883, tcp://n3:1883]\n"))
		},
		"env": func(l *Loader) error {
			return l.LoadEnv([]string{"EDGE_AGENT_MQTT_URLS=tcp://n1:1883, tcp://n2:1883,,tcp://n3:1883"})
		},
		"set": func(l *Loader) error { return l.Set("mqtt.urls", strings.Join(want, ","), "flag --x") },
	} {
		t.Run(name, func(t *testing.T) {
			l := NewLoader()
			if err := set(l); err != nil {
				t.Fatal(err)
			}
			c, err := l.Config()
			if err != nil {
				t.Fatal(err)
			}
			if c.MQTT.Embedded || !slices.Equal(c.MQTT.Brokers(), want) {
				t.Fatalf("embedded=%v brokers=%q; want %q", c.MQTT.Embedded, c.MQTT.Brokers(), want)
			}
			sc, err := mqttConfig(c)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sc.Brokers, want) || sc.Broker != "" {
				t.Fatalf("client config brokers %q broker %q", sc.Brokers, sc.Broker)
			}
		})
	}
	// One URL is a one-entry list for the client.
	c, err := loadYAML(t, "mqtt:\n  url: tcp://solo:1883\n")
	if err != nil {
		t.Fatal(err)
	}
	if sc, err := mqttConfig(c); err != nil || !slices.Equal(sc.Brokers, []string{"tcp://solo:1883"}) {
		t.Fatalf("single url: %q, %v", sc.Brokers, err)
	}
}

// TestBrokerListErrors: each mistake is a ConfigError on the right key, pointing at its line.
func TestBrokerListErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yml string
		env       []string
		key, want string
	}{
		{"url and urls", "mqtt:\n  url: tcp://a:1883\n  urls: [tcp://b:1883, tcp://c:1883]\n", nil, "mqtt.urls", "mqtt.url (test.yaml:2) are both set"},
		{"url in file, urls from env", "mqtt:\n  url: tcp://a:1883\n", []string{"EDGE_AGENT_MQTT_URLS=tcp://b:1883"}, "mqtt.urls", "both set"},
		{"not a list", "mqtt:\n  urls: tcp://a:1883\n", nil, "mqtt.urls", "want a list"},
		{"list of lists", "mqtt:\n  urls: [[tcp://a:1883]]\n", nil, "mqtt.urls", "single value"},
		{"bad scheme", "mqtt:\n  urls: [tcp://a:1883, http://b]\n", nil, "mqtt.urls", `unsupported scheme "http"`},
		{"twice", "mqtt:\n  urls: [tcp://a:1883, tcp://a:1883]\n", nil, "mqtt.urls", "listed twice"},
		{"empty list", "mqtt:\n  embedded: false\n  urls: []\n", nil, "mqtt.urls", "must be set"},
		{"embedded and urls", "mqtt:\n  embedded: true\n  urls: [tcp://a:1883]\n", nil, "mqtt.embedded", "mqtt.urls is set too"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, tt.yml, tt.env...)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.key || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want a ConfigError on %s containing %q", err, tt.key, tt.want)
			}
			if ce.Where == "" {
				t.Fatalf("error %v does not say where the key was set", err)
			}
		})
	}
	// The same broker in both is not a contradiction.
	if _, err := loadYAML(t, "mqtt:\n  url: tcp://a:1883\n  urls: [tcp://a:1883]\n"); err != nil {
		t.Fatalf("url equal to urls: %v", err)
	}
	// What the client refuses (TLS on some brokers only) names mqtt.urls too.
	c, err := loadYAML(t, "mqtt:\n  urls: [ssl://a:8883, tcp://b:1883]\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = mqttConfig(c)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "mqtt.urls" || !strings.Contains(err.Error(), "mix TLS and plain") {
		t.Fatalf("mixed TLS: %v", err)
	}
}
