package hass

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Home Assistant reads the agent's JSON with these templates (Jinja, value_json is the payload).
const (
	availabilityTemplate = "{{ value_json.state }}"
	lastLabelTemplate    = "{{ value_json.last.label if value_json.last else 'none' }}"
	lastAttrsTemplate    = "{{ (value_json.last or {}) | tojson }}"
	fpsTemplate          = "{{ value_json.fps }}"
	latencyTemplate      = "{{ value_json.infer_ms }}"
	backlogTemplate      = "{{ value_json.backlog }}"
	// The model's version; without one, the start of its hash (which tells models apart), else
	// its name.
	modelVersionTemplate = "{{ value_json.model_version or (value_json.model_sha256 or '')[:12] or value_json.model }}"
)

// jinjaString quotes s as a Jinja string literal.
func jinjaString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

// sentence capitalises the first letter: "cat" -> "Cat".
func sentence(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// payload builds the device-based discovery payload and the set of its component ids. Full key
// names are used rather than the abbreviations: the payload is sent rarely and read by people.
func (d *Discovery) payload() ([]byte, map[string]struct{}, error) {
	uid := func(id string) string { return "edge_agent_" + d.objectID + "_" + id }
	status, state := d.topics.Status, d.StateTopic()
	comps := map[string]map[string]any{}
	for _, l := range d.labels {
		comps[l.id] = map[string]any{
			"platform":       "sensor",
			"name":           sentence(l.label),
			"unique_id":      uid(l.id),
			"state_topic":    state,
			"value_template": "{{ value_json.counts[" + jinjaString(l.label) + "] }}",
			"state_class":    "measurement",
			"icon":           "mdi:counter",
		}
	}
	comps["last_detection"] = map[string]any{
		"platform":                 "sensor",
		"name":                     "Last detection",
		"unique_id":                uid("last_detection"),
		"state_topic":              state,
		"value_template":           lastLabelTemplate,
		"json_attributes_topic":    state,
		"json_attributes_template": lastAttrsTemplate,
		"icon":                     "mdi:eye",
	}
	comps["fps"] = map[string]any{
		"platform":                    "sensor",
		"name":                        "Frames per second",
		"unique_id":                   uid("fps"),
		"state_topic":                 status,
		"value_template":              fpsTemplate,
		"unit_of_measurement":         "fps",
		"state_class":                 "measurement",
		"suggested_display_precision": 1,
		"icon":                        "mdi:speedometer",
	}
	comps["inference_latency"] = map[string]any{
		"platform":                    "sensor",
		"name":                        "Inference latency",
		"unique_id":                   uid("inference_latency"),
		"state_topic":                 status,
		"value_template":              latencyTemplate,
		"device_class":                "duration",
		"unit_of_measurement":         "ms",
		"state_class":                 "measurement",
		"suggested_display_precision": 1,
	}
	comps["backlog"] = map[string]any{
		"platform":            "sensor",
		"name":                "Backlog",
		"unique_id":           uid("backlog"),
		"state_topic":         status,
		"value_template":      backlogTemplate,
		"unit_of_measurement": "records",
		"state_class":         "measurement",
		"entity_category":     "diagnostic",
		"icon":                "mdi:tray-full",
	}
	comps["model_version"] = map[string]any{
		"platform":        "sensor",
		"name":            "Model version",
		"unique_id":       uid("model_version"),
		"state_topic":     status,
		"value_template":  modelVersionTemplate,
		"entity_category": "diagnostic",
		"icon":            "mdi:brain",
	}

	device := map[string]any{
		"identifiers":  []string{"edge_agent_" + d.objectID},
		"name":         d.cfg.Name,
		"manufacturer": "edge-agent",
		"model":        "edge-agent",
	}
	if d.cfg.AgentVersion != "" {
		device["sw_version"] = d.cfg.AgentVersion
	}
	if d.cfg.ConfigurationURL != "" {
		device["configuration_url"] = d.cfg.ConfigurationURL
	}
	origin := map[string]any{"name": "edge-agent"}
	if d.cfg.AgentVersion != "" {
		origin["sw_version"] = d.cfg.AgentVersion
	}
	b, err := json.Marshal(map[string]any{
		"device":       device,
		"origin":       origin,
		"availability": []map[string]string{{"topic": status, "value_template": availabilityTemplate}},
		"qos":          1,
		"components":   comps,
	})
	if err != nil {
		return nil, nil, err
	}
	ids := make(map[string]struct{}, len(comps))
	for id := range comps {
		ids[id] = struct{}{}
	}
	return b, ids, nil
}
