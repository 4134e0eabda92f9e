package sync

import (
	"encoding/json"
	"maps"
	"time"
)

// PayloadVersion is the "v" field of every JSON payload this package writes or accepts.
const PayloadVersion = 1

// StatusInfo is the agent's part of the online status payload.
type StatusInfo struct {
	Model   string            // model name or file
	Backlog uint64            // records waiting in the outbox
	Drops   map[string]uint64 // records dropped by policy, per reason
	// Extra fields merged into the payload (camera state, fps...). They cannot replace the
	// fields above or the ones the Client writes.
	Extra map[string]any
}

// Command is a message received on <prefix>/<device>/cmd/<name>.
type Command struct {
	Name string // the last topic level
	// ID is the payload's "id" string, echoed in the cmd_ack event so the sender can match it.
	ID string
	// Payload is the whole JSON object, "v" included; it is the handler's to keep.
	Payload json.RawMessage
}

// Topics are the MQTT topics of one device.
type Topics struct {
	Status      string // retained status, QoS 1
	Predictions string // outbox records, QoS 1
	Events      string // best-effort events, QoS 1
	Commands    string // subscription filter for commands, <prefix>/<device>/cmd/+
	Snapshot    string // JPEG snapshots asked for by the snapshot command, QoS 1
}

// TopicsFor returns the topics of a device under prefix.
func TopicsFor(prefix, device string) Topics {
	base := prefix + "/" + device + "/"
	return Topics{
		Status:      base + "status",
		Predictions: base + "predictions",
		Events:      base + "events",
		Commands:    base + "cmd/+",
		Snapshot:    base + "snapshot",
	}
}

// syncStats is the Client's own part of the status payload.
type syncStats struct {
	Published  uint64 `json:"published"`
	Acked      uint64 `json:"acked"`
	Reconnects uint64 `json:"reconnects"`
	LastError  string `json:"last_error,omitempty"`
	Broker     string `json:"broker"` // the broker this status went to
}

// StatusPayload returns the online status payload as the client would publish it now, for the
// agent's other readers (its HTTP API).
func (c *Client) StatusPayload() json.RawMessage { return c.onlinePayload() }

func (c *Client) onlinePayload() []byte {
	var info StatusInfo
	if c.cfg.Status != nil {
		info = c.cfg.Status()
	}
	st := c.Stats()
	m := map[string]any{
		"v":               PayloadVersion,
		"state":           "online",
		"device":          c.cfg.DeviceID,
		"agent_version":   c.cfg.AgentVersion,
		"model":           info.Model,
		"uptime_s":        int64(time.Since(c.started).Seconds()),
		"backlog":         info.Backlog,
		"ts":              time.Now().UTC().Format(time.RFC3339Nano),
		"connected_since": st.ConnectedSince.UTC().Format(time.RFC3339),
	}
	drops := info.Drops
	if drops == nil {
		drops = map[string]uint64{}
	}
	m["drops"] = drops
	s := syncStats{Published: st.Published, Acked: st.Acked, Reconnects: st.Reconnects, Broker: st.Broker}
	if st.LastError != nil {
		s.LastError = st.LastError.Error()
	}
	m["sync"] = s
	full := make(map[string]any, len(m)+len(info.Extra))
	maps.Copy(full, info.Extra)
	maps.Copy(full, m) // the Client's fields win
	b, err := json.Marshal(full)
	if err != nil {
		// Only Extra can fail to encode; publish the status without it rather than nothing.
		c.log.Warn("mqtt: status extra fields do not encode as JSON; sent without them", "err", err)
		b, _ = json.Marshal(m)
	}
	return b
}

// offlinePayload is the LWT (reason "lost") and the clean-shutdown status (reason "shutdown").
func (c *Client) offlinePayload(reason string) []byte {
	b, _ := json.Marshal(struct {
		V            int    `json:"v"`
		State        string `json:"state"`
		Device       string `json:"device"`
		AgentVersion string `json:"agent_version"`
		Reason       string `json:"reason"`
	}{PayloadVersion, "offline", c.cfg.DeviceID, c.cfg.AgentVersion, reason})
	return b
}

func (c *Client) eventPayload(kind string, fields map[string]any) ([]byte, error) {
	if fields == nil {
		fields = map[string]any{}
	}
	return json.Marshal(struct {
		V      int            `json:"v"`
		Device string         `json:"device"`
		Kind   string         `json:"kind"`
		TS     string         `json:"ts"`
		Fields map[string]any `json:"fields"`
	}{PayloadVersion, c.cfg.DeviceID, kind, time.Now().UTC().Format(time.RFC3339Nano), fields})
}
