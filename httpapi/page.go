package httpapi

import (
	"embed"
	"io/fs"
	"net/http"
)

// uiFS is the status page: plain HTML, CSS and JavaScript, no build step, nothing loaded from
// elsewhere.
//
//go:embed ui
var uiFS embed.FS

func uiFiles() http.Handler {
	sub, _ := fs.Sub(uiFS, "ui")
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Revalidate, so an upgraded agent's page is never mixed with a cached older script.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, uiFS, "ui/index.html")
}
