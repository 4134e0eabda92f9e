// Package agent is the edge-agent daemon: configuration, the capture -> infer -> store -> sync
// pipeline, and its lifecycle.
package agent
