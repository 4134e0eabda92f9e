package ota_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/ota"
	"github.com/edge-agent/edge-agent/ota/otatest"

	"github.com/edge-agent/edge-agent/internal/mqtttest"
)

// TestShadow runs candidates beside the active model on live frames: one that agrees and is
// fast enough is activated; one that disagrees, one that is too slow and one that fails on a
// frame are refused, and the active model never changes for them.
func TestShadow(t *testing.T) {
	b := mqtttest.Start(t, mqtttest.Options{})
	op := newOperator(t, b.URL())
	s := otatest.NewSigner(t)
	model := otatest.ReadFile(t, otatest.Sin)
	cat := func(x float64) ota.Prediction {
		return ota.Prediction{Detect: true, LatencyMS: 20, Detections: []ota.Detection{{Label: "cat", Box: ota.Box{X: x, Y: 10, W: 100, H: 80}}}}
	}
	for _, tc := range []struct {
		name   string
		sample func(n int) ota.ShadowSample
		spec   ota.ShadowSpec
		state  string
		reason string
	}{
		{"agrees", func(n int) ota.ShadowSample {
			c := cat(12) // IoU 0.96
			c.LatencyMS = 30
			return ota.ShadowSample{Active: cat(10), Candidate: c}
		}, ota.ShadowSpec{Frames: 10, MinAgreementPct: 90, MaxLatencyMS: 50}, ota.StateCommitted, ""},
		{"disagrees", func(n int) ota.ShadowSample {
			if n%2 == 0 {
				return ota.ShadowSample{Active: cat(10), Candidate: cat(80)} // IoU 0.11
			}
			return ota.ShadowSample{Active: cat(10), Candidate: cat(10)}
		}, ota.ShadowSpec{Frames: 10, MinAgreementPct: 90}, ota.StateRejected, "shadow: agreement 50.0% over 10 frames is below the required 90%"},
		{"too slow", func(n int) ota.ShadowSample {
			c := cat(10)
			c.LatencyMS = 400
			return ota.ShadowSample{Active: cat(10), Candidate: c}
		}, ota.ShadowSpec{Frames: 10, MinAgreementPct: 90, MaxLatencyMS: 100}, ota.StateRejected, "shadow: candidate p95 latency 400.0 ms exceeds 100 ms (active: 20.0 ms)"},
		{"other task", func(n int) ota.ShadowSample {
			return ota.ShadowSample{Active: cat(10), Candidate: ota.Prediction{Classes: []ota.Class{{Index: 1, Label: "cat"}}}}
		}, ota.ShadowSpec{Frames: 10}, ota.StateRejected, "shadow: the candidate classifies and the active model detects: their results cannot be compared (push a change of task without --shadow)"},
		{"fails", func(n int) ota.ShadowSample {
			return ota.ShadowSample{Active: cat(10), CandidateErr: errors.New("unsupported output shape")}
		}, ota.ShadowSpec{Frames: 10}, ota.StateRejected, "shadow: the candidate failed on a live frame: unsupported output shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "dev-" + strings.ReplaceAll(tc.name, " ", "-")
			d := otatest.StartDevice(t, b.URL(), otatest.Config(t, id, s.Pub))
			base := d.CheckOneValidModel()
			d.RT.SetShadowSample(tc.sample)
			spec := tc.spec
			m, env := s.Update(t, model, ota.UpdateOptions{Version: "2", ChunkSize: 1024, Target: ota.Target{Devices: []string{id}}, Shadow: &spec})
			t.Cleanup(func() { op.publish(ota.DeviceTopic(op.prefix, id, "manifest"), true, nil) })
			op.offerDevice(id, env, m, model)
			st := d.WaitState(tc.state, m.ID, 20*time.Second)
			if st.Shadow == nil || (tc.state == ota.StateCommitted && st.Shadow.Frames != spec.Frames) {
				t.Fatalf("shadow figures %+v", st.Shadow)
			}
			t.Logf("shadow figures: %+v", *st.Shadow)
			if d.RT.Shadowing() {
				t.Fatal("the shadow model was not stopped")
			}
			got := d.CheckOneValidModel()
			if tc.state == ota.StateCommitted {
				if got.SHA256 != m.SHA256 || st.Shadow.AgreementPct != 100 || st.Shadow.Candidate.P95 != 30 {
					t.Fatalf("active %s, figures %+v", got.Name, st.Shadow)
				}
				return
			}
			if st.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", st.Reason, tc.reason)
			}
			if got.SHA256 != base.SHA256 || len(d.RT.Activations()) != 0 {
				t.Fatalf("the refused candidate became active")
			}
			if files := d.StoreFiles(); len(files) != 0 {
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
	s := otatest.NewSigner(t)
	cfg := otatest.Config(t, "dev", s.Pub)
	cfg.ShadowTimeout = 1500 * time.Millisecond
	d := otatest.StartDevice(t, b.URL(), cfg)
	d.RT.SetPaused(true)
	model := otatest.ReadFile(t, otatest.Sin)
	m, env := s.Update(t, model, ota.UpdateOptions{Version: "2", ChunkSize: 1024, Target: ota.Target{Devices: []string{"dev"}},
		Shadow: &ota.ShadowSpec{Frames: 5}})
	op.offerDevice("dev", env, m, model)
	d.WaitState(ota.StateShadow, m.ID, 20*time.Second)
	d.Restart() // in shadow: the run starts again after the restart
	d.RT.SetPaused(true)
	d.WaitState(ota.StateShadow, m.ID, 5*time.Second)
	st := d.WaitState(ota.StateRejected, m.ID, 10*time.Second)
	mustContain(t, st.Reason, "shadow: only 0 of 5 frames within 1.5s")
}
