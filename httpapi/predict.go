package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	_ "image/jpeg" // the formats accepted, for their headers
	_ "image/png"

	_ "golang.org/x/image/bmp"
)

// uploadTimeout bounds reading one uploaded image, so a slow or stalled client cannot hold a
// place in the predict queue.
const uploadTimeout = time.Minute

// imageTypes are the Content-Types /v1/predict takes as a raw image body (or a multipart part).
var imageTypes = map[string]bool{
	"image/jpeg": true, "image/png": true, "image/bmp": true, "image/x-ms-bmp": true, "image/x-bmp": true,
	"application/octet-stream": true,
}

// formats are the image.DecodeConfig format names accepted (other decoders may be linked in).
var formats = map[string]bool{"jpeg": true, "png": true, "bmp": true}

const acceptedTypes = "image/jpeg, image/png, image/bmp, application/octet-stream or multipart/form-data with an \"image\" part"

// predict runs the live model on an uploaded image. Requests are admitted up to
// PredictConcurrency+PredictQueue at once (429 beyond), read and their header checked, then wait
// for one of PredictConcurrency slots before the image is decoded and predicted, so at most that
// many decoded images are in memory.
func (s *Server) predict(w http.ResponseWriter, r *http.Request) {
	if s.deps.Predictor == nil {
		writeError(w, http.StatusServiceUnavailable, "predictions are not available on this device")
		return
	}
	if !s.beginPredict() {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	defer s.predicts.Done()
	select {
	case s.admit <- struct{}{}:
		defer func() { <-s.admit }()
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "busy: %d predictions are running or waiting; retry later", cap(s.admit))
		return
	}

	b, code, err := s.readUpload(w, r)
	if err != nil {
		writeError(w, code, "%v", err)
		return
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	switch {
	case errors.Is(err, image.ErrFormat) || err == nil && !formats[format]:
		writeError(w, http.StatusUnsupportedMediaType, "not a JPEG, PNG or BMP image")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "not a valid image: %v", err)
		return
	case cfg.Width <= 0 || cfg.Height <= 0:
		writeError(w, http.StatusBadRequest, "%s image of %dx%d pixels", format, cfg.Width, cfg.Height)
		return
	case int64(cfg.Width)*int64(cfg.Height) > int64(s.cfg.PredictMaxPixels):
		writeError(w, http.StatusRequestEntityTooLarge, "%s image of %dx%d pixels; the limit is %d pixels", format, cfg.Width, cfg.Height, s.cfg.PredictMaxPixels)
		return
	}

	ctx := r.Context()
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return
	case <-s.done:
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	res, err := s.deps.Predictor.Predict(ctx, b)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, res)
	case errors.Is(err, ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "%v", err)
	case errors.Is(err, ErrImage):
		writeError(w, http.StatusBadRequest, "%s image: %v", format, err)
	case ctx.Err() != nil:
		// The client has gone; nobody reads an answer.
	default:
		s.log.Error("prediction failed", "err", err)
		writeError(w, http.StatusInternalServerError, "prediction failed: %v", err)
	}
}

// beginPredict registers a prediction with Shutdown, which waits for them; false once it has
// begun.
func (s *Server) beginPredict() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.predicts.Add(1)
	return true
}

// readUpload returns the uploaded image's bytes: the body itself, or the multipart part named
// "image" (or "file", or the first file). It fails with the status to answer.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	limit := s.cfg.PredictMaxBytes
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("upload of %d bytes; the limit is %d bytes", r.ContentLength, limit)
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: send %s", ct, acceptedTypes)
	}
	// A slow upload must not hold its place for ever; the server sets no global read timeout
	// because of the event streams.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(uploadTimeout))
	body := http.MaxBytesReader(w, r.Body, limit)

	var b []byte
	switch {
	case imageTypes[mt]:
		b, err = io.ReadAll(body)
	case mt == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, http.StatusBadRequest, errors.New("multipart/form-data without a boundary")
		}
		var code int
		if b, code, err = imagePart(multipart.NewReader(body, params["boundary"])); code != 0 {
			return nil, code, err
		}
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("Content-Type %q: send %s", mt, acceptedTypes)
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("upload larger than the limit of %d bytes", limit)
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading the upload: %v", err)
	}
	if len(b) == 0 {
		return nil, http.StatusBadRequest, errors.New("empty image")
	}
	return b, 0, nil
}

// imagePart reads the image part of a multipart form; code is 0 when err is a read error.
func imagePart(mr *multipart.Reader) (b []byte, code int, err error) {
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, http.StatusBadRequest, errors.New(`multipart form without an image part (name it "image")`)
		}
		if err != nil {
			return nil, 0, err
		}
		if name := p.FormName(); name != "image" && name != "file" && p.FileName() == "" {
			p.Close()
			continue
		}
		if pt := p.Header.Get("Content-Type"); pt != "" {
			mt, _, err := mime.ParseMediaType(pt)
			if err != nil || !imageTypes[strings.ToLower(mt)] {
				return nil, http.StatusUnsupportedMediaType, fmt.Errorf("image part of type %q: send %s", pt, acceptedTypes)
			}
		}
		b, err = io.ReadAll(p)
		return b, 0, err
	}
}
