package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edge-agent/edge-agent/sync"
)

// snapshotTimeout bounds the wait for the frame a snapshot command asks for (a missing camera
// delivers none).
const snapshotTimeout = 10 * time.Second

// settable are the keys the set command may change at run time. They are not persisted: a reload
// from the file restores the file's values.
var settable = []string{"camera.max_fps", "model.score_threshold", "model.top_k"}

// command handles <prefix>/<device>/cmd/<name>. It runs on the MQTT client's command goroutine,
// one command at a time; its error goes into the cmd_ack event.
func (a *agent) command(ctx context.Context, cmd sync.Command) error {
	switch cmd.Name {
	case "status":
		if err := decodeCommand(cmd.Payload, nil); err != nil {
			return err
		}
		return a.mqtt.PublishStatus(ctx)
	case "reload":
		if err := decodeCommand(cmd.Payload, nil); err != nil {
			return err
		}
		return a.reload(ctx)
	case "snapshot":
		var args struct {
			Boxes bool `json:"boxes"`
		}
		if err := decodeCommand(cmd.Payload, &args); err != nil {
			return err
		}
		return a.snapshotCommand(ctx, args.Boxes)
	case "set":
		var args struct {
			Values map[string]json.RawMessage `json:"values"`
		}
		if err := decodeCommand(cmd.Payload, &args); err != nil {
			return err
		}
		return a.set(args.Values)
	}
	return fmt.Errorf("unknown command %q (known: reload, set, snapshot, status)", cmd.Name)
}

// decodeCommand decodes a command's arguments strictly: besides "v" and "id", only the fields of
// args (which may be nil) are allowed.
func decodeCommand(payload []byte, args any) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return fmt.Errorf("malformed command: %w", err)
	}
	delete(fields, "v")
	delete(fields, "id")
	b, _ := json.Marshal(fields)
	if args == nil {
		if len(fields) > 0 {
			return fmt.Errorf("unexpected argument %q", slices.Sorted(maps.Keys(fields))[0])
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(args); err != nil {
		return fmt.Errorf("bad arguments: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// set changes run-time settings, validated exactly as the configuration is, and applies them
// between two frames.
func (a *agent) set(values map[string]json.RawMessage) error {
	if len(values) == 0 {
		return fmt.Errorf("nothing to set: give \"values\" with one or more of %s", strings.Join(settable, ", "))
	}
	cur := make(chan Config, 1)
	a.betweenFrames(func(running bool) { cur <- a.cfg })
	l := &Loader{cfg: <-cur}
	l.origin = maps.Clone(l.cfg.origin)
	if l.origin == nil {
		l.origin = map[string]string{}
	}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		if !slices.Contains(settable, key) {
			return fmt.Errorf("%s cannot be set at run time (settable: %s)", key, strings.Join(settable, ", "))
		}
		var n json.Number
		dec := json.NewDecoder(bytes.NewReader(values[key]))
		dec.UseNumber()
		if err := dec.Decode(&n); err != nil {
			return fmt.Errorf("%s: want a number, got %s", key, values[key])
		}
		text := n.String()
		if key == "model.top_k" {
			if i, err := strconv.ParseFloat(text, 64); err == nil && i == float64(int64(i)) {
				text = strconv.FormatInt(int64(i), 10) // 3.0 is 3
			}
		}
		if err := l.Set(key, text, "command set"); err != nil {
			return err
		}
	}
	next, err := l.Config()
	if err != nil {
		return err
	}
	reply := make(chan error, 1)
	a.betweenFrames(func(running bool) {
		if !running {
			reply <- errStopping
			return
		}
		if next.Camera.MaxFPS != a.cfg.Camera.MaxFPS {
			if err := a.src.SetMaxFPS(next.Camera.MaxFPS); err != nil {
				reply <- err
				return
			}
			a.cfg.Camera.MaxFPS = next.Camera.MaxFPS
		}
		a.cfg.Model.TopK, a.cfg.Model.ScoreThreshold = next.Model.TopK, next.Model.ScoreThreshold
		a.model.setThresholds(next.Model.TopK, next.Model.ScoreThreshold)
		a.modelChanged()
		a.log.Info("settings changed by command", "camera.max_fps", a.cfg.Camera.MaxFPS,
			"model.score_threshold", a.cfg.Model.ScoreThreshold, "model.top_k", a.cfg.Model.TopK)
		reply <- nil
	})
	return <-reply
}

// snapshotRequest asks the capture loop for a JPEG of the next processed frame.
type snapshotRequest struct {
	boxes bool
	reply chan snapshotResult // buffered: the capture loop never waits on it
}

type snapshotResult struct {
	jpg []byte
	err error
}

// snapshotCommand publishes a JPEG of the next processed frame on the snapshot topic.
func (a *agent) snapshotCommand(ctx context.Context, boxes bool) error {
	req := &snapshotRequest{boxes: boxes, reply: make(chan snapshotResult, 1)}
	a.snap.Store(req)
	defer a.snap.CompareAndSwap(req, nil)
	t := time.NewTimer(snapshotTimeout)
	defer t.Stop()
	var res snapshotResult
	select {
	case res = <-req.reply:
	case <-t.C:
		return fmt.Errorf("no frame processed within %s (camera %s)", snapshotTimeout, a.camState.Load())
	case <-a.loopDone:
		return errStopping
	case <-ctx.Done():
		return ctx.Err()
	}
	if res.err != nil {
		return fmt.Errorf("snapshot: %w", res.err)
	}
	return a.mqtt.Publish(ctx, a.mqtt.Topics().Snapshot, 1, false, res.jpg)
}
