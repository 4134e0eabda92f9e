package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/agent"
)

func TestRunConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("camera:\n  source: /dev/video0\n  max_fsp: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want []string
	}{
		{"unknown key", []string{"--config", bad}, "", []string{bad + ":3", "camera.max_fsp", "unknown key"}},
		{"bad flag value", []string{"--max-fps", "-1"}, "", []string{"flag --max-fps", "camera.max_fps"}},
		{"bad env value", nil, "EDGE_AGENT_MQTT_URL=http://x", []string{"$EDGE_AGENT_MQTT_URL", "scheme"}},
		{"missing file", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, "", []string{"none.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				k, v, _ := strings.Cut(tc.env, "=")
				t.Setenv(k, v)
				t.Setenv("EDGE_AGENT_MQTT_EMBEDDED", "false")
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"run", "--check"}, tc.args...), &stdout, &stderr)
			if !errors.Is(err, errConfig) || exitCode(err) != 2 {
				t.Fatalf("want a configuration error with exit status 2, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRunCheckShippedConfig(t *testing.T) {
	var stdout, stderr bytes.Buffer
	// The model is where the package installs it; here it is the repository's copy.
	if err := run(context.Background(), []string{"run", "--check", "--config", "../../deploy-arm/edge-agent.yaml",
		"--model", ssdModel, "--labels", ssdLabels}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "configuration OK") {
		t.Errorf("stdout = %q", stdout.String())
	}
}

// TestCheckIsStartValidation runs each bad configuration through `run --check` and `run`: both
// refuse it, naming the key and where it was set, with exit status 2 (which systemd's
// RestartPreventExitStatus=2 does not restart).
func TestCheckIsStartValidation(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	notModel := filepath.Join(dir, "model.tflite")
	for _, f := range []string{notPEM, notModel} {
		if err := os.WriteFile(f, []byte("not what it should be\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing")
	const helloWorld = "../../testdata/models/tiny/hello_world_float.tflite"
	base := map[string]string{
		"camera.source": sampleClip, "model.path": ssdModel, "model.labels": ssdLabels,
		"state_dir": dir, "mqtt.embedded_listen": "127.0.0.1:0",
	}
	for _, tc := range []struct {
		name  string
		set   map[string]string // config file keys
		env   string
		flags []string
		key   string // in the error, with where it was set
		want  string
	}{
		{name: "tls file with plain url", set: map[string]string{"mqtt.url": "tcp://broker:1883", "mqtt.ca_file": notPEM}, key: "mqtt.url", want: "not TLS"},
		{name: "unreadable ca file", set: map[string]string{"mqtt.url": "ssl://broker:8883", "mqtt.ca_file": missing}, key: "mqtt.ca_file", want: "no such file"},
		{name: "ca file not pem", set: map[string]string{"mqtt.url": "ssl://broker:8883", "mqtt.ca_file": notPEM}, key: "mqtt.ca_file", want: "no PEM"},
		{name: "unreadable password file", set: map[string]string{"mqtt.url": "tcp://broker:1883", "mqtt.password_file": missing}, key: "mqtt.password_file", want: "no such file"},
		{name: "cert without key", set: map[string]string{"mqtt.url": "ssl://broker:8883", "mqtt.cert_file": notPEM}, key: "mqtt.cert_file", want: "go together"},
		{name: "embedded on a public address", set: map[string]string{"mqtt.embedded_listen": "0.0.0.0:1883"}, key: "mqtt.embedded_listen", want: "loopback"},
		{name: "embedded and a url", set: map[string]string{"mqtt.embedded": "true", "mqtt.url": "tcp://broker:1883"}, key: "mqtt.embedded", want: "mqtt.url is set too"},
		{name: "missing model", set: map[string]string{"model.path": missing}, key: "model.path", want: "no such file"},
		{name: "not a model", set: map[string]string{"model.path": notModel}, key: "model.path", want: "model.tflite"},
		{name: "not an image model", set: map[string]string{"model.path": helloWorld, "model.labels": ""}, key: "model.path", want: "want an image"},
		{name: "task does not fit", set: map[string]string{"model.task": "detect", "model.path": testModels + "classify_quant/mobilenet_v1_0.25_224_quant.tflite", "model.labels": ""}, key: "model.task", want: "task detect"},
		{name: "missing labels", set: map[string]string{"model.labels": missing}, key: "model.labels", want: "no such file"},
		{name: "bad camera scheme", set: map[string]string{"camera.source": "ftp://cam/x"}, key: "camera.source", want: "unsupported URL scheme"},
		{name: "missing video file", set: map[string]string{"camera.source": missing + ".mp4"}, key: "camera.source", want: "no such file"},
		{name: "motion area out of range", set: map[string]string{"motion.min_area": "3"}, key: "motion.min_area", want: "fraction"},
		{name: "mask hiding the frame", set: map[string]string{"motion.mask": "0,0,1,0,1,1,0,1"}, key: "motion.mask", want: "hides"},
		{name: "from the environment", env: "EDGE_AGENT_CAMERA_SOURCE=ftp://cam/x", key: "$EDGE_AGENT_CAMERA_SOURCE: camera.source", want: "unsupported URL scheme"},
		{name: "from a flag", flags: []string{"--model", missing}, key: "flag --model: model.path", want: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]string{}
			maps.Copy(cfg, base)
			maps.Copy(cfg, tc.set)
			path := filepath.Join(t.TempDir(), "edge-agent.yaml")
			if err := os.WriteFile(path, yamlOf(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.env != "" {
				k, v, _ := strings.Cut(tc.env, "=")
				t.Setenv(k, v)
			}
			where := tc.key
			if tc.env == "" && len(tc.flags) == 0 {
				where = path + ":" // file:line, then the key
			}
			for _, mode := range [][]string{{"run", "--check"}, {"run"}} {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var stdout, stderr bytes.Buffer
				err := run(ctx, append(append(mode, "--config", path), tc.flags...), &stdout, &stderr)
				cancel()
				if exitCode(err) != 2 {
					t.Fatalf("%v: exit status %d (%v), want 2", mode, exitCode(err), err)
				}
				msg := err.Error()
				if !strings.Contains(msg, where) || !strings.Contains(msg, tc.key) || !strings.Contains(msg, tc.want) {
					t.Errorf("%v: error %q does not name %q (at %q) with %q", mode, msg, tc.key, where, tc.want)
				}
			}
		})
	}
}

// yamlOf writes dotted keys as a two-level YAML file; values are plain scalars.
func yamlOf(kv map[string]string) []byte {
	sections := map[string][]string{}
	var b bytes.Buffer
	val := func(v string) string {
		if v == "" {
			return `""`
		}
		return v
	}
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		sec, key, nested := strings.Cut(k, ".")
		if !nested {
			fmt.Fprintf(&b, "%s: %s\n", k, val(kv[k]))
			continue
		}
		sections[sec] = append(sections[sec], fmt.Sprintf("  %s: %s\n", key, val(kv[k])))
	}
	for _, sec := range slices.Sorted(maps.Keys(sections)) {
		fmt.Fprintf(&b, "%s:\n%s", sec, strings.Join(sections[sec], ""))
	}
	return b.Bytes()
}

// TestOnceGating: `run --once` infers every frame of the file (motion gating off), unless
// motion.enabled is set explicitly, when only the gated frames are stored, each with its motion.
func TestOnceGating(t *testing.T) {
	runOnce := func(env ...string) []agent.Record {
		t.Helper()
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), []string{"run", "--once", "--print", "--no-mqtt", "--source", sampleClip,
			"--model", quantClassify, "--labels", imagenetLabels, "--state-dir", t.TempDir()}, &stdout, &stderr)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		var recs []agent.Record
		for _, line := range bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n")) {
			var r agent.Record
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			recs = append(recs, r)
		}
		return recs
	}
	if recs := runOnce(); len(recs) != 60 || recs[0].Motion != nil {
		t.Errorf("--once: %d records (first %+v), want every one of the 60 frames, without motion", len(recs), recs[:1])
	}
	// The sample clip is five still pictures: the first frame and each cut are inferred.
	recs := runOnce(agent.EnvName("motion.enabled") + "=true")
	if len(recs) < 4 || len(recs) > 8 {
		t.Fatalf("--once with motion.enabled: %d records, want the start and the cuts", len(recs))
	}
	for _, r := range recs {
		if r.Motion == nil || (r.Motion.Trigger != "start" && r.Motion.Trigger != "scene_change" && r.Motion.Trigger != "post_motion" && r.Motion.Trigger != "motion") {
			t.Errorf("record %d: motion %+v", r.Seq, r.Motion)
		}
	}
}
