package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/edge-agent/edge-agent/agent"
)

// runAgent is `edge-agent run`: configuration comes from defaults, then --config, then
// EDGE_AGENT_* variables, then these flags.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML config `file` (default: built-in defaults)")
	printRecords := fs.Bool("print", false, "also print every record as a JSON line on stdout")
	once := fs.Bool("once", false, "process every frame of a video file once, then stop (no looping, no frame-rate cap, no motion gating unless motion.enabled is set)")
	noMQTT := fs.Bool("no-mqtt", false, "do not connect to MQTT; records stay in the outbox")
	checkOnly := fs.Bool("check", false, "validate the configuration and exit")
	// Flags for the settings people change most; each maps to a config key.
	type keyFlag struct {
		name, key string
		value     *string
	}
	var keyFlags []keyFlag
	for _, kf := range []struct{ name, key, usage string }{
		{"source", "camera.source", "frame source: /dev/video0, a file, rtsp:// or http:// URL, or a GStreamer pipeline"},
		{"model", "model.path", "model `file` (.tflite)"},
		{"labels", "model.labels", "label `file` (default: labels embedded in the model)"},
		{"runtime", "model.runtime", "TFLite runtime: auto (the faster of the two, measured when the model loads), go or tflite"},
		{"library", "model.library", "libtensorflowlite_c `file` for tflite and auto (default: the packaged or provisioned one)"},
		{"device-id", "device.id", "device `id` used in topics and records"},
		{"mqtt-url", "mqtt.url", "MQTT broker `URL` (tcp://, ssl://, ws://, wss://); setting it turns the embedded broker off"},
		{"mqtt-urls", "mqtt.urls", "several MQTT broker `URLs`, comma-separated, in order of preference (failover); setting it turns the embedded broker off"},
		{"state-dir", "state_dir", "`directory` for the outbox database"},
		{"log-level", "log.level", "log `level`: debug, info, warn, error"},
		{"max-fps", "camera.max_fps", "maximum frames per second (0 = unlimited)"},
	} {
		keyFlags = append(keyFlags, keyFlag{kf.name, kf.key, fs.String(kf.name, "", kf.usage+" (config "+kf.key+")")})
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}

	load := func() (agent.Config, error) {
		l := agent.NewLoader()
		if *configPath != "" {
			if err := l.LoadFile(*configPath); err != nil {
				return agent.Config{}, err
			}
		}
		if err := l.LoadEnv(os.Environ()); err != nil {
			return agent.Config{}, err
		}
		for _, f := range keyFlags {
			if *f.value == "" {
				continue
			}
			if err := l.Set(f.key, *f.value, "flag --"+f.name); err != nil {
				return agent.Config{}, err
			}
		}
		if *once {
			_ = l.Set("camera.loop", "false", "flag --once")
			_ = l.Set("camera.max_fps", "0", "flag --once")
			// Every frame of the file, unless gating was asked for: an unpaced file's frames
			// are timed by how fast they decode, not by the video's clock.
			if !l.IsSet("motion.enabled") {
				_ = l.Set("motion.enabled", "false", "flag --once")
			}
		}
		if *noMQTT {
			_ = l.Set("mqtt.enabled", "false", "flag --no-mqtt")
		}
		return l.Config()
	}
	cfg, err := load()
	if err != nil {
		return fmt.Errorf("%w:\n%w", errConfig, err)
	}
	if *checkOnly {
		// The very checks Run makes before it starts anything.
		if err := agent.Check(cfg); err != nil {
			return fmt.Errorf("%w:\n%w", errConfig, err)
		}
		fmt.Fprintln(stdout, "configuration OK")
		return nil
	}

	logger, level := agent.NewLogger(stderr, cfg.Log)
	// SIGHUP asks for a reload; the forwarder stops with Run.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	fwdCtx, stopFwd := context.WithCancel(ctx)
	var fwd sync.WaitGroup
	fwd.Go(func() {
		for {
			select {
			case <-fwdCtx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				default:
				}
			}
		}
	})
	defer func() {
		signal.Stop(hup)
		stopFwd()
		fwd.Wait()
	}()

	opts := agent.Options{
		Logger:   logger,
		LogLevel: level,
		Version:  version,
		Reload:   reload,
		Load:     load,
		// The one line a newcomer needs: where to look at the detections.
		OnHTTP: func(url string) { fmt.Fprintf(stderr, "edge-agent: status page at %s\n", url) },
	}
	if *printRecords {
		opts.Print = stdout
	}
	if err := agent.Run(ctx, cfg, opts); err != nil {
		var ce *agent.ConfigError
		if errors.As(err, &ce) {
			return fmt.Errorf("%w:\n%w", errConfig, err)
		}
		return err
	}
	return nil
}
