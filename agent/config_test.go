package agent

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func loadYAML(t *testing.T, yml string, env ...string) (Config, error) {
	t.Helper()
	l := NewLoader()
	if err := l.LoadYAML("test.yaml", []byte(yml)); err != nil {
		return Config{}, err
	}
	if err := l.LoadEnv(env); err != nil {
		return Config{}, err
	}
	return l.Config()
}

func TestConfigDefaultsAreValid(t *testing.T) {
	c, err := loadYAML(t, "")
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if !c.MQTT.Embedded || c.MQTT.URL != "tcp://127.0.0.1:1883" {
		t.Errorf("embedded broker default: embedded=%v url=%q", c.MQTT.Embedded, c.MQTT.URL)
	}
	if c.Model.Name != "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29" {
		t.Errorf("model name default = %q", c.Model.Name)
	}
	// make run and a package install measure the two runtimes and keep the faster.
	if c.Model.Runtime != "auto" || c.Model.Library != "" {
		t.Errorf("model runtime default = %q, library %q; want auto and the default lookup", c.Model.Runtime, c.Model.Library)
	}
	if c.Store.Path != filepath.Join(c.StateDir, "edge-agent.db") {
		t.Errorf("store path = %q, state dir %q", c.Store.Path, c.StateDir)
	}
}

func TestConfigFileValues(t *testing.T) {
	c, err := loadYAML(t, `
device:
  id: pi-01
camera:
  source: /dev/video0
  max_fps: 5
  reconnect_max: 1m
store:
  max_bytes: 32MiB
  commit_delay: 5ms
mqtt:
  embedded: false
  url: ssl://broker.example:8883
  ca_file: /etc/ssl/ca.pem
`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Device.ID != "pi-01" || c.Camera.Source != "/dev/video0" || c.Camera.MaxFPS != 5 ||
		c.Camera.ReconnectMax != time.Minute || c.Store.MaxBytes != 32<<20 ||
		c.Store.CommitDelay != 5*time.Millisecond || c.MQTT.URL != "ssl://broker.example:8883" {
		t.Errorf("unexpected config: %+v", c)
	}
	if c.MQTT.ClientID != "edge-agent-pi-01" {
		t.Errorf("client id = %q", c.MQTT.ClientID)
	}
	// Keys the file does not set keep their defaults.
	if c.Model.TopK != 3 || !c.Camera.Loop {
		t.Errorf("defaults lost: top_k=%d loop=%v", c.Model.TopK, c.Camera.Loop)
	}
}

func TestConfigErrorsNameKeyAndLine(t *testing.T) {
	cases := []struct {
		name, yml string
		want      []string
	}{
		{"unknown key", "camera:\n  sorce: x\n", []string{"test.yaml:2", "camera.sorce", "unknown key"}},
		{"unknown section", "\n\ncamra:\n  source: x\n", []string{"test.yaml:3", "camra"}},
		{"bad type", "camera:\n  max_fps: fast\n", []string{"test.yaml:2", "camera.max_fps"}},
		{"bad duration", "store:\n  commit_delay: soon\n", []string{"test.yaml:2", "store.commit_delay"}},
		{"duration without unit", "store:\n  commit_delay: 10\n", []string{"test.yaml:2", "store.commit_delay", "unit"}},
		{"bad size", "store:\n  max_bytes: lots\n", []string{"test.yaml:2", "store.max_bytes", "invalid size"}},
		{"negative fps", "camera:\n  max_fps: -1\n", []string{"test.yaml:2", "camera.max_fps", ">= 0"}},
		{"bad task", "model:\n  path: m.tflite\n  task: dance\n", []string{"test.yaml:3", "model.task"}},
		{"bad scheme", "mqtt:\n  embedded: false\n  url: http://x\n", []string{"test.yaml:3", "mqtt.url", "scheme"}},
		{"missing url", "mqtt:\n  embedded: false\n", []string{"mqtt.url", "must be set"}},
		{"bad device id", "device:\n  id: a/b\n", []string{"test.yaml:2", "device.id"}},
		{"not a mapping", "camera: 5\n", []string{"test.yaml:1", "camera", "mapping"}},
		{"list for scalar", "camera:\n  source: [a, b]\n", []string{"test.yaml:2", "camera.source"}},
		{"syntax", "camera:\n  source: \"x\n", []string{"test.yaml"}},
		{"cert without key", "mqtt:\n  cert_file: c.pem\n", []string{"test.yaml:2", "mqtt.cert_file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yml)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *ConfigError", err)
			}
		})
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := loadYAML(t, "camera:\n  max_fps: -2\nmodel:\n  top_k: 0\n")
	if err == nil || !strings.Contains(err.Error(), "camera.max_fps") || !strings.Contains(err.Error(), "model.top_k") {
		t.Fatalf("want both problems, got %v", err)
	}
}

func TestConfigEnvOverrides(t *testing.T) {
	c, err := loadYAML(t, "mqtt:\n  url: tcp://file:1883\n",
		"EDGE_AGENT_MQTT_URL=tcp://env:1883", "EDGE_AGENT_MQTT_EMBEDDED=false",
		"EDGE_AGENT_STORE_MAX_BYTES=1MiB", "EDGE_AGENT_CAMERA_RECONNECT_MAX=45s", "PATH=/bin")
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.URL != "tcp://env:1883" || c.MQTT.Embedded || c.Store.MaxBytes != 1<<20 || c.Camera.ReconnectMax != 45*time.Second {
		t.Errorf("env not applied: %+v", c)
	}

	// The official runtime's own variables are not configuration (test-arm sets the first).
	c, err = loadYAML(t, "", "EDGE_AGENT_TFLITE_VET=off", "EDGE_AGENT_TFLITE_LIBRARY=/x/libtensorflowlite_c.so", "EDGE_AGENT_MODEL_RUNTIME=tflite")
	if err != nil || c.Model.Runtime != "tflite" {
		t.Errorf("EDGE_AGENT_TFLITE_*: %v, runtime %q", err, c.Model.Runtime)
	}
	_, err = loadYAML(t, "", "EDGE_AGENT_MQTT_URLL=x")
	if err == nil || !strings.Contains(err.Error(), "EDGE_AGENT_MQTT_URLL") {
		t.Errorf("unknown env var: %v", err)
	}
	_, err = loadYAML(t, "", "EDGE_AGENT_CAMERA_MAX_FPS=-3")
	if err == nil || !strings.Contains(err.Error(), "$EDGE_AGENT_CAMERA_MAX_FPS") {
		t.Errorf("invalid env value should name the variable: %v", err)
	}
	_, err = loadYAML(t, "", "EDGE_AGENT_CAMERA_LOOP=maybe")
	if err == nil || !strings.Contains(err.Error(), "invalid boolean") {
		t.Errorf("bad bool: %v", err)
	}
}

func TestConfigFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "edge-agent.yaml")
	if err := os.WriteFile(p, []byte("log:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := NewLoader()
	if err := l.LoadFile(p); err != nil {
		t.Fatal(err)
	}
	_, err := l.Config()
	if err == nil || !strings.Contains(err.Error(), p+":2") || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("want error at %s:2 naming log.level, got %v", p, err)
	}
	if err := NewLoader().LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1000": 1000, "64KiB": 64 << 10, "64k": 64000, "256MiB": 256 << 20, "1GB": 1e9, "2 MiB": 2 << 20} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5MiB", "12XB", "99999999999999999999"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q): no error", in)
		}
	}
}

func TestKeysCoverEveryField(t *testing.T) {
	keys := Keys()
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("duplicate key %s", k)
		}
		seen[k] = true
		l := NewLoader()
		if _, err := fieldByKey(reflectValue(&l.cfg), k); err != nil {
			t.Errorf("key %s: %v", k, err)
		}
	}
	for _, k := range []string{"mqtt.url", "camera.source", "store.max_bytes", "state_dir"} {
		if !seen[k] {
			t.Errorf("missing key %s", k)
		}
	}
}

func reflectValue(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }

// TestShippedConfig checks the documented config the Debian package installs: it is valid, and
// it documents every key.
func TestShippedConfig(t *testing.T) {
	const path = "../deploy-arm/edge-agent.yaml"
	l := NewLoader()
	if err := l.LoadFile(path); err != nil {
		t.Fatal(err)
	}
	c, err := l.Config()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if c.Model.Runtime != "auto" || c.Model.Library != "" {
		t.Errorf("%s: model.runtime %q, model.library %q; the packages run auto on the library they install", path, c.Model.Runtime, c.Model.Library)
	}
	for _, k := range Keys() {
		if _, ok := l.origin[k]; !ok {
			t.Errorf("%s does not document key %s", path, k)
		}
	}
}

// TestBrokerURLTurnsEmbeddedOff: a broker URL set in the file, the environment or a flag is the
// broker used; with an explicit embedded: true as well it is an error, not a guess.
func TestBrokerURLTurnsEmbeddedOff(t *testing.T) {
	const url = "tcp://broker:1883"
	for name, set := range map[string]func(l *Loader) error{
		"file": func(l *Loader) error { return l.LoadYAML("edge.yaml", []byte("mqtt:\n  url: "+url+"\n")) },
		"env":  func(l *Loader) error { return l.LoadEnv([]string{"EDGE_AGENT_MQTT_URL=" + url}) },
		"flag": func(l *Loader) error { return l.Set("mqtt.url", url, "flag --mqtt-url") },
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
			if c.MQTT.Embedded || c.MQTT.URL != url {
				t.Fatalf("embedded=%v url=%q; want the configured broker", c.MQTT.Embedded, c.MQTT.URL)
			}
			// Saying embedded: true as well contradicts it.
			if err := l.LoadYAML("more.yaml", []byte("mqtt:\n  embedded: true\n")); err != nil {
				t.Fatal(err)
			}
			_, err = l.Config()
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != "mqtt.embedded" || ce.Where != "more.yaml:2" || !strings.Contains(err.Error(), "mqtt.url is set too") {
				t.Fatalf("embedded: true with a URL: %v", err)
			}
		})
	}
	// embedded: false alone needs a URL.
	if _, err := loadYAML(t, "mqtt:\n  embedded: false\n"); err == nil || !strings.Contains(err.Error(), "mqtt.url") {
		t.Fatalf("embedded off without a URL: %v", err)
	}
}

// TestConfigLists: device.groups and ota.trusted_keys are YAML lists, comma-separated in the
// environment and flags; other shapes are errors naming the key and line.
func TestConfigLists(t *testing.T) {
	l := NewLoader()
	if err := l.LoadYAML("edge.yaml", []byte("device:\n  groups: [lobby, floor-2]\nota:\n  trusted_keys:\n    - ed25519:AAAA\n    - /etc/edge-agent/ops.pub\n")); err != nil {
		t.Fatal(err)
	}
	c, err := l.Config()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Device.Groups, []string{"lobby", "floor-2"}) || !slices.Equal(c.OTA.TrustedKeys, []string{"ed25519:AAAA", "/etc/edge-agent/ops.pub"}) {
		t.Fatalf("groups %q, keys %q", c.Device.Groups, c.OTA.TrustedKeys)
	}
	l = NewLoader()
	if err := l.LoadEnv([]string{"EDGE_AGENT_DEVICE_GROUPS=lobby, garage,"}); err != nil {
		t.Fatal(err)
	}
	if c, err := l.Config(); err != nil || !slices.Equal(c.Device.Groups, []string{"lobby", "garage"}) {
		t.Fatalf("groups from the environment: %q, %v", c.Device.Groups, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"device:\n  groups: lobby\n", "edge.yaml:2: device.groups: want a list"},
		{"device:\n  groups:\n    - [a, b]\n", "edge.yaml:3: device.groups: each item must be a single value"},
		{"device:\n  groups: [lobby, lobby]\n", "device.groups: \"lobby\" is not a usable group name"},
		{"device:\n  groups: [\"a/b\"]\n", "device.groups: \"a/b\""},
		{"ota:\n  health_frames: 0\n", "ota.health_frames: must be at least 1"},
	} {
		l := NewLoader()
		err := l.LoadYAML("edge.yaml", []byte(tc.yaml))
		if err == nil {
			_, err = l.Config()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	// A key that is not a key is a configuration error at the check.
	cfg := DefaultConfig()
	cfg.OTA.TrustedKeys = []string{"ed25519:not-base64"}
	if _, err := otaKeys(cfg); err == nil || !strings.Contains(err.Error(), "ota.trusted_keys") {
		t.Fatalf("bad key: %v", err)
	}
}
