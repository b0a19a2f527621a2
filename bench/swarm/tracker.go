package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// tracker is a minimal HTTP tracker on 127.0.0.1. It answers every
// announce from a leecher with the peers the benchmark names active
// (compact form), minus the announcer itself; seeds (left=0) get none. It does not learn peers from announces: each run
// must see exactly one seeder, never a previous run's leecher or the idle
// seeder of the other direction, and the harness decides which.
type tracker struct {
	URL string
	log *slog.Logger
	srv *http.Server

	mu        sync.Mutex
	active    []netip.AddrPort
	announces int
	leeches   int // announces from leechers (left > 0)
}

// startTracker listens on 127.0.0.1:0 and serves until close.
func startTracker(log *slog.Logger) (*tracker, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &tracker{log: log, URL: "http://" + l.Addr().String() + "/announce"}
	mux := http.NewServeMux()
	mux.HandleFunc("/announce", t.announce)
	t.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := t.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("tracker stopped", "err", err)
		}
	}()
	return t, nil
}

// setActive names the peers handed out from now on.
func (t *tracker) setActive(peers ...netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active = peers
}

// takeAnnounces returns the number of announces since the last call.
func (t *tracker) takeAnnounces() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.announces
	t.announces, t.leeches = 0, 0
	return n
}

// leechAnnounces returns the number of announces from leechers since the
// last takeAnnounces.
func (t *tracker) leechAnnounces() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leeches
}

func (t *tracker) announce(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	port, _ := strconv.Atoi(q.Get("port"))
	t.mu.Lock()
	t.announces++
	if q.Get("left") != "0" {
		t.leeches++
	}
	var compact []byte
	for _, p := range t.active {
		if int(p.Port()) == port || q.Get("left") == "0" {
			continue // the announcer itself, or a seed: seeds need no peers
		}
		a := p.Addr().As4()
		compact = append(compact, a[:]...)
		compact = append(compact, byte(p.Port()>>8), byte(p.Port()))
	}
	t.mu.Unlock()
	t.log.Debug("announce", "from", r.RemoteAddr, "port", port, "event", q.Get("event"), "left", q.Get("left"), "peers", len(compact)/6)
	b, err := bencode(map[string]any{
		"interval":     60,
		"min interval": 30,
		"complete":     len(compact) / 6,
		"incomplete":   0,
		"peers":        compact,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b)
}

func (t *tracker) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return t.srv.Shutdown(ctx)
}
