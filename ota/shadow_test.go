package ota

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestShadow runs candidates beside the active model on live frames: one that agrees and is
// fast enough is activated; one that disagrees, one that is too slow and one that fails on a
// frame are refused, and the active model never changes for them.
func TestShadow(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	model := readFile(t, modelSin)
	cat := func(x float64) Prediction {
		return Prediction{Detect: true, LatencyMS: 20, Detections: []Detection{{Label: "cat", Box: Box{X: x, Y: 10, W: 100, H: 80}}}}
	}
	for _, tc := range []struct {
		name   string
		sample func(n int) ShadowSample
		spec   ShadowSpec
		state  string
		reason string
	}{
		{"agrees", func(n int) ShadowSample {
			c := cat(12) // IoU 0.96
			c.LatencyMS = 30
			return ShadowSample{Active: cat(10), Candidate: c}
		}, ShadowSpec{Frames: 10, MinAgreementPct: 90, MaxLatencyMS: 50}, StateCommitted, ""},
		{"disagrees", func(n int) ShadowSample {
			if n%2 == 0 {
				return ShadowSample{Active: cat(10), Candidate: cat(80)} // IoU 0.11
			}
			return ShadowSample{Active: cat(10), Candidate: cat(10)}
		}, ShadowSpec{Frames: 10, MinAgreementPct: 90}, StateRejected, "shadow: agreement 50.0% over 10 frames is below the required 90%"},
		{"too slow", func(n int) ShadowSample {
			c := cat(10)
			c.LatencyMS = 400
			return ShadowSample{Active: cat(10), Candidate: c}
		}, ShadowSpec{Frames: 10, MinAgreementPct: 90, MaxLatencyMS: 100}, StateRejected, "shadow: candidate p95 latency 400.0 ms exceeds 100 ms (active: 20.0 ms)"},
		{"fails", func(n int) ShadowSample {
			return ShadowSample{Active: cat(10), CandidateErr: errors.New("unsupported output shape")}
		}, ShadowSpec{Frames: 10}, StateRejected, "shadow: the candidate failed on a live frame: unsupported output shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "dev-" + strings.ReplaceAll(tc.name, " ", "-")
			d := startDevice(t, b.URL(), deviceConfig(t, id, s.pub))
			base := d.checkOneValidModel()
			d.rt.mu.Lock()
			d.rt.shadowSample = tc.sample
			d.rt.mu.Unlock()
			spec := tc.spec
			m, env := s.update(t, model, UpdateOptions{Version: "2", ChunkSize: 1024, Target: Target{Devices: []string{id}}, Shadow: &spec})
			t.Cleanup(func() { op.publish(DeviceTopic(op.prefix, id, topicManifest), true, nil) })
			op.offer(DeviceTopic(op.prefix, id, topicManifest), DeviceTopic(op.prefix, id, topicChunk), env, m, model, nil)
			st := d.waitState(tc.state, m.ID, 20*time.Second)
			if st.Shadow == nil || (tc.state == StateCommitted && st.Shadow.Frames != spec.Frames) {
				t.Fatalf("shadow figures %+v", st.Shadow)
			}
			t.Logf("shadow figures: %+v", *st.Shadow)
			d.rt.mu.Lock()
			stillShadowing := d.rt.shadow != nil
			d.rt.mu.Unlock()
			if stillShadowing {
				t.Fatal("the shadow model was not stopped")
			}
			got := d.checkOneValidModel()
			if tc.state == StateCommitted {
				if got.SHA256 != m.SHA256 || st.Shadow.AgreementPct != 100 || st.Shadow.Candidate.P95 != 30 {
					t.Fatalf("active %s, figures %+v", got.Name, st.Shadow)
				}
				return
			}
			if st.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", st.Reason, tc.reason)
			}
			if got.SHA256 != base.SHA256 || len(d.rt.activations) != 0 {
				t.Fatalf("the refused candidate became active")
			}
			if files := d.storeFiles(); len(files) != 0 {
				t.Fatalf("model store keeps %v", files)
			}
		})
	}
}

// TestShadowTimeout: a shadow run that does not see its frames (no camera) is refused, and a
// restart during a shadow run starts it again.
func TestShadowTimeout(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := newSigner(t)
	cfg := deviceConfig(t, "dev", s.pub)
	cfg.ShadowTimeout = 1500 * time.Millisecond
	d := startDevice(t, b.URL(), cfg)
	d.rt.setPaused(true)
	model := readFile(t, modelSin)
	m, env := s.update(t, model, UpdateOptions{Version: "2", ChunkSize: 1024, Target: Target{Devices: []string{"dev"}},
		Shadow: &ShadowSpec{Frames: 5}})
	op.offer(DeviceTopic(op.prefix, "dev", topicManifest), DeviceTopic(op.prefix, "dev", topicChunk), env, m, model, nil)
	d.waitState(StateShadow, m.ID, 20*time.Second)
	d.restart() // in shadow: the run starts again after the restart
	d.rt.setPaused(true)
	d.waitState(StateShadow, m.ID, 5*time.Second)
	st := d.waitState(StateRejected, m.ID, 10*time.Second)
	mustContain(t, st.Reason, "shadow: only 0 of 5 frames within 1.5s")
}
