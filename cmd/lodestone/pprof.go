package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// pprofServer serves Go's profiler (net/http/pprof). It is for
// performance work, off by default, and only ever on a loopback address:
// profiles reveal memory contents and cost CPU.
type pprofServer struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// listenPprof checks addr and listens on it; run then serves.
func listenPprof(addr string, log *slog.Logger) (*pprofServer, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("pprof-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("pprof-addr %q: only a loopback address is allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof-addr: %w", err)
	}
	log.Info("pprof listening", "addr", ln.Addr().String())
	return &pprofServer{
		ln:  ln,
		srv: &http.Server{ReadHeaderTimeout: 10 * time.Second},
		log: log,
	}, nil
}

// pprofHandler serves the profiles behind the API's gates (Host, Origin,
// token, backoff): a page that reached the port by a rebound DNS name, or
// any client without the token, gets nothing. The command line is never
// served (it may hold the token); /debug/pprof/cmdline is 404.
func pprofHandler(g *httpguard.Guard) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/debug/pprof/cmdline" {
			http.NotFound(w, r)
			return
		}
		pprof.Index(w, r)
	})
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// Profiles are the daemon's internals: the token or an admin key.
	return g.AuthorizeScope(api.ScopeAdmin, mux)
}

// run serves until ctx ends and returns once serving has stopped. A
// failure to serve is logged, not returned: the daemon goes on without
// its profiler.
// Its handler must be set first (pprofHandler).
func (p *pprofServer) run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- p.srv.Serve(p.ln) }()
	var err error
	select {
	case <-ctx.Done():
		p.srv.Close()
		err = <-errc
	case err = <-errc:
	}
	if !errors.Is(err, http.ErrServerClosed) {
		p.log.Warn("pprof server", "err", err)
	}
	return nil
}
