// Package sync publishes the outbox to an MQTT broker in sequence order, at least once, and
// receives commands and model updates. It knows topics and payload encodings, not what a
// prediction means.
package sync
