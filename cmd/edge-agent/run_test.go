package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
