// Package apiserver serves Lodestone's WebSocket API: it admits each
// handshake through an httpguard.Guard (token or API key, Origin, Host) and
// within the connection caps, then runs one reader and one writer per
// connection, dispatching requests through an explicit method table and
// forwarding hub events through a bounded queue. A connection opened with
// an API key is held to the key's scope (api.MethodScope) and ends with
// its revocation (scope.go).
package apiserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/events"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
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
	// Guard admits or refuses each handshake. Required.
	Guard *httpguard.Guard
	// MaxMessageBytes caps one incoming message.
	MaxMessageBytes int64
	// WriteTimeout bounds every write to a client.
	WriteTimeout time.Duration
	// PingInterval is how often an idle client is pinged; one that does not
	// answer within the interval is closed.
	PingInterval time.Duration
	// Inflight caps concurrently running requests per connection.
	Inflight int
	// MaxConns and MaxConnsPerIP cap open connections, in total and from
	// one non-loopback address; a handshake over either cap is refused
	// with HTTP 503.
	MaxConns      int
	MaxConnsPerIP int
	// MaxDepth caps JSON nesting of a request (error 101 beyond it).
	MaxDepth int
	// RequestRate (frames per second) and RequestBurst throttle the
	// frames one connection sends; a negative RequestRate disables it.
	RequestRate  float64
	RequestBurst int
	// ObserveRequest, if set, is called once per request answered, with
	// its method (MethodUnknown or MethodInvalid when there is none to
	// name), the answer's code and how long the method ran. It must be
	// quick and safe for concurrent use.
	ObserveRequest func(method string, code api.Code, took time.Duration)
	// Methods are served beside the service's, by name. A name the server
	// already serves makes New panic.
	Methods map[string]Handler
	// Router, in cluster mode, is asked first about every request of a
	// known method (after the credential's scope allowed it): it answers
	// those that belong to another node, and leaves the rest to this
	// daemon. Nil serves every request here.
	Router Router
	// Cluster, in cluster mode, names the cluster and this node in
	// server.info; nil otherwise.
	Cluster *api.ClusterInfo
	// Logger receives the server's logs.
	Logger *slog.Logger
}

// Method labels for ObserveRequest when a request names no known method:
// arbitrary names from clients are not passed on.
const (
	MethodUnknown = "(unknown)"
	MethodInvalid = "(invalid)"
)

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
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.RequestRate == 0 {
		c.RequestRate = DefaultRequestRate
	}
	if c.RequestBurst <= 0 {
		c.RequestBurst = DefaultRequestBurst
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
	guard   *httpguard.Guard
	conns   *connCounter

	ctx    context.Context // cancelled by Close: ends every connection
	cancel context.CancelFunc

	// mu orders the handshakes' wg.Add with Close's wg.Wait: a handshake
	// that arrives after Close (http.Server.Shutdown does not wait for
	// hijacked connections, so one may still be in ServeHTTP) is refused
	// instead of adding to a WaitGroup being waited for.
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // running ServeHTTP calls
}

// New returns a Server for svc and hub. Close it to end all connections.
func New(cfg Config, svc *service.Service, hub *events.Hub) (*Server, error) {
	if cfg.Guard == nil {
		return nil, errors.New("apiserver: a guard is required")
	}
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, svc: svc, hub: hub, log: cfg.Logger, guard: cfg.Guard, ctx: ctx, cancel: cancel}
	s.methods = s.methodTable()
	s.conns = newConnCounter(cfg.MaxConns, cfg.MaxConnsPerIP)
	return s, nil
}

// Connections returns the number of open WebSocket connections.
func (s *Server) Connections() int { return s.conns.open() }

func (s *Server) observe(method string, code api.Code, took time.Duration) {
	if s.cfg.ObserveRequest != nil {
		s.cfg.ObserveRequest(method, code, took)
	}
}

// Close ends every connection with "going away" and waits for their
// goroutines. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// enter counts a ServeHTTP call in s.wg, or reports false once Close has
// begun.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// ServeHTTP checks the handshake and runs the connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		httpguard.WriteError(w, http.StatusServiceUnavailable, api.CodeUnavailable, errShuttingDown.Error())
		return
	}
	defer s.wg.Done()
	principal, ref := s.guard.Authenticate(r)
	if ref != nil {
		s.guard.Refuse(w, r, ref)
		return
	}
	release, reason := s.conns.acquire(httpguard.ClientKey(r.RemoteAddr))
	if release == nil {
		s.log.Warn("handshake refused", "remote", r.RemoteAddr, "reason", reason)
		httpguard.WriteError(w, http.StatusServiceUnavailable, api.CodeUnavailable, reason)
		return
	}
	defer release()
	// Origin was checked above against Host; the library's own same-origin
	// check stays on as a second line. Compression stays off (the
	// library's default), so the read limit is the message size.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.log.Warn("websocket accept", "remote", r.RemoteAddr, "err", err)
		return
	}
	c.SetReadLimit(s.cfg.MaxMessageBytes)
	newConn(s, c, r.RemoteAddr, principal).run(s.ctx)
}
