package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edge-agent/edge-agent/tflite/vision"
)

// The cost of serving a prediction over HTTP next to the bare inference of the same model, in
// one run (compare the ratios, not the absolute times: the machine is shared):
//
//	go test -run '^$' -bench . -benchtime 20x ./httpapi/
//
// BenchmarkInvoke is the interpreter alone on a filled input; BenchmarkPredictDirect adds
// decoding the photo's pixels into the input and decoding the detections; BenchmarkPredictHTTP
// adds the request, the JPEG decode and the JSON.

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func BenchmarkInvoke(b *testing.B) {
	s := loadSSD(b)
	img, err := vision.LoadImage(catsJPEG)
	if err != nil {
		b.Fatal(err)
	}
	if err := vision.FillInput(s.ip.Input(0), img, vision.Normalization{Mean: 127.5, Std: 127.5}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.ip.Invoke(); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

func BenchmarkPredictDirect(b *testing.B) {
	s := loadSSD(b)
	img, err := vision.LoadImage(catsJPEG)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.predictImage(context.Background(), img); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}

func BenchmarkPredictHTTP(b *testing.B) {
	srv, err := New(Config{}, Deps{Agent: newStandIn(), Predictor: loadSSD(b)})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	ts := hs.URL
	jpg := readFile(b, catsJPEG)
	for b.Loop() {
		resp, err := http.Post(ts+"/v1/predict", "image/jpeg", bytes.NewReader(jpg))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	reportRate(b)
}
