package apiserver

import (
	"net/http"
	"strconv"
	"time"
)

// TokenCookie is the cookie the web UI sets so that plain links (a file
// streamed into a <video> tag) carry the token; it is accepted wherever
// the token is.
const TokenCookie = "lodestone_token"

// Authorize wraps an HTTP handler with the checks of a WebSocket
// handshake: the Host (DNS rebinding), a foreign Origin, the per-address
// backoff after wrong tokens, and the token itself. A refusal is answered
// with the same status and JSON body as a refused handshake.
func (s *Server) Authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkHandshake(r, clientKey(r.RemoteAddr)); err != nil {
			s.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CheckHost wraps an HTTP handler with the Host check alone: for the web
// UI's static files, which hold no secret but should not be served to a
// page that reached the daemon by a rebound DNS name.
func (s *Server) CheckHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkHost(r); err != nil {
			s.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err *handshakeError) {
	s.log.Warn("request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "reason", err.msg)
	if err.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((err.retryAfter+time.Second-1)/time.Second)))
	}
	WriteHTTPError(w, err.status, err.code, err.msg)
}
