package agent

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/httpapi"
	"github.com/edge-agent/edge-agent/sync"
	"github.com/edge-agent/edge-agent/tflite/backend"
)

// prepared is what the start-up checks build: Run starts with it, a reload swaps parts of it in,
// Check throws it away.
type prepared struct {
	cfg    Config // as Run runs it: cfg.Model names the model loaded
	model  *model
	camera camera.Config
	motion *motionParts
	mqtt   sync.Config // with the password read from its file; zero when MQTT is off
	// sawModel is the path of the model running when a reload prepared this (with OTA).
	sawModel string
}

func (p *prepared) close() {
	if p != nil && p.model != nil {
		p.model.close()
	}
	if p != nil {
		p.motion.close()
	}
}

// Check runs every check that Run runs before it starts anything: the model loads with every op
// supported on the runtime model.runtime names (with tflite, the library loads and builds it; auto
// measures both runtimes as Run does) and its task is known, the camera source parses (and a video file exists), the MQTT
// settings are consistent and their files readable, the trusted keys of ota.trusted_keys read. `edge-agent run --check`, a reload and Run
// all call it, so what Check accepts starts. Every problem is a *ConfigError naming its key and
// where it was set; several are joined.
func Check(cfg Config) error {
	p, err := prepare(cfg)
	p.close()
	return err
}

func prepare(cfg Config) (*prepared, error) { return prepareChoice(cfg, nil) }

// prepareChoice is prepare reusing prior's runtime choice when it was made for the same model
// file and settings (a reload that keeps the model need not measure the runtimes again).
func prepareChoice(cfg Config, prior *runtimeChoice) (*prepared, error) {
	m, err := loadModel(context.Background(), cfg.Model, prior)
	if err != nil {
		return prepareWith(cfg, nil, cfg.errorAt(modelKey(cfg, err), err))
	}
	return prepareWith(cfg, m, nil)
}

// prepareWith runs the checks but the model's: m is the model loaded, or nil and modelErr why
// it did not load.
func prepareWith(cfg Config, m *model, modelErr error) (*prepared, error) {
	var errs []error
	p := &prepared{cfg: cfg}
	if modelErr != nil {
		errs = append(errs, modelErr)
	}
	p.model = m
	p.camera = cameraSettings(cfg)
	if err := p.camera.Validate(); err != nil {
		errs = append(errs, cfg.errorAt("camera.source", err))
	}
	if cfg.HTTP.Enabled && cfg.HTTP.TokenFile != "" {
		if err := httpapi.CheckTokenFile(cfg.HTTP.TokenFile); err != nil {
			errs = append(errs, cfg.errorAt("http.token_file", err))
		}
	}
	var err error
	if p.motion, err = newMotionParts(cfg); err != nil {
		errs = append(errs, err)
	}
	if _, err := otaKeys(cfg); err != nil {
		errs = append(errs, err)
	}
	if cfg.MQTT.Enabled {
		sc, err := mqttConfig(cfg)
		if err != nil {
			errs = append(errs, err)
		}
		p.mqtt = sc
	}
	if len(errs) > 0 {
		p.close()
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// cameraSettings is the camera package's configuration for cfg.
func cameraSettings(cfg Config) camera.Config {
	return camera.Config{
		URL:              cfg.Camera.Source,
		MaxFPS:           cfg.Camera.MaxFPS,
		Loop:             cfg.Camera.Loop,
		ReconnectInitial: cfg.Camera.ReconnectInitial,
		ReconnectMax:     cfg.Camera.ReconnectMax,
	}
}

// modelKey names the key a model error is about.
func modelKey(cfg Config, err error) string {
	switch {
	case errors.Is(err, backend.ErrRuntime):
		return "model.runtime"
	case isLibraryError(err) && cfg.Model.Library != "":
		return "model.library"
	case isLibraryError(err):
		return "model.runtime"
	case cfg.Model.Labels != "" && strings.Contains(err.Error(), cfg.Model.Labels):
		return "model.labels"
	case cfg.Model.Task != "auto" && strings.Contains(err.Error(), "task"):
		return "model.task"
	}
	return "model.path"
}

// mqttConfig builds the client's configuration and checks it the way the client will: the URL's
// scheme against the TLS settings, and that every file it names can be read.
func mqttConfig(cfg Config) (sync.Config, error) {
	c := cfg.MQTT
	var errs []error
	for _, f := range []struct{ key, path string }{
		{"mqtt.password_file", c.PasswordFile}, {"mqtt.ca_file", c.CAFile},
		{"mqtt.cert_file", c.CertFile}, {"mqtt.key_file", c.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			errs = append(errs, cfg.errorAt(f.key, err))
		}
	}
	password := c.Password
	if c.PasswordFile != "" {
		if b, err := os.ReadFile(c.PasswordFile); err == nil {
			password = strings.TrimSpace(string(b))
		}
	}
	brokers := c.Brokers()
	if c.Embedded {
		brokers = []string{"tcp://" + c.EmbeddedListen}
	}
	sc := sync.Config{
		Brokers:        brokers,
		DeviceID:       cfg.Device.ID,
		ClientID:       c.ClientID,
		Username:       c.Username,
		Password:       password,
		CAFile:         c.CAFile,
		CertFile:       c.CertFile,
		KeyFile:        c.KeyFile,
		KeepAlive:      c.KeepAlive,
		TopicPrefix:    c.TopicPrefix,
		InFlight:       c.InFlight,
		StatusInterval: c.StatusInterval,
		ConnectTimeout: c.ConnectTimeout,
		Backoff:        sync.Backoff{Initial: c.ReconnectInitial, Max: c.ReconnectMax, Jitter: 0.2},
		Verify:         c.Verify,
	}
	if len(errs) == 0 {
		if err := sc.Validate(); err != nil {
			// The scheme comes from the URL; the files' contents from their keys.
			key := "mqtt.url"
			if len(c.URLs) > 0 {
				key = "mqtt.urls"
			}
			switch msg := err.Error(); {
			case strings.Contains(msg, "CA file"):
				key = "mqtt.ca_file"
			case strings.Contains(msg, "client certificate"):
				key = "mqtt.cert_file"
			case c.Embedded:
				key = "mqtt.embedded_listen"
			}
			errs = append(errs, cfg.errorAt(key, err))
		}
	}
	return sc, errors.Join(errs...)
}
