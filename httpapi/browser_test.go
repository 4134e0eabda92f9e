package httpapi

import (
	"context"
	gosync "sync"
	"testing"
	"time"

	"github.com/edge-agent/edge-agent/internal/browsertest"
	"github.com/edge-agent/edge-agent/metrics"
)

// The status page in headless chromium, signed in with the token, against a server fed by the
// sample clip decoded with gocv and run through the bundled SSD: the page must show the model,
// a cat from the clip, frames per second above zero and the live frame.
func TestBrowserStatusPage(t *testing.T) {
	browser := browsertest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	p := startPipeline(t, ctx)
	m := metrics.New(metrics.BuildInfo{Version: "v0-test"}, metrics.Sources{})
	srv, err := New(Config{Listen: "127.0.0.1:0", TokenFile: writeToken(t, goodToken)},
		Deps{Agent: p, Predictor: p.ssd, Metrics: m.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	p.srv = srv
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var wg gosync.WaitGroup
	wg.Go(func() {
		if err := p.run(ctx); err != nil {
			t.Errorf("pipeline: %v", err)
		}
	})
	defer func() {
		cancel()
		wg.Wait()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()

	browser.StatusPage(t, srv.URL(), browsertest.Want{Token: goodToken, Model: modelName, Label: "cat"})
}
