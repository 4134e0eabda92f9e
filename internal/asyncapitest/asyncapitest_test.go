package asyncapitest

import (
	"strings"
	"testing"
)

const (
	docPath  = "../../docs/asyncapi.yaml"
	specPath = "../../testdata/asyncapi/asyncapi-3.0.0.schema.json"
)

func load(t *testing.T) *Doc {
	t.Helper()
	d, err := Load(docPath)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// docs/asyncapi.yaml is a valid AsyncAPI 3.0.0 document, by the specification's own schema.
func TestDocumentIsAsyncAPI3(t *testing.T) {
	if err := load(t).ValidateDocument(specPath); err != nil {
		t.Fatalf("docs/asyncapi.yaml: %v", err)
	}
}

func TestTopicsFindTheirChannel(t *testing.T) {
	d := load(t)
	for topic, want := range map[string]string{
		"edge/pi-01/predictions":               "predictions",
		"fleet/site-a/pi-01/status":            "status",
		"edge/pi-01/events":                    "events",
		"edge/pi-01/cmd/reload":                "commands",
		"edge/pi-01/snapshot":                  "snapshot",
		"edge/pi-01/ha/state":                  "haState",
		"homeassistant/device/pi-01/config":    "haDiscovery",
		"homeassistant/status":                 "haBirth",
		"homeassistant/device/pi-01/other/bad": "",
	} {
		got := strings.Join(d.Channels(topic), ",")
		if got != want {
			t.Errorf("%s: channels %q, want %q", topic, got, want)
		}
	}
}

// The schemas accept what the agent publishes and refuse what it must not.
func TestPayloads(t *testing.T) {
	d := load(t)
	sha := strings.Repeat("ab", 32)
	good := map[string]string{
		"edge/pi/predictions": `{"v":1,"device":"pi","seq":7,"ts":"2026-11-26T10:00:00.123Z","model":{"name":"ssd","sha256":"` + sha + `"},` +
			`"frame":{"w":640,"h":480},"infer_ms":21.4,"detections":[{"label":"cat","class":16,"score":0.64,"box":{"x":54,"y":396,"w":393,"h":196}}]}`,
		"edge/pi/status":                 `{"v":1,"state":"offline","device":"pi","agent_version":"v1","reason":"lost"}`,
		"edge/pi/events":                 `{"v":1,"device":"pi","kind":"cmd_ack","ts":"2026-11-26T10:00:00Z","fields":{"name":"status","id":"a1","ok":true}}`,
		"edge/pi/ha/state":               `{"counts":{"cat":2},"last":null}`,
		"homeassistant/device/pi/config": ``,
		"homeassistant/status":           `online`,
		"edge/pi/snapshot":               "\xff\xd8\xff\xe0 jpeg",
	}
	for topic, p := range good {
		if err := d.Validate(topic, []byte(p)); err != nil {
			t.Errorf("%s: %v", topic, err)
		}
	}
	bad := map[string]string{
		"edge/pi/predictions":  `{"v":1,"device":"pi","seq":0,"ts":"2026-11-26T10:00:00Z","model":{"name":"ssd","sha256":"` + sha + `"},"frame":{"w":640,"h":480},"infer_ms":1}`,
		"edge/pi/status":       `{"v":1,"state":"offline","device":"pi","agent_version":"v1","reason":"lost","extra":1}`,
		"edge/pi/events":       `{"v":1,"device":"pi","kind":"camera","ts":"2026-11-26T10:00:00Z","fields":{"state":"gone","source":"x"}}`,
		"edge/pi/ha/state":     `{"counts":{"cat":-1},"last":null}`,
		"homeassistant/status": `maybe`,
		"edge/pi/snapshot":     `{"not":"a jpeg"}`,
		"edge/pi/unknown":      `{}`,
	}
	for topic, p := range bad {
		if err := d.Validate(topic, []byte(p)); err == nil {
			t.Errorf("%s accepted %s", topic, p)
		}
	}
}
