// Package apiserver serves Lodestone's WebSocket API: it checks each
// handshake (token, Origin, Host), then runs one reader and one writer per
// connection, dispatching requests through an explicit method table and
// forwarding hub events through a bounded queue.
package apiserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/service"
)

// Defaults for Config fields left zero.
const (
	// DefaultMaxMessageBytes admits a 10 MiB .torrent in base64 with room
	// for the envelope.
	DefaultMaxMessageBytes = 16 << 20
	DefaultWriteTimeout    = 10 * time.Second
	DefaultPingInterval    = 30 * time.Second
	// DefaultInflight is how many requests of one connection run at once.
	DefaultInflight = 16
)

// Config configures a Server.
type Config struct {
	// Token must be presented by every connection. Required.
	Token string
	// Hosts are extra host names accepted in the Host header besides
	// loopback names and IP literals (DNS-rebinding defence).
	Hosts []string
	// MaxMessageBytes caps one incoming message.
	MaxMessageBytes int64
	// WriteTimeout bounds every write to a client.
	WriteTimeout time.Duration
	// PingInterval is how often an idle client is pinged; one that does not
	// answer within the interval is closed.
	PingInterval time.Duration
	// Inflight caps concurrently running requests per connection.
	Inflight int
	// Logger receives the server's logs.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.Inflight <= 0 {
		c.Inflight = DefaultInflight
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the http.Handler of the WebSocket endpoint.
type Server struct {
	cfg     Config
	svc     *service.Service
	hub     *events.Hub
	log     *slog.Logger
	methods map[string]handler

	ctx    context.Context // cancelled by Close: ends every connection
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Server for svc and hub. Close it to end all connections.
func New(cfg Config, svc *service.Service, hub *events.Hub) (*Server, error) {
	if cfg.Token == "" {
		return nil, errors.New("apiserver: a token is required")
	}
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, svc: svc, hub: hub, log: cfg.Logger, ctx: ctx, cancel: cancel}
	s.methods = s.methodTable()
	return s, nil
}

// Close ends every connection with "going away" and waits for their
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// ServeHTTP checks the handshake and runs the connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.checkHandshake(r); err != nil {
		s.log.Warn("handshake refused", "remote", r.RemoteAddr, "reason", err.msg)
		writeHTTPError(w, err.status, err.code, err.msg)
		return
	}
	// Origin was checked above against Host; the library's own same-origin
	// check stays on as a second line.
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Warn("websocket accept", "remote", r.RemoteAddr, "err", err)
		return
	}
	c.SetReadLimit(s.cfg.MaxMessageBytes)
	s.wg.Add(1)
	defer s.wg.Done()
	newConn(s, c, r.RemoteAddr).run(s.ctx)
}

type handshakeError struct {
	status int
	code   api.Code
	msg    string
}

func (s *Server) checkHandshake(r *http.Request) *handshakeError {
	if !s.hostAllowed(r.Host) {
		return &handshakeError{http.StatusForbidden, api.CodeUnauthorized, "host " + r.Host + " is not allowed"}
	}
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
		return &handshakeError{http.StatusForbidden, api.CodeUnauthorized, "cross-origin WebSocket refused: " + origin}
	}
	if !s.tokenOK(r) {
		return &handshakeError{http.StatusUnauthorized, api.CodeUnauthorized, "missing or wrong token"}
	}
	return nil
}

// tokenOK accepts "Authorization: Bearer <token>" or "?token=<token>",
// comparing in constant time.
func (s *Server) tokenOK(r *http.Request) bool {
	got := r.URL.Query().Get("token")
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(tok)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// hostAllowed accepts loopback names, IP literals and configured names, so
// a DNS name rebound to 127.0.0.1 by a web page is refused.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil {
		return true
	}
	for _, h := range s.cfg.Hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// sameOrigin reports whether an Origin header names the host being
// connected to (any scheme). "null" and unparsable origins are foreign.
func sameOrigin(origin, host string) bool {
	_, rest, ok := strings.Cut(origin, "://")
	if !ok {
		return false
	}
	rest, _, _ = strings.Cut(rest, "/")
	return strings.EqualFold(rest, host)
}

func writeHTTPError(w http.ResponseWriter, status int, code api.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Response{Error: code, Message: msg, Result: json.RawMessage("null")})
}
