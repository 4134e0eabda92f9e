package agent

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edge-agent/edge-agent/camera/motion"
	"github.com/edge-agent/edge-agent/sync"
	"github.com/edge-agent/edge-agent/tflite/backend"
)

// Config is the agent's configuration. Every field has a default (DefaultConfig); the defaults run
// the bundled sample clip through the bundled SSD model and publish to an embedded MQTT broker, so
// that `edge-agent run` works from a checkout with no hardware and no outside broker. The
// documented example with every key is deploy-arm/edge-agent.yaml.
type Config struct {
	Device   DeviceConfig   `yaml:"device"`
	Camera   CameraConfig   `yaml:"camera"`
	Motion   MotionConfig   `yaml:"motion"`
	Model    ModelConfig    `yaml:"model"`
	Snapshot SnapshotConfig `yaml:"snapshot"`
	Store    StoreConfig    `yaml:"store"`
	MQTT     MQTTConfig     `yaml:"mqtt"`
	OTA      OTAConfig      `yaml:"ota"`
	Log      LogConfig      `yaml:"log"`
	HTTP     HTTPConfig     `yaml:"http"`
	HA       HAConfig       `yaml:"ha"`
	// StateDir holds the store when Store.Path is empty, and the OTA state and model store
	// (ota.db, models/). Default: $STATE_DIRECTORY (set by systemd's StateDirectory=), else
	// $XDG_STATE_HOME/edge-agent, else ~/.local/state/edge-agent.
	StateDir string `yaml:"state_dir"`

	// origin says where each key was set (file:line, $VAR, flag), for errors found after loading.
	origin map[string]string
}

// where returns where key was set, or "" for a default.
func (c Config) where(key string) string { return c.origin[key] }

// errorAt returns a ConfigError for key, pointing where it was set.
func (c Config) errorAt(key string, err error) *ConfigError {
	return &ConfigError{Key: key, Where: c.where(key), Err: err}
}

// DeviceConfig identifies the device.
type DeviceConfig struct {
	// ID names the device in topics and records. Default: the host name.
	ID string `yaml:"id"`
	// Groups are the fleet groups the device belongs to: it takes model updates pushed to any of
	// them (edge-agent model push --group). In the environment and flags: comma-separated.
	Groups []string `yaml:"groups"`
}

// CameraConfig selects and paces the frame source.
type CameraConfig struct {
	// Source is a V4L2 device (/dev/video0 or an index), a video file, an rtsp:// or http(s)://
	// stream, or a GStreamer pipeline ending in appsink.
	Source string `yaml:"source"`
	// MaxFPS caps the processing rate; 0 processes frames as fast as they come.
	MaxFPS float64 `yaml:"max_fps"`
	// Loop restarts a video file at its end; otherwise the agent stops when the file ends.
	Loop bool `yaml:"loop"`
	// ReconnectInitial and ReconnectMax bound the exponential backoff between reconnect attempts.
	ReconnectInitial time.Duration `yaml:"reconnect_initial"`
	ReconnectMax     time.Duration `yaml:"reconnect_max"`
	// FrozenAfter: a camera whose picture stays the same this long is reported frozen (a camera
	// state and event; see the watchdog rule in docs/architecture.md). 0 turns the check off.
	FrozenAfter time.Duration `yaml:"frozen_after"`
	// BlankAfter: a camera that delivers blank frames (black, white, one colour) this long is
	// reported blank. 0 turns the check off.
	BlankAfter time.Duration `yaml:"blank_after"`
}

// MotionConfig gates inference on motion: a cheap pass over each frame decides whether the model
// runs (see package camera/motion).
type MotionConfig struct {
	// Enabled infers only frames with motion, a scene change, the PostFrames after motion and a
	// Heartbeat; other frames are counted and not stored. Default on; `run --once` turns it off
	// unless it is set explicitly.
	Enabled bool `yaml:"enabled"`
	// Heartbeat: infer at least this often even when nothing moves (100ms-24h).
	Heartbeat time.Duration `yaml:"heartbeat"`
	// PostFrames: frames still inferred after motion stops, so that an object that stops moving
	// is recorded where it stopped (0: none).
	PostFrames int `yaml:"post_frames"`
	// Threshold is how many gray levels a pixel must differ from the background to count as
	// changed (1-254).
	Threshold int `yaml:"threshold"`
	// MinArea is the fraction of the frame (outside the mask) that must change to be motion.
	MinArea float64 `yaml:"min_area"`
	// ResetArea is the fraction changing at once that is taken for a scene change (lights,
	// camera moved): inferred once, then the background starts over.
	ResetArea float64 `yaml:"reset_area"`
	// Background is the time constant of the running-average background.
	Background time.Duration `yaml:"background"`
	// Mask lists areas to ignore, in coordinates relative to the frame (0-1):
	// "x1,y1,x2,y2,x3,y3,...; ..." (one polygon per ";").
	Mask string `yaml:"mask"`
	// Width is the width in pixels of the small image compared (16-1024).
	Width int `yaml:"width"`
}

// ModelConfig selects the model and how its outputs become results.
type ModelConfig struct {
	// Path is the .tflite file.
	Path string `yaml:"path"`
	// Labels is a label file (one per line, line index = class); empty uses the labels embedded
	// in the model's metadata, if any.
	Labels string `yaml:"labels"`
	// Name and Version identify the model in records; Name defaults to the file name.
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	// Threads is the number of inference threads; 0 means one per CPU.
	Threads int `yaml:"threads"`
	// Runtime runs the model: go (the pure-Go interpreter), tflite (the official TensorFlow Lite
	// C library) or auto (the faster of the two on this model, measured when it loads; go where
	// the library is absent). See package tflite/backend.
	Runtime string `yaml:"runtime"`
	// Library is the libtensorflowlite_c file for tflite and auto; empty searches
	// /usr/lib/edge-agent/ (the Debian package's), then the copy `make` provisions, then the
	// system's loader paths.
	Library string `yaml:"library"`
	// Task is auto, classify, detect, pose (single-person keypoints, MoveNet), segment (a class
	// per pixel, DeepLab) or raw (the dequantised outputs themselves, size-bounded); auto decides
	// from the model's outputs.
	Task string `yaml:"task"`
	// TopK is the number of classes a classification record carries.
	TopK int `yaml:"top_k"`
	// ScoreThreshold drops classes and detections scoring below it.
	ScoreThreshold float64 `yaml:"score_threshold"`
	// Fit is how a frame is fitted to the model input: stretch, center_crop or letterbox.
	Fit string `yaml:"fit"`
	// Mean and Std normalise float inputs: (pixel - mean) / std.
	Mean float64 `yaml:"mean"`
	Std  float64 `yaml:"std"`
}

// SnapshotConfig controls the JPEG snapshot attached to records when a detection fires.
type SnapshotConfig struct {
	Enabled bool `yaml:"enabled"`
	// MaxBytes caps the encoded JPEG; quality is lowered until it fits.
	MaxBytes ByteSize `yaml:"max_bytes"`
	Quality  int      `yaml:"quality"`
}

// StoreConfig bounds the durable outbox.
type StoreConfig struct {
	// Path is the bbolt file; default <state_dir>/edge-agent.db.
	Path string `yaml:"path"`
	// MaxBytes and MaxRecords bound the outbox; when full the oldest records are dropped and counted.
	MaxBytes   ByteSize `yaml:"max_bytes"`
	MaxRecords int      `yaml:"max_records"`
	// MaxAge drops records older than this; 0 keeps them until the bounds above.
	MaxAge time.Duration `yaml:"max_age"`
	// CommitDelay is the longest a record waits for its group commit.
	CommitDelay time.Duration `yaml:"commit_delay"`
}

// MQTTConfig is the connection to the broker.
type MQTTConfig struct {
	// Enabled turns syncing on; when off, records stay in the outbox.
	Enabled bool `yaml:"enabled"`
	// Embedded starts an MQTT broker inside the agent on EmbeddedListen and publishes to it (the
	// `make run` default). Setting URL or URLs anywhere (file, environment, flag) turns it off:
	// the broker named is the broker used. Setting both explicitly is an error.
	Embedded       bool   `yaml:"embedded"`
	EmbeddedListen string `yaml:"embedded_listen"`
	// URL is the broker: tcp://, ssl://, ws:// or wss://.
	URL string `yaml:"url"`
	// URLs lists several brokers (the nodes of a cluster) in order of preference, for failover;
	// the environment gives it comma-separated. Set URL or URLs: both is an error unless URLs
	// is just URL.
	URLs     []string `yaml:"urls"`
	ClientID string   `yaml:"client_id"`
	Username string   `yaml:"username"`
	// Password, or PasswordFile to keep it out of the config file.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// CAFile verifies the broker; CertFile and KeyFile authenticate the agent (mTLS).
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// TopicPrefix starts every topic: <prefix>/<device>/...
	TopicPrefix string        `yaml:"topic_prefix"`
	KeepAlive   time.Duration `yaml:"keepalive"`
	// InFlight is the number of unacknowledged QoS 1 publishes allowed at once.
	InFlight int `yaml:"inflight"`
	// StatusInterval is how often the retained status is refreshed.
	StatusInterval time.Duration `yaml:"status_interval"`
	// ConnectTimeout bounds one connection attempt; ReconnectInitial and ReconnectMax bound the
	// backoff (with jitter) between attempts.
	ConnectTimeout   time.Duration `yaml:"connect_timeout"`
	ReconnectInitial time.Duration `yaml:"reconnect_initial"`
	ReconnectMax     time.Duration `yaml:"reconnect_max"`
	// Verify checks on every connection that the broker delivers this device's predictions
	// (a broker ACL that denies the topic still acknowledges publishes): hold keeps records until
	// the check passes, warn reports and publishes anyway, off skips it. hold and warn need the
	// device to be allowed to subscribe to its own predictions topic.
	Verify string `yaml:"verify"`
}

// HTTPConfig is the local HTTP server: the status page, the REST predict endpoint, the metrics
// and the health probes (see httpapi).
type HTTPConfig struct {
	Enabled bool `yaml:"enabled"`
	// Listen is host:port. The default serves this machine only; 0.0.0.0:8080 serves every
	// interface (set TokenFile then).
	Listen string `yaml:"listen"`
	// TokenFile holds the token every request but /healthz must carry (Authorization: Bearer,
	// or the page's sign-in); empty: no token.
	TokenFile string `yaml:"token_file"`
	// PredictMaxBytes caps an image posted to /v1/predict; PredictConcurrency is how many
	// predictions run at once (they share the model's own interpreter).
	PredictMaxBytes    ByteSize `yaml:"predict_max_bytes"`
	PredictConcurrency int      `yaml:"predict_concurrency"`
}

// HAConfig is Home Assistant's MQTT discovery (see hass).
type HAConfig struct {
	// Discovery announces the device to Home Assistant; turning it off removes the device.
	Discovery bool `yaml:"discovery"`
	// Prefix is Home Assistant's discovery prefix.
	Prefix string `yaml:"prefix"`
	// Labels is a comma-separated list of model labels that get a count sensor each.
	Labels string `yaml:"labels"`
	// Name is the device's name in Home Assistant; empty: the device id.
	Name string `yaml:"name"`
}

// LabelList returns the labels of HAConfig.Labels, trimmed, without empty ones.
func (c HAConfig) LabelList() []string {
	var out []string
	for _, l := range strings.Split(c.Labels, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// OTAConfig controls model updates over MQTT (see package ota).
type OTAConfig struct {
	// TrustedKeys are the public keys an update must be signed with: signing.pub files from
	// `edge-agent keygen`, or inline "ed25519:<base64>". Several allow a key rotation. Empty: OTA
	// is off (the status says so).
	TrustedKeys []string `yaml:"trusted_keys"`
	// MaxModelBytes refuses larger models.
	MaxModelBytes ByteSize `yaml:"max_model_bytes"`
	// ReserveBytes is the free space an update must leave on the state directory's file system,
	// for the outbox.
	ReserveBytes ByteSize `yaml:"reserve_bytes"`
	// HealthFrames and HealthTimeout are the health window: a new model must infer this many
	// frames without an error within this time to be committed, else the previous model comes
	// back. An update may ask for other values.
	HealthFrames  int           `yaml:"health_frames"`
	HealthTimeout time.Duration `yaml:"health_timeout"`
	// HealthMaxRestarts is how many agent restarts a health window survives (a model that
	// crashes the agent is rolled back after one more).
	HealthMaxRestarts int `yaml:"health_max_restarts"`
	// ShadowEvery runs a shadow candidate on at most one frame in this many (and never on more
	// than one frame at a time), so the live pipeline keeps its frame rate.
	ShadowEvery int `yaml:"shadow_every"`
	// ShadowTimeout refuses a candidate that has not seen its shadow frames by then.
	ShadowTimeout time.Duration `yaml:"shadow_timeout"`
	// StallTimeout refuses a transfer that received nothing for this long while connected.
	StallTimeout time.Duration `yaml:"stall_timeout"`
}

// LogConfig selects the log level and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// DefaultConfig returns the configuration used for every key a file, the environment or a flag
// does not set.
func DefaultConfig() Config {
	return Config{
		Camera: CameraConfig{
			Source:           "testdata/clips/sample.mp4",
			MaxFPS:           10,
			Loop:             true,
			ReconnectInitial: time.Second,
			ReconnectMax:     30 * time.Second,
			FrozenAfter:      motion.DefaultFrozenAfter,
			BlankAfter:       motion.DefaultBlankAfter,
		},
		Motion: MotionConfig{
			Enabled:    true,
			Heartbeat:  motion.DefaultHeartbeat,
			PostFrames: motion.DefaultPostFrames,
			Threshold:  motion.DefaultPixelThreshold,
			MinArea:    motion.DefaultMinArea,
			ResetArea:  motion.DefaultResetArea,
			Background: motion.DefaultBackground,
			Width:      motion.DefaultWidth,
		},
		Model: ModelConfig{
			Path:           "models/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite",
			Labels:         "models/labelmap.txt",
			Task:           "auto",
			Runtime:        backend.Auto,
			TopK:           3,
			ScoreThreshold: 0.5,
			Fit:            "stretch",
			Mean:           127.5,
			Std:            127.5,
		},
		Snapshot: SnapshotConfig{MaxBytes: 64 << 10, Quality: 80},
		Store: StoreConfig{
			MaxBytes:    256 << 20,
			MaxRecords:  1_000_000,
			CommitDelay: 10 * time.Millisecond,
		},
		MQTT: MQTTConfig{
			Enabled:          true,
			Embedded:         true,
			EmbeddedListen:   "127.0.0.1:1883",
			TopicPrefix:      "edge",
			KeepAlive:        30 * time.Second,
			InFlight:         32,
			StatusInterval:   30 * time.Second,
			ConnectTimeout:   10 * time.Second,
			ReconnectInitial: 500 * time.Millisecond,
			ReconnectMax:     30 * time.Second,
			Verify:           "hold",
		},
		OTA: OTAConfig{
			MaxModelBytes:     64 << 20,
			ReserveBytes:      64 << 20,
			HealthFrames:      10,
			HealthTimeout:     2 * time.Minute,
			HealthMaxRestarts: 1,
			ShadowEvery:       3,
			ShadowTimeout:     10 * time.Minute,
			StallTimeout:      time.Hour,
		},
		Log:  LogConfig{Level: "info", Format: "text"},
		HTTP: HTTPConfig{Enabled: true, Listen: "127.0.0.1:8080", PredictMaxBytes: 8 << 20, PredictConcurrency: 1},
		HA:   HAConfig{Prefix: "homeassistant", Labels: "person,cat,dog"},
	}
}

// ByteSize is a size in bytes that YAML may write as a number or with a unit: 64KiB, 256MiB, 1GB.
type ByteSize int64

var byteSizeRE = regexp.MustCompile(`^\s*([0-9]+)\s*([KMGT]I?B?|B)?\s*$`)

// ParseByteSize parses a size such as "256MiB", "64k" or "1000".
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizeRE.FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (want e.g. 65536, 64KiB, 256MiB)", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", s, err)
	}
	unit := strings.TrimSuffix(m[2], "B")
	mult := map[string]int64{"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
		"KI": 1 << 10, "MI": 1 << 20, "GI": 1 << 30, "TI": 1 << 40}[unit]
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML accepts a plain number of bytes or a number with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a size such as 256MiB")
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ConfigError is a configuration mistake: Key is the dotted key (camera.max_fps) and Where says
// where the value came from (file:line, an environment variable or a flag).
type ConfigError struct {
	Key   string
	Where string
	Err   error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Loader builds a Config from defaults, an optional YAML file, EDGE_AGENT_* environment variables
// and flags, in that order, remembering where each key was set so errors can point there.
type Loader struct {
	cfg    Config
	origin map[string]string // dotted key -> "file:line", "$EDGE_AGENT_X" or "flag -x"
}

// NewLoader starts from DefaultConfig.
func NewLoader() *Loader {
	return &Loader{cfg: DefaultConfig(), origin: map[string]string{}}
}

// LoadFile merges a YAML file. Unknown keys and values of the wrong type are errors naming the
// key and line.
func (l *Loader) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return l.LoadYAML(path, data)
}

// LoadYAML merges YAML from data; name is used in error messages.
func (l *Loader) LoadYAML(name string, data []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return &ConfigError{Where: name, Err: cleanYAMLError(err)}
	}
	if root.Kind == 0 { // empty file
		return nil
	}
	// checkKeys refuses unknown keys and values of the wrong kind, and writes a bare duration
	// 0 as "0s", so the checked tree is what is decoded.
	if err := checkKeys(name, &root, reflect.TypeOf(l.cfg), ""); err != nil {
		return err
	}
	if err := root.Decode(&l.cfg); err != nil {
		return &ConfigError{Where: name, Err: cleanYAMLError(err)}
	}
	recordLines(name, &root, "", l.origin)
	return nil
}

// checkKeys walks the YAML tree alongside the Config type so unknown keys and values of the
// wrong kind are reported with their dotted key and line, before decoding.
func checkKeys(name string, n *yaml.Node, t reflect.Type, prefix string) error {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return checkKeys(name, n.Content[0], t, prefix)
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return nil
		}
		key := strings.TrimSuffix(prefix, ".")
		return &ConfigError{Key: key, Where: fmt.Sprintf("%s:%d", name, n.Line), Err: errors.New("want a mapping of keys")}
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := fields[k.Value]
		if !ok {
			return &ConfigError{Key: prefix + k.Value, Where: fmt.Sprintf("%s:%d", name, k.Line),
				Err: fmt.Errorf("unknown key (known keys here: %s)", strings.Join(sortedKeys(fields), ", "))}
		}
		if f.Type.Kind() == reflect.Struct {
			if err := checkKeys(name, v, f.Type, prefix+k.Value+"."); err != nil {
				return err
			}
			continue
		}
		if f.Type.Kind() == reflect.Slice {
			if err := checkList(name, prefix+k.Value, v); err != nil {
				return err
			}
			continue
		}
		if v.Kind != yaml.ScalarNode {
			return &ConfigError{Key: prefix + k.Value, Where: fmt.Sprintf("%s:%d", name, v.Line), Err: errors.New("want a single value")}
		}
		// A bare number would silently mean nanoseconds; a bare 0 is 0 in any unit.
		if f.Type == reflect.TypeOf(time.Duration(0)) && v.Tag != "!!str" {
			if v.Value != "0" {
				return &ConfigError{Key: prefix + k.Value, Where: fmt.Sprintf("%s:%d", name, v.Line),
					Err: fmt.Errorf("%q needs a unit (e.g. 500ms, 30s, 5m)", v.Value)}
			}
			v.Tag, v.Value = "!!str", "0s"
		}
		// Decode the scalar alone so a bad value names its key.
		ptr := reflect.New(f.Type)
		if err := v.Decode(ptr.Interface()); err != nil {
			return &ConfigError{Key: prefix + k.Value, Where: fmt.Sprintf("%s:%d", name, v.Line), Err: cleanYAMLError(err)}
		}
	}
	return nil
}

// checkList accepts a list of plain values (device.groups, ota.trusted_keys), or null.
func checkList(name, key string, v *yaml.Node) error {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return &ConfigError{Key: key, Where: fmt.Sprintf("%s:%d", name, v.Line), Err: errors.New("want a list, e.g. [a, b] or one \"- item\" per line")}
	}
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			return &ConfigError{Key: key, Where: fmt.Sprintf("%s:%d", name, item.Line), Err: errors.New("each item must be a single value")}
		}
	}
	return nil
}

func recordLines(name string, n *yaml.Node, prefix string, origin map[string]string) {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		origin[prefix+k.Value] = fmt.Sprintf("%s:%d", name, k.Line)
		recordLines(name, v, prefix+k.Value+".", origin)
	}
}

var yamlErrPrefix = regexp.MustCompile(`^yaml: (unmarshal errors:\n\s*)?`)

func cleanYAMLError(err error) error {
	return errors.New(yamlErrPrefix.ReplaceAllString(err.Error(), ""))
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			m[tag] = f
		}
	}
	return m
}

func sortedKeys(m map[string]reflect.StructField) []string {
	t := make([]string, 0, len(m))
	for k := range m {
		t = append(t, k)
	}
	for i := range t { // small: insertion sort keeps this dependency-free
		for j := i; j > 0 && t[j] < t[j-1]; j-- {
			t[j], t[j-1] = t[j-1], t[j]
		}
	}
	return t
}

// EnvPrefix starts every environment override: EDGE_AGENT_MQTT_URL sets mqtt.url.
const EnvPrefix = "EDGE_AGENT_"

// EnvName returns the environment variable that overrides a dotted key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// runtimeEnvPrefix starts the official TensorFlow Lite runtime's own variables (tflite/native's
// EDGE_AGENT_TFLITE_VET, the tests' EDGE_AGENT_TFLITE_LIBRARY): they are not configuration keys,
// and no section of the configuration is named tflite.
const runtimeEnvPrefix = EnvPrefix + "TFLITE_"

// LoadEnv applies EDGE_AGENT_* overrides from environ (as os.Environ returns it). Every variable
// with the prefix must name a known key, but for the runtime's own EDGE_AGENT_TFLITE_*.
func (l *Loader) LoadEnv(environ []string) error {
	keys := map[string]string{}
	for _, k := range Keys() {
		keys[EnvName(k)] = k
	}
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || strings.HasPrefix(name, runtimeEnvPrefix) {
			continue
		}
		key, known := keys[name]
		if !known {
			return &ConfigError{Where: "$" + name, Err: errors.New("unknown setting (see the config reference in the README)")}
		}
		if err := l.Set(key, val, "$"+name); err != nil {
			return err
		}
	}
	return nil
}

// IsSet reports whether key was set by a file, the environment or Set, rather than left at its
// default.
func (l *Loader) IsSet(key string) bool {
	_, ok := l.origin[key]
	return ok
}

// Set sets one dotted key from its text form; where names the source for error messages.
func (l *Loader) Set(key, val, where string) error {
	f, err := fieldByKey(reflect.ValueOf(&l.cfg).Elem(), key)
	if err != nil {
		return &ConfigError{Key: key, Where: where, Err: err}
	}
	if err := setText(f, val); err != nil {
		return &ConfigError{Key: key, Where: where, Err: err}
	}
	l.origin[key] = where
	return nil
}

// Keys returns every dotted key of Config, in declaration order.
func Keys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+tag+".")
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	return keys
}

func fieldByKey(v reflect.Value, key string) (reflect.Value, error) {
	for _, part := range strings.Split(key, ".") {
		f, ok := yamlFields(v.Type())[part]
		if !ok {
			return reflect.Value{}, errors.New("unknown key")
		}
		v = v.FieldByIndex(f.Index)
		if v.Kind() == reflect.Struct && v.Type() != reflect.TypeOf(time.Duration(0)) {
			continue
		}
	}
	if v.Kind() == reflect.Struct {
		return reflect.Value{}, errors.New("not a single setting")
	}
	return v, nil
}

func setText(f reflect.Value, s string) error {
	switch f.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want e.g. 500ms, 30s, 5m)", s)
		}
		f.SetInt(int64(d))
		return nil
	case ByteSize:
		b, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(b))
		return nil
	}
	switch f.Kind() {
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot set a %s from text", f.Type())
		}
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		f.Set(reflect.ValueOf(items))
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		f.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		f.SetFloat(x)
	default:
		return fmt.Errorf("cannot set a %s from text", f.Type())
	}
	return nil
}

// Config validates the merged configuration, fills derived defaults (device id, store path,
// client id, model name) and returns it. Every problem found is reported, each naming its key and
// where it was set.
func (l *Loader) Config() (Config, error) {
	c := l.cfg
	if c.Device.ID == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "edge-agent"
		}
		c.Device.ID = h
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir()
	}
	if c.Store.Path == "" {
		c.Store.Path = filepath.Join(c.StateDir, "edge-agent.db")
	}
	if c.MQTT.ClientID == "" {
		c.MQTT.ClientID = "edge-agent-" + c.Device.ID
	}
	if c.Model.Name == "" {
		c.Model.Name = strings.TrimSuffix(filepath.Base(c.Model.Path), filepath.Ext(c.Model.Path))
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &ConfigError{Key: key, Where: l.origin[key], Err: fmt.Errorf(format, args...)})
	}
	// A broker URL the user sets is the broker used: it turns the embedded broker off unless
	// that too is set explicitly, which is a contradiction to report rather than guess.
	for _, key := range []string{"mqtt.url", "mqtt.urls"} {
		if _, urlSet := l.origin[key]; urlSet {
			if _, embSet := l.origin["mqtt.embedded"]; embSet && c.MQTT.Embedded {
				bad("mqtt.embedded", "is true but %s is set too (%s): the embedded broker ignores it; set mqtt.embedded to false to use %q, or remove %s",
					key, orDefault(l.origin[key]), c.MQTT.Brokers(), key)
			}
			c.MQTT.Embedded = false
		}
	}
	if c.MQTT.Embedded {
		c.MQTT.URL, c.MQTT.URLs = "tcp://"+c.MQTT.EmbeddedListen, nil
	}
	if !validID.MatchString(c.Device.ID) {
		bad("device.id", "%q is not usable in MQTT topics (letters, digits, '-', '_', '.'; at most 64)", c.Device.ID)
	}
	if c.Camera.Source == "" {
		bad("camera.source", "must be set")
	}
	if c.Camera.MaxFPS < 0 {
		bad("camera.max_fps", "must be >= 0, got %v", c.Camera.MaxFPS)
	}
	if c.Camera.ReconnectInitial <= 0 {
		bad("camera.reconnect_initial", "must be > 0")
	}
	if c.Camera.ReconnectMax < c.Camera.ReconnectInitial {
		bad("camera.reconnect_max", "must be >= camera.reconnect_initial")
	}
	checkMotion(c, bad)
	if c.Model.Path == "" {
		bad("model.path", "must be set")
	}
	if c.Model.Threads < 0 || c.Model.Threads > 64 {
		bad("model.threads", "must be between 0 (one per CPU) and 64, got %d", c.Model.Threads)
	}
	if _, err := backend.ParseRuntime(c.Model.Runtime); err != nil {
		bad("model.runtime", "must be auto, go or tflite, got %q", c.Model.Runtime)
	}
	if !oneOf(c.Model.Task, "auto", "classify", "detect", "pose", "segment", "raw") {
		bad("model.task", "must be auto, classify, detect, pose, segment or raw, got %q", c.Model.Task)
	}
	if c.Model.TopK < 1 || c.Model.TopK > 100 {
		bad("model.top_k", "must be between 1 and 100, got %d", c.Model.TopK)
	}
	if c.Model.ScoreThreshold < 0 || c.Model.ScoreThreshold > 1 {
		bad("model.score_threshold", "must be between 0 and 1, got %v", c.Model.ScoreThreshold)
	}
	if !oneOf(c.Model.Fit, "stretch", "center_crop", "letterbox") {
		bad("model.fit", "must be stretch, center_crop or letterbox, got %q", c.Model.Fit)
	}
	if c.Model.Std == 0 {
		bad("model.std", "must not be 0")
	}
	if c.Snapshot.MaxBytes < 1024 {
		bad("snapshot.max_bytes", "must be at least 1KiB, got %d", c.Snapshot.MaxBytes)
	}
	if c.Snapshot.Quality < 1 || c.Snapshot.Quality > 100 {
		bad("snapshot.quality", "must be between 1 and 100, got %d", c.Snapshot.Quality)
	}
	if c.Store.MaxBytes < 64<<10 {
		bad("store.max_bytes", "must be at least 64KiB, got %d", c.Store.MaxBytes)
	}
	if c.Store.MaxRecords < 1 {
		bad("store.max_records", "must be at least 1, got %d", c.Store.MaxRecords)
	}
	if c.Store.MaxAge < 0 {
		bad("store.max_age", "must be >= 0")
	}
	if c.Store.CommitDelay < 0 || c.Store.CommitDelay > 10*time.Second {
		bad("store.commit_delay", "must be between 0 and 10s, got %v", c.Store.CommitDelay)
	}
	if c.MQTT.Enabled {
		if c.MQTT.Embedded {
			if err := sync.CheckEmbeddedAddr(c.MQTT.EmbeddedListen); err != nil {
				bad("mqtt.embedded_listen", "%v", err)
			}
		} else {
			c.checkBrokers(l.origin, bad)
		}
		if c.MQTT.Password != "" && c.MQTT.PasswordFile != "" {
			bad("mqtt.password_file", "set either mqtt.password or mqtt.password_file, not both")
		}
		if (c.MQTT.CertFile == "") != (c.MQTT.KeyFile == "") {
			bad("mqtt.cert_file", "mqtt.cert_file and mqtt.key_file go together")
		}
		if !validPrefix.MatchString(c.MQTT.TopicPrefix) {
			bad("mqtt.topic_prefix", "%q must be a plain topic path without wildcards", c.MQTT.TopicPrefix)
		}
		if c.MQTT.KeepAlive < time.Second {
			bad("mqtt.keepalive", "must be at least 1s")
		}
		if c.MQTT.InFlight < 1 || c.MQTT.InFlight > 65535 {
			bad("mqtt.inflight", "must be between 1 and 65535, got %d", c.MQTT.InFlight)
		}
		if c.MQTT.StatusInterval < time.Second {
			bad("mqtt.status_interval", "must be at least 1s")
		}
		if c.MQTT.ConnectTimeout < time.Second {
			bad("mqtt.connect_timeout", "must be at least 1s")
		}
		if c.MQTT.ReconnectInitial <= 0 {
			bad("mqtt.reconnect_initial", "must be > 0")
		}
		if c.MQTT.ReconnectMax < c.MQTT.ReconnectInitial {
			bad("mqtt.reconnect_max", "must be >= mqtt.reconnect_initial")
		}
		if !oneOf(c.MQTT.Verify, "hold", "warn", "off") {
			bad("mqtt.verify", "must be hold, warn or off, got %q", c.MQTT.Verify)
		}
	}
	seen := map[string]bool{}
	for _, g := range c.Device.Groups {
		if !validID.MatchString(g) || seen[g] {
			bad("device.groups", "%q is not a usable group name (letters, digits, '-', '_', '.'; at most 64; each once)", g)
		}
		seen[g] = true
	}
	o := c.OTA
	if o.MaxModelBytes < 1<<10 {
		bad("ota.max_model_bytes", "must be at least 1KiB, got %d", o.MaxModelBytes)
	}
	if o.ReserveBytes < 0 {
		bad("ota.reserve_bytes", "must be >= 0")
	}
	if o.HealthFrames < 1 {
		bad("ota.health_frames", "must be at least 1, got %d", o.HealthFrames)
	}
	if o.HealthTimeout < time.Second {
		bad("ota.health_timeout", "must be at least 1s")
	}
	if o.HealthMaxRestarts < 0 || o.HealthMaxRestarts > 10 {
		bad("ota.health_max_restarts", "must be between 0 and 10, got %d", o.HealthMaxRestarts)
	}
	if o.ShadowEvery < 1 {
		bad("ota.shadow_every", "must be at least 1, got %d", o.ShadowEvery)
	}
	if o.ShadowTimeout < time.Second {
		bad("ota.shadow_timeout", "must be at least 1s")
	}
	if o.StallTimeout < time.Second {
		bad("ota.stall_timeout", "must be at least 1s")
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		bad("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		bad("log.format", "must be text or json, got %q", c.Log.Format)
	}
	if c.HTTP.Enabled {
		if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
			bad("http.listen", "%q: want host:port, e.g. 127.0.0.1:8080 (%v)", c.HTTP.Listen, err)
		} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			bad("http.listen", "%q: invalid port", c.HTTP.Listen)
		} else if n != 0 && c.MQTT.Enabled && c.MQTT.Embedded && c.HTTP.Listen == c.MQTT.EmbeddedListen {
			bad("http.listen", "%q is mqtt.embedded_listen too", c.HTTP.Listen)
		}
		if c.HTTP.PredictMaxBytes < 1<<10 || c.HTTP.PredictMaxBytes > 1<<30 {
			bad("http.predict_max_bytes", "must be between 1KiB and 1GiB, got %d", c.HTTP.PredictMaxBytes)
		}
		if c.HTTP.PredictConcurrency < 1 || c.HTTP.PredictConcurrency > 16 {
			bad("http.predict_concurrency", "must be between 1 and 16, got %d", c.HTTP.PredictConcurrency)
		}
	}
	if c.HA.Discovery {
		if !c.MQTT.Enabled {
			bad("ha.discovery", "needs mqtt.enabled")
		}
		if !validPrefix.MatchString(c.HA.Prefix) {
			bad("ha.prefix", "%q must be a plain topic path without wildcards", c.HA.Prefix)
		}
	}
	c.origin = maps.Clone(l.origin)
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return c, nil
}

func orDefault(where string) string {
	if where == "" {
		return "default"
	}
	return where
}

var (
	validID     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	validPrefix = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)
)

// Brokers returns the broker URLs the agent uses: URLs, or URL alone.
func (m MQTTConfig) Brokers() []string {
	if len(m.URLs) > 0 {
		return m.URLs
	}
	if m.URL == "" {
		return nil
	}
	return []string{m.URL}
}

// checkBrokers checks mqtt.url and mqtt.urls when the embedded broker is off.
func (c Config) checkBrokers(origin map[string]string, bad func(key, format string, args ...any)) {
	m := c.MQTT
	switch {
	case m.URL != "" && len(m.URLs) > 0 && !slices.Equal(m.URLs, []string{m.URL}):
		bad("mqtt.urls", "and mqtt.url (%s) are both set: list every broker in mqtt.urls and remove mqtt.url (or set it to \"\")", orDefault(origin["mqtt.url"]))
		return
	case m.URL == "" && len(m.URLs) == 0:
		key := "mqtt.url"
		if _, ok := origin["mqtt.urls"]; ok {
			key = "mqtt.urls"
		}
		bad(key, "must be set when mqtt.embedded is false (e.g. tcp://broker:1883, or mqtt.urls for several)")
		return
	}
	key := "mqtt.url"
	if len(m.URLs) > 0 {
		key = "mqtt.urls"
	}
	seen := map[string]bool{}
	for _, u := range m.Brokers() {
		if err := checkBrokerURL(u); err != nil {
			bad(key, "%v", err)
		} else if seen[u] {
			bad(key, "%q is listed twice", u)
		}
		seen[u] = true
	}
}

func checkBrokerURL(s string) error {
	if s == "" {
		return errors.New("empty URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", s, err)
	}
	if !oneOf(u.Scheme, "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss") {
		return fmt.Errorf("unsupported scheme %q in %q (want tcp, ssl, ws or wss)", u.Scheme, s)
	}
	if u.Host == "" {
		return fmt.Errorf("no host in %q", s)
	}
	return nil
}

func oneOf(s string, options ...string) bool {
	for _, o := range options {
		if s == o {
			return true
		}
	}
	return false
}

func defaultStateDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		// systemd may pass several colon-separated directories; the first is ours.
		return strings.Split(d, ":")[0]
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "edge-agent")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "edge-agent")
	}
	return "edge-agent-state"
}
