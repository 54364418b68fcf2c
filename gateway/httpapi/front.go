package httpapi

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"qaas.dev/qaas/gateway/connlimit"
)

// front answers, in JSON like every other answer, the requests no route
// should see: those of connections over the connection cap, those with
// oversized headers and those whose path is not in canonical form.
func (s *server) front(mux http.Handler) http.Handler {
	refuse := func(status int, message string) http.HandlerFunc {
		return s.metrics.instrument("other", func(w http.ResponseWriter, _ *http.Request) {
			if status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			writeJSON(w, status, errorBody{Status: status, Error: http.StatusText(status), Message: message})
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if connlimit.Evicted(r.Context()) {
			// Closed to make room as this request arrived: nobody reads
			// an answer.
			return
		}
		restricted := connlimit.Restricted(r.Context())
		if restricted {
			// The connection is over the cap: it serves this one request
			// and makes room.
			w.Header().Set("Connection", "close")
		}
		switch {
		case restricted && !operationsPath(r.URL.Path):
			refuse(http.StatusServiceUnavailable, "the gateway holds as many connections as it may: retry in a moment, or reuse a keep-alive connection")(w, r)
		case headerBytes(r) > s.Limits.MaxHeaderBytes:
			refuse(http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("request line and headers are %d bytes, more than the %d allowed", headerBytes(r), s.Limits.MaxHeaderBytes))(w, r)
		case cleanPath(r.URL.Path) != r.URL.Path:
			// http.ServeMux would redirect to the clean path with an HTML
			// body. An API client does not expect that: following a
			// redirect drops a POST body or replays it depending on the
			// client, and a path like //topic/x is a bug on the client's
			// side that is better reported than papered over.
			refuse(http.StatusNotFound, fmt.Sprintf("no such route: the path must be in canonical form, such as %s", cleanPath(r.URL.Path)))(w, r)
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// operationsPath says whether p is served to connections over the cap, so
// that probes and scrapes still get through a flood of connections.
func operationsPath(p string) bool {
	return p == "/healthz" || p == "/readyz" || p == "/metrics"
}

// headerBytes is the size of r's request line and headers as sent over
// HTTP/1.1.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// cleanPath is p as http.ServeMux cleans it: no empty, "." or ".."
// element, a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}
