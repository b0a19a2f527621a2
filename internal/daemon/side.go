package daemon

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// side is a listener that serves one of the daemon's APIs alone, on a
// port of its own (--transmission-addr, --qbittorrent-addr), for tools
// that assume their daemon's port. It has the API listener's connection
// caps, TLS and guard; any other path is 404 there.
type side struct {
	name string // what it serves, for errors: "transmission rpc"
	addr string // the listener's address, kept after Close
	ln   net.Listener
	srv  *http.Server
}

// listenSide opens the side listener on addr (given as flag).
func (d *Daemon) listenSide(name, flag, addr string, tlsConfig *tls.Config) (*side, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", flag, err)
	}
	s := &side{name: name, addr: ln.Addr().String(), ln: d.conns.Listener(ln, tlsConfig)}
	d.sides = append(d.sides, s)
	return s, nil
}

// serveOnly makes s serve h at patterns, and nothing else.
func (d *Daemon) serveOnly(s *side, h http.Handler, patterns ...string) {
	mux := http.NewServeMux()
	for _, p := range patterns {
		mux.Handle(p, h)
	}
	s.srv = d.httpServer(mux)
}

// httpServer returns an HTTP server of the daemon's for h: handshake and
// keep-alive limits (WebSocket connections are hijacked and kept alive by
// pings instead), and the connection guard's hooks, which close an
// unauthenticated connection after connguard.DefaultUnauthIdle idle
// instead and count it against their caps.
func (d *Daemon) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       d.conns.ConnContext,
		ConnState:         d.conns.ConnState,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
}

// sideAddr returns s's address, "" when s is off (nil).
func sideAddr(s *side) string {
	if s == nil {
		return ""
	}
	return s.addr
}
