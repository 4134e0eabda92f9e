package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"
)

// MinTokenLength is the shortest token accepted from Config.TokenFile.
const MinTokenLength = 16

// sessionCookie is the cookie the sign-in sets, for the page's own requests (a browser cannot
// add an Authorization header to a page load, an image or an event stream).
const (
	sessionCookie = "edge_agent_session"
	sessionMaxAge = 30 * 24 * time.Hour
)

// ErrToken is wrapped by errors about an unusable token file.
var ErrToken = errors.New("bad token file")

// auth checks the bearer token or the session cookie derived from it.
type auth struct {
	tokenSum [sha256.Size]byte
	// session is the cookie's value: an HMAC of a fixed string under the token, so the cookie
	// is not the token itself and changing the token signs every browser out.
	session [sha256.Size]byte
}

// CheckTokenFile reports whether path holds a usable token, as New would read it.
func CheckTokenFile(path string) error {
	_, err := loadAuth(path, slog.New(slog.DiscardHandler))
	return err
}

func loadAuth(path string, log *slog.Logger) (*auth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return nil, fmt.Errorf("%w: %s is empty", ErrToken, path)
	case len(tok) < MinTokenLength:
		return nil, fmt.Errorf("%w: %s holds a token of %d characters; use at least %d (e.g. openssl rand -hex 32)", ErrToken, path, len(tok), MinTokenLength)
	case strings.ContainsFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		return nil, fmt.Errorf("%w: %s: the token must be one line of printable characters without spaces", ErrToken, path)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o007 != 0 {
		log.Warn("http token file is readable by every user on the device", "path", path, "mode", fi.Mode().Perm().String())
	}
	a := &auth{tokenSum: sha256.Sum256([]byte(tok))}
	mac := hmac.New(sha256.New, []byte(tok))
	mac.Write([]byte("edge-agent session v1"))
	copy(a.session[:], mac.Sum(nil))
	return a, nil
}

// tokenOK compares in constant time; hashing first makes the comparison's length fixed too.
func (a *auth) tokenOK(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) == 1
}

// check reports whether r carries the token or the session cookie; bad reports a credential
// that was presented and is wrong (rather than missing).
func (a *auth) check(r *http.Request) (ok, bad bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return false, true
		}
		ok := a.tokenOK(strings.TrimSpace(tok))
		return ok, !ok
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		v, err := hex.DecodeString(c.Value)
		ok := err == nil && subtle.ConstantTimeCompare(v, a.session[:]) == 1
		return ok, !ok
	}
	return false, false
}

// authenticate requires the token everywhere but /healthz and the sign-in page (with its
// stylesheet and icon). A browser loading a page is sent to the sign-in; API clients get 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.auth == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/login", "/ui/style.css", "/ui/favicon.svg":
			next.ServeHTTP(w, r)
			return
		}
		ok, bad := s.auth.check(r)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == "/" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if bad {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edge-agent", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="edge-agent"`)
		writeError(w, http.StatusUnauthorized, "this device needs a token: send Authorization: Bearer <token> (the contents of http.token_file)")
	})
}

var loginTemplate = template.Must(template.ParseFS(uiFS, "ui/login.html"))

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.auth == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	renderLogin(w, http.StatusOK, "")
}

func renderLogin(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	loginTemplate.Execute(w, struct{ Error string }{msg})
}

// login takes the token from the sign-in form and sets the session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.auth == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		renderLogin(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if !s.auth.tokenOK(strings.TrimSpace(r.PostForm.Get("token"))) {
		s.log.Warn("http sign-in with a wrong token", "remote", r.RemoteAddr)
		renderLogin(w, http.StatusUnauthorized, "Wrong token.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    hex.EncodeToString(s.auth.session[:]),
		Path:     "/",
		MaxAge:   int(sessionMaxAge.Seconds()),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
