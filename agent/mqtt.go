package agent

import (
	"context"
	"errors"
	gosync "sync"
	"time"

	"github.com/edge-agent/edge-agent/sync"
)

// startMQTT starts the embedded broker when configured, then the client, which publishes the
// outbox and serves commands until shutdown stops it. ctx carries values only: shutdown, not
// ctx, stops the client, after the backlog grace.
func (a *agent) startMQTT(ctx context.Context, sc sync.Config) error {
	c := a.cfg.MQTT
	if c.Embedded {
		b, err := sync.StartEmbeddedBroker(c.EmbeddedListen, a.log)
		if err != nil {
			return err
		}
		a.broker = b
		sc.Brokers = []string{b.URL()}
		a.log.Info("embedded MQTT broker listening", "addr", b.Addr())
	}
	sc.AgentVersion = a.opts.Version
	sc.Status = a.status
	sc.OnCommand = a.command
	var onConnect []func(context.Context)
	if a.ha != nil {
		sc.Subscriptions = append(sc.Subscriptions, a.ha.Subscriptions()...)
		onConnect = append(onConnect, a.ha.OnConnect)
	}
	if a.ota != nil {
		sc.Subscriptions = append(sc.Subscriptions, a.ota.Subscriptions()...)
		onConnect = append(onConnect, a.ota.OnConnect)
	}
	if len(onConnect) > 0 {
		// Each runs for the whole connection; the connection waits for all of them.
		sc.OnConnect = func(ctx context.Context) {
			var wg gosync.WaitGroup
			for _, f := range onConnect {
				wg.Go(func() { f(ctx) })
			}
			wg.Wait()
		}
	}
	client, err := sync.New(sc, a.db, a.log)
	if err != nil {
		return a.cfg.errorAt("mqtt", err) // prepare validated the same settings
	}
	a.mqtt = client
	if a.ota != nil {
		a.otaRun = newGroup(ctx)
		a.otaRun.Go(func(ctx context.Context) {
			if err := a.ota.Run(ctx, client); err != nil {
				a.log.Error("model updates stopped", "err", err)
			}
		})
	}
	a.mqttRun = newGroup(ctx)
	a.mqttRun.Go(func(ctx context.Context) {
		if err := client.Run(ctx); err != nil {
			a.log.Error("mqtt client stopped", "err", err)
		}
	})
	// Surface settings that retrying cannot fix (a wrong CA, a rejected certificate or
	// password) at startup. The agent keeps running and buffering either way.
	a.mqttRun.Go(func(ctx context.Context) {
		wctx, cancel := context.WithTimeout(ctx, 2*c.ConnectTimeout)
		defer cancel()
		switch err := client.WaitConnected(wctx); {
		case err == nil:
			a.log.Info("connected to MQTT broker", "url", client.Stats().Broker)
		case errors.Is(err, sync.ErrTLS) || errors.Is(err, sync.ErrNotAuthorized):
			a.log.Error("MQTT broker refuses this agent; records are kept until the settings are fixed", "err", err)
		case ctx.Err() == nil:
			a.log.Warn("MQTT broker not reachable yet; records are kept and sent once it is", "err", err)
		}
	})
	return nil
}

// eventWait bounds how long an event waits for a connection: events raised while the agent
// starts (a recovered store, the camera's first state) come before the broker is connected.
const eventWait = 10 * time.Second

// publishEvents publishes queued events until ctx ends. Events are best effort: one that finds no
// connection waits up to eventWait for one, and the queue drops what does not fit meanwhile.
func (a *agent) publishEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-a.evq:
			if a.mqtt == nil {
				continue
			}
			err := a.mqtt.PublishEvent(ctx, ev.kind, ev.fields)
			if errors.Is(err, sync.ErrNotConnected) {
				wctx, cancel := context.WithTimeout(ctx, eventWait)
				if a.mqtt.WaitConnected(wctx) == nil {
					err = a.mqtt.PublishEvent(ctx, ev.kind, ev.fields)
				}
				cancel()
			}
			if err != nil {
				a.log.Debug("event not published", "kind", ev.kind, "err", err)
			}
		}
	}
}

// status is the agent's part of the MQTT status payload.
func (a *agent) status() sync.StatusInfo {
	st := a.db.Stats()
	ref := a.modelRef.Load()
	drops := make(map[string]uint64, len(st.Drops)+1)
	for k, v := range st.Drops {
		drops[k] = v
	}
	if n := a.storeDrops.Load(); n > 0 {
		drops["store_error"] = n
	}
	extra := map[string]any{
		"camera":         a.camState.Load(),
		"frames":         a.frames.Load(),
		"fps":            a.fps.rate(time.Now()),
		"runtime":        a.runtime.Load().choice.Runtime,
		"runtime_choice": a.runtime.Load().choice,
		"infer_ms":       float64(a.inferNanos.Load()/1000) / 1000,
		"model_sha256":   ref.SHA256,
		"model_version":  ref.Version,
		"store_error":    st.LastError,
		"motion":         a.motionStatus(),
	}
	if a.ota != nil {
		extra["ota"] = a.ota.StatusInfo()["ota"]
	}
	if r := a.recovered.Load(); r != nil {
		extra["store_recovered"] = map[string]any{"moved_to": r.MovedTo, "at": r.At.UTC(), "cause": r.Cause.Error(), "next_seq": r.NextSeq}
	}
	return sync.StatusInfo{Model: ref.Name, Backlog: st.Records, Drops: drops, Extra: extra}
}
