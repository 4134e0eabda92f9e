package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edge-agent/edge-agent/camera"
	"github.com/edge-agent/edge-agent/store"
	"github.com/edge-agent/edge-agent/sync"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	outboxRecords  = desc("outbox_records", "Records waiting in the outbox for the broker's acknowledgement.")
	outboxBytes    = desc("outbox_bytes", "Size of the outbox's backlog: payloads plus 16 bytes per record (the measure store.max_bytes bounds).")
	storeFileBytes = desc("store_file_bytes", "Size of the database file.")
	recordsStored  = desc("records_stored_total", "Records committed to the outbox since the agent started.")
	recordsDropped = desc("records_dropped_total", "Records that left the outbox undelivered, by reason: the outbox's bounds (counted over the database's life) or a failed append.", "reason")
	storeCommits   = desc("store_commits_total", "Transactions committed since the agent started (appends share them).")
	storeFailures  = desc("store_commit_errors_total", "Transactions that failed since the agent started.")

	mqttConnected  = desc("mqtt_connected", "1 while connected to the MQTT broker.")
	mqttPublished  = desc("mqtt_published_total", "Predictions published, resends included.")
	mqttAcked      = desc("mqtt_acked_total", "Predictions acknowledged by the broker and removed from the outbox.")
	mqttReconnects = desc("mqtt_reconnects_total", "Connections made to the broker after the first.")
	mqttLastAck    = desc("mqtt_last_ack_timestamp_seconds", "When the broker last acknowledged a prediction (Unix time); absent before the first.")
	mqttDenied     = desc("mqtt_publish_denied", "1 while the broker acknowledges predictions but does not deliver them (ACL).")
	mqttBroker     = desc("mqtt_broker_info", "1 for the broker the client is connected to (one of mqtt.urls); absent while disconnected.", "url")

	cameraState = desc("camera_state", "1 for the camera's current state (connecting, connected, reconnecting, stopped), 0 for the others.", "state")
)

var cameraStates = []camera.State{camera.StateConnecting, camera.StateConnected, camera.StateReconnecting, camera.StateStopped}

// sourceCollector reads the store, the MQTT client and the camera at scrape time.
type sourceCollector struct {
	src         Sources
	storeErrors *atomic.Uint64
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{outboxRecords, outboxBytes, storeFileBytes, recordsStored, recordsDropped,
		storeCommits, storeFailures, mqttConnected, mqttPublished, mqttAcked, mqttReconnects, mqttLastAck, mqttDenied, mqttBroker, cameraState} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	bit := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}

	if c.src.Store != nil {
		st := c.src.Store()
		gauge(outboxRecords, float64(st.Records))
		gauge(outboxBytes, float64(st.Bytes))
		gauge(storeFileBytes, float64(st.FileSize))
		counter(recordsStored, st.Appended)
		counter(storeCommits, st.Commits)
		counter(storeFailures, st.CommitErrors)
		// Every reason is exported, at 0 until it happens, so rate() and alerts see it from the start.
		for _, r := range []string{store.DropMaxRecords, store.DropMaxBytes, store.DropMaxAge} {
			counter(recordsDropped, st.Drops[r], r)
		}
	}
	counter(recordsDropped, c.storeErrors.Load(), RecordStoreError)

	if c.src.Sync != nil {
		st := c.src.Sync()
		gauge(mqttConnected, bit(st.State == sync.StateConnected))
		counter(mqttPublished, st.Published)
		counter(mqttAcked, st.Acked)
		counter(mqttReconnects, st.Reconnects)
		gauge(mqttDenied, bit(st.PublishDenied))
		if st.Broker != "" {
			gauge(mqttBroker, 1, st.Broker)
		}
		if !st.LastAck.IsZero() {
			gauge(mqttLastAck, float64(st.LastAck.UnixNano())/1e9)
		}
	}

	if c.src.Camera != nil {
		now := c.src.Camera()
		for _, s := range cameraStates {
			gauge(cameraState, bit(s == now), s.String())
		}
	}
}
