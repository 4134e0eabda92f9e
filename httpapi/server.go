// Package httpapi is the agent's local HTTP server: health and readiness probes, Prometheus
// metrics, a REST predict endpoint running the live model on uploaded images, the status payload,
// the newest processed frame, and a small status page updated live with server-sent events.
//
//	GET  /healthz           liveness: 200 while the server runs (never needs the token)
//	GET  /readyz            camera, model, store and broker, each with its state; 503 unless all are ready
//	GET  /metrics           Prometheus text format
//	POST /v1/predict        a JPEG, PNG or BMP (raw body or multipart) in, the prediction JSON out
//	GET  /v1/status         the status payload (as on the MQTT status topic)
//	GET  /v1/snapshot.jpg   the newest processed frame with its boxes drawn
//	GET  /v1/events         server-sent events: status, record, frame
//	GET  /                  the status page (embedded; nothing is fetched from elsewhere)
//
// The server knows nothing of cameras or models: the agent implements Agent and Predictor and
// feeds frames and records in with PublishFrame and PublishRecord.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	gosync "sync"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultListen keeps the server off the public interfaces.
	DefaultListen             = "127.0.0.1:8080"
	DefaultPredictMaxBytes    = 8 << 20
	DefaultPredictMaxPixels   = 25_000_000
	DefaultPredictConcurrency = 1
	DefaultPredictQueue       = 2
	DefaultLiveFPS            = 5
	DefaultRecentRecords      = 20
	DefaultStatusInterval     = time.Second
	DefaultMaxEventClients    = 16
)

// Config configures a Server. The zero value serves on DefaultListen without a token.
type Config struct {
	// Listen is the TCP address (host:port; port 0 picks a free one, see Server.Addr).
	Listen string
	// TokenFile, when set, names a file holding the token that every request but /healthz must
	// present: "Authorization: Bearer <token>", or the session cookie the page's sign-in sets.
	// The token must be at least 16 characters.
	TokenFile string
	// PredictMaxBytes caps an uploaded image (413 above it).
	PredictMaxBytes int64
	// PredictMaxPixels caps an uploaded image's width times height (413 above it).
	PredictMaxPixels int
	// PredictConcurrency is how many predictions run at once and PredictQueue how many more may
	// wait for one; requests beyond both get 429.
	PredictConcurrency int
	PredictQueue       int
	// LiveFPS caps how often WantFrame asks for a new frame while someone watches.
	LiveFPS float64
	// RecentRecords is how many of the last records a newly opened page receives.
	RecentRecords int
	// StatusInterval is how often the page's status is refreshed.
	StatusInterval time.Duration
	// MaxEventClients bounds the open /v1/events streams (503 beyond).
	MaxEventClients int
}

func (c Config) withDefaults() (Config, error) {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return c, fmt.Errorf("listen address %q: %w", c.Listen, err)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.PredictMaxBytes == 0 {
		c.PredictMaxBytes = DefaultPredictMaxBytes
	}
	def(&c.PredictMaxPixels, DefaultPredictMaxPixels)
	def(&c.PredictConcurrency, DefaultPredictConcurrency)
	def(&c.RecentRecords, DefaultRecentRecords)
	def(&c.MaxEventClients, DefaultMaxEventClients)
	if c.LiveFPS == 0 {
		c.LiveFPS = DefaultLiveFPS
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	switch {
	case c.PredictMaxBytes < 1<<10 || c.PredictMaxBytes > 1<<30:
		return c, fmt.Errorf("predict max bytes %d: want 1KiB to 1GiB", c.PredictMaxBytes)
	case c.PredictMaxPixels < 1:
		return c, fmt.Errorf("predict max pixels %d: want at least 1", c.PredictMaxPixels)
	case c.PredictConcurrency < 1 || c.PredictConcurrency > 64:
		return c, fmt.Errorf("predict concurrency %d: want 1 to 64", c.PredictConcurrency)
	case c.PredictQueue < 0 || c.PredictQueue > 1024:
		return c, fmt.Errorf("predict queue %d: want 0 to 1024", c.PredictQueue)
	case c.LiveFPS < 0.1 || c.LiveFPS > 60:
		return c, fmt.Errorf("live fps %v: want 0.1 to 60", c.LiveFPS)
	case c.RecentRecords < 1 || c.RecentRecords > 1000:
		return c, fmt.Errorf("recent records %d: want 1 to 1000", c.RecentRecords)
	case c.StatusInterval < 100*time.Millisecond:
		return c, fmt.Errorf("status interval %v: want at least 100ms", c.StatusInterval)
	case c.MaxEventClients < 1:
		return c, fmt.Errorf("max event clients %d: want at least 1", c.MaxEventClients)
	}
	return c, nil
}

// Agent is the running agent as the server sees it. Its methods are called from request
// handlers, concurrently, and must be quick.
type Agent interface {
	// Status returns the status payload: the JSON object the agent publishes on its MQTT status
	// topic. The page shows its device, agent_version, model, model_version, runtime, camera,
	// fps, infer_ms, backlog, drops and uptime_s fields.
	Status() any
	// Checks reports the readiness of each part (camera, model, store, broker), in display order.
	Checks() []Check
}

// Check is the readiness of one part of the agent.
type Check struct {
	Name   string `json:"-"`
	Ready  bool   `json:"ready"`
	State  string `json:"state"`            // e.g. connected, reconnecting, loaded, disabled
	Reason string `json:"reason,omitempty"` // why it is not ready (or any detail worth showing)
}

// Predictor runs the live model on an uploaded image. The agent implements it with an
// interpreter of its own, so predictions never disturb the camera pipeline.
type Predictor interface {
	// Predict returns the prediction for image, a JPEG, PNG or BMP file whose header the server
	// checked (format, size), as records carry it (JSON-encodable). At most
	// Config.PredictConcurrency calls run at once. An error wrapping ErrUnavailable answers 503,
	// one wrapping ErrImage 400, any other 500.
	Predict(ctx context.Context, image []byte) (any, error)
}

// Errors a Predictor wraps to choose the answer.
var (
	// ErrUnavailable means no model can run now (one failed to load, say): the client may retry.
	ErrUnavailable = errors.New("prediction unavailable")
	// ErrImage means the image cannot be used (it does not decode, it is cut off).
	ErrImage = errors.New("unusable image")
)

// Deps are what the server serves. Agent is required.
type Deps struct {
	Agent Agent
	// Predictor serves /v1/predict; nil answers 503.
	Predictor Predictor
	// Metrics serves /metrics (metrics.Metrics.Handler); nil answers 404.
	Metrics http.Handler
	Logger  *slog.Logger
}

// Server is the HTTP server. Create it with New, start it with Start, stop it with Shutdown;
// PublishFrame, PublishRecord and WantFrame are safe to call from any goroutine.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	auth    *auth // nil without a token
	live    *live
	handler http.Handler

	admit     chan struct{} // predictions running or waiting
	slots     chan struct{} // predictions running
	predicts  gosync.WaitGroup
	done      chan struct{} // closed by Shutdown: event streams end
	closeOnce gosync.Once

	mu      gosync.Mutex // guards the fields below
	srv     *http.Server
	ln      net.Listener
	served  chan struct{} // closed when Serve returns
	closing bool          // Shutdown has begun: no new predictions
}

// New validates cfg, reads the token file and returns a Server that is not listening yet.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if deps.Agent == nil {
		return nil, errors.New("httpapi: no Agent")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:   cfg,
		deps:  deps,
		log:   deps.Logger,
		live:  newLive(cfg),
		admit: make(chan struct{}, cfg.PredictConcurrency+cfg.PredictQueue),
		slots: make(chan struct{}, cfg.PredictConcurrency),
		done:  make(chan struct{}),
	}
	if cfg.TokenFile != "" {
		if s.auth, err = loadAuth(cfg.TokenFile, s.log); err != nil {
			return nil, err
		}
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the server's handler, with authentication and the security headers.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.deps.Metrics != nil {
		mux.Handle("GET /metrics", s.deps.Metrics)
	}
	mux.HandleFunc("POST /v1/predict", s.predict)
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("GET /v1/snapshot.jpg", s.snapshot)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /ui/", uiFiles())
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)

	var h http.Handler = mux
	h = s.authenticate(h)
	// Browsers tell cross-site requests apart (Sec-Fetch-Site, Origin): a page elsewhere cannot
	// post an image or a sign-in here on the user's behalf.
	h = http.NewCrossOriginProtection().Handler(h)
	if loopbackListen(s.cfg.Listen) {
		h = loopbackHostOnly(h)
	}
	return securityHeaders(h)
}

// Start listens on Config.Listen and serves in a goroutine of its own until Shutdown. It returns
// the listen error (the port is taken, the address is not local).
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.srv, s.ln, s.served = srv, ln, make(chan struct{})
	served := s.served
	s.mu.Unlock()
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
	s.log.Info("http server listening", "url", s.URL())
	return nil
}

// Addr returns the address the server listens on (nil before Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns the page's address, http://host:port/ ("" before Start). An unspecified host
// (0.0.0.0, ::) is shown as 127.0.0.1.
func (s *Server) URL() string {
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(a.Port)) + "/"
}

// Shutdown stops the server: it ends the event streams, stops accepting connections and waits
// for the requests in flight, until ctx ends; then it closes the connections that are left. It
// returns only when no Predict call is running, so the predictor's interpreter can be closed
// after it. It may be called without Start, and more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.done) })
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.closing = true
	s.mu.Unlock()
	var err error
	if srv != nil {
		if err = srv.Shutdown(ctx); err != nil {
			srv.Close()
			err = fmt.Errorf("http shutdown: %w", err)
		}
		<-served
	}
	s.predicts.Wait()
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the /readyz body and the page's view of the checks.
type readiness struct {
	Ready  bool             `json:"ready"`
	Checks map[string]Check `json:"checks"`
}

func (s *Server) readiness() readiness {
	checks := s.deps.Agent.Checks()
	r := readiness{Ready: len(checks) > 0, Checks: make(map[string]Check, len(checks))}
	for _, c := range checks {
		r.Ready = r.Ready && c.Ready
		r.Checks[c.Name] = c
	}
	return r
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	r := s.readiness()
	code := http.StatusOK
	if !r.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, r)
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.deps.Agent.Status())
}

// errorBody is every error response's JSON.
type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, errorBody{Error: fmt.Sprintf(format, args...), Status: code})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "response does not encode as JSON: " + err.Error(), Status: code})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// securityHeaders keeps the page from being framed, sniffed or scripted from elsewhere.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
			"img-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

// loopbackListen reports whether addr's host is a loopback address or name.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && isLoopbackHost(host)
}

func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// loopbackHostOnly refuses requests naming another host while the server listens on loopback
// only: a web page whose name an attacker re-points at 127.0.0.1 (DNS rebinding) cannot read the
// camera or the API from the user's browser.
func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !isLoopbackHost(host) {
			writeError(w, http.StatusForbidden, "host %q is not a loopback name; the server listens on loopback only", r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}
