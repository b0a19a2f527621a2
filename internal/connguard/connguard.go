// Package connguard bounds what a client that has not yet shown the token
// can hold on the API's HTTP listener: how many connections in total and
// from one address, and how long they may sit idle. It also keeps the
// listener accepting, with a rate-limited warning, when the process runs
// out of file descriptors.
//
// Every accepted connection is unauthenticated until a request on it
// passes the token check, which calls MarkAuthenticated with that
// request's context. Authenticated connections are not capped here; a
// hijacked one (a WebSocket) is left to the API server's own caps.
//
// When a cap is reached the new connection is always admitted and the
// oldest unauthenticated connection goes instead: the one idle the longest,
// or, if none is idle, the one accepted first. A stranger's sockets, even
// from the loopback address the owner shares, can therefore never keep
// the owner's next connection out. Refusing the new connection instead
// would let whoever keeps reopening half-sent requests (each bounded only
// by the header timeout) hold the owner out for as long as they like; the
// price is that in such a flood an unauthenticated request still being
// read or answered may be cut off.
//
// Wire a Guard into an http.Server with Listener, ConnContext and
// ConnState (see Guard.Listener).
package connguard

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/lodestone-bt/lodestone/internal/httpguard"
)

// Defaults of Config fields left zero. Each is documented in
// docs/SECURITY.md.
const (
	// DefaultMaxUnauth caps unauthenticated connections in total. New
	// lowers it to a quarter of the open-file limit, so that three
	// quarters of the descriptors stay for the engine and for
	// authenticated clients.
	DefaultMaxUnauth = 512
	// DefaultMaxUnauthPerAddr caps unauthenticated connections from one
	// non-loopback address (an IPv6 /64 counts as one, as for every
	// per-address limit of the API). Loopback clients are this machine's
	// programs and count only in the total, as for the WebSocket caps: a
	// local stranger could use all of 127.0.0.0/8 anyway, and the owner's
	// tools may open many connections at once.
	DefaultMaxUnauthPerAddr = 32
	// DefaultUnauthIdle is how long an unauthenticated connection may
	// stay open between requests (authenticated ones get the
	// http.Server's IdleTimeout).
	DefaultUnauthIdle = 5 * time.Second
	// minMaxUnauth is the floor of the derived total cap.
	minMaxUnauth = 16
)

// Config configures a Guard.
type Config struct {
	// MaxUnauth caps unauthenticated connections in total (0:
	// DefaultMaxUnauth, lowered to a quarter of the open-file limit).
	MaxUnauth int
	// MaxUnauthPerAddr caps unauthenticated connections from one
	// non-loopback address (0: DefaultMaxUnauthPerAddr).
	MaxUnauthPerAddr int
	// CapLoopbackPerAddr caps loopback addresses per address too, for
	// tests, where 127.0.0.x stand in for remote addresses.
	CapLoopbackPerAddr bool
	// UnauthIdle closes an unauthenticated connection idle this long
	// between requests (0: DefaultUnauthIdle).
	UnauthIdle time.Duration
	// Logger receives the rate-limited warnings (caps reached, file
	// descriptors exhausted). Nil discards them.
	Logger *slog.Logger
}

// Log limits: one line per kind per interval; the lines not logged are
// counted in the next one that is.
const logInterval = 5 * time.Second

// Guard tracks the connections of one http.Server. It is safe for
// concurrent use.
type Guard struct {
	maxUnauth, perAddr int
	capLoopback        bool // CapLoopbackPerAddr
	idle               time.Duration
	log                *slog.Logger

	// mu guards the fields below.
	mu     sync.Mutex
	conns  map[net.Conn]*entry // accepted, not yet closed or hijacked
	unauth int                 // entries not authenticated
	byAddr map[netip.Addr]int  // unauthenticated entries per key
	seq    uint64              // accept order
	tick   uint64              // idle order

	capLog *limitedLog // connections closed for a cap
}

// entry is one tracked connection. Its fields are guarded by g.mu.
type entry struct {
	g    *Guard
	c    net.Conn
	key  netip.Addr // ClientKey; zero if not capped per address
	seq  uint64
	auth bool
	gone bool // no longer tracked: closed, hijacked or cut off

	idle     bool
	idleTick uint64      // when it last became idle, in g.tick
	timer    *time.Timer // closes it after UnauthIdle, if unauthenticated
}

// New returns a Guard for cfg.
func New(cfg Config) *Guard {
	if cfg.MaxUnauth <= 0 {
		cfg.MaxUnauth = DefaultMaxUnauth
		if lim, ok := fileLimit(); ok && lim/4 < uint64(cfg.MaxUnauth) {
			cfg.MaxUnauth = max(int(lim/4), minMaxUnauth)
		}
	}
	if cfg.MaxUnauthPerAddr <= 0 {
		cfg.MaxUnauthPerAddr = DefaultMaxUnauthPerAddr
	}
	if cfg.UnauthIdle <= 0 {
		cfg.UnauthIdle = DefaultUnauthIdle
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Guard{
		maxUnauth:   cfg.MaxUnauth,
		perAddr:     cfg.MaxUnauthPerAddr,
		capLoopback: cfg.CapLoopbackPerAddr,
		idle:        cfg.UnauthIdle,
		log:         cfg.Logger,
		conns:       make(map[net.Conn]*entry),
		byAddr:      make(map[netip.Addr]int),
		capLog:      newLimitedLog(),
	}
}

// MaxUnauth returns the cap on unauthenticated connections in force.
func (g *Guard) MaxUnauth() int { return g.maxUnauth }

// Unauthenticated returns the number of open connections on which no
// request has passed the token check yet.
func (g *Guard) Unauthenticated() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.unauth
}

type ctxKey struct{}

// ConnContext is the http.Server's ConnContext hook: it puts c's entry in
// the context of every request read from c, for MarkAuthenticated.
func (g *Guard) ConnContext(ctx context.Context, c net.Conn) context.Context {
	g.mu.Lock()
	e := g.conns[c]
	g.mu.Unlock()
	if e == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, e)
}

// MarkAuthenticated marks the connection that ctx's request came on as
// authenticated: it no longer counts against the caps and gets the
// server's normal idle timeout. ctx is a request's context; one from a
// server without a Guard is ignored.
func MarkAuthenticated(ctx context.Context) {
	e, _ := ctx.Value(ctxKey{}).(*entry)
	if e == nil {
		return
	}
	g := e.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if e.gone || e.auth {
		return
	}
	g.uncountLocked(e)
	e.auth = true
	e.stopTimerLocked()
}

// ConnState is the http.Server's ConnState hook: it starts the short idle
// timer of an unauthenticated connection between requests, and forgets a
// connection once it is closed or hijacked (a WebSocket, counted by the
// API server).
func (g *Guard) ConnState(c net.Conn, state http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.conns[c]
	if e == nil {
		return
	}
	switch state {
	case http.StateActive:
		e.idle = false
		e.stopTimerLocked()
	case http.StateIdle:
		e.idle = true
		g.tick++
		e.idleTick = g.tick
		e.stopTimerLocked()
		if !e.auth {
			tick := e.idleTick
			e.timer = time.AfterFunc(g.idle, func() { g.expire(e, tick) })
		}
	case http.StateHijacked, http.StateClosed:
		g.dropLocked(e)
	}
}

// admit tracks a newly accepted connection as unauthenticated, first
// cutting off the oldest unauthenticated connection of its address, and
// then of all, where a cap is reached.
func (g *Guard) admit(c net.Conn) {
	key := httpguard.ClientKey(c.RemoteAddr().String())
	if key.IsLoopback() && !g.capLoopback {
		key = netip.Addr{}
	}
	var cut []*entry
	g.mu.Lock()
	if key.IsValid() && g.byAddr[key] >= g.perAddr {
		if v := g.oldestLocked(func(e *entry) bool { return e.key == key }); v != nil {
			g.dropLocked(v)
			cut = append(cut, v)
		}
	}
	if g.unauth >= g.maxUnauth {
		if v := g.oldestLocked(nil); v != nil {
			g.dropLocked(v)
			cut = append(cut, v)
		}
	}
	g.seq++
	e := &entry{g: g, c: c, key: key, seq: g.seq}
	g.conns[c] = e
	g.unauth++
	if key.IsValid() {
		g.byAddr[key]++
	}
	g.mu.Unlock()
	for _, v := range cut {
		closeRaw(v.c)
	}
	if len(cut) > 0 {
		g.capLog.warn(g.log, "unauthenticated connection closed: too many open",
			"remote", cut[0].c.RemoteAddr().String(), "max_total", g.maxUnauth, "max_per_address", g.perAddr)
	}
}

// cutIdle closes the unauthenticated connection idle the longest, to free
// a file descriptor, and reports whether there was one. Busy ones are
// spared: Linux fails accept with EMFILE whether or not a connection
// waits, so the one just accepted, still on its first request, would go.
func (g *Guard) cutIdle() bool {
	g.mu.Lock()
	v := g.oldestLocked(nil)
	if v != nil && v.idle {
		g.dropLocked(v)
	} else {
		v = nil
	}
	g.mu.Unlock()
	if v == nil {
		return false
	}
	closeRaw(v.c)
	return true
}

// expire closes e if it is still the unauthenticated idle connection it
// was when its timer started.
func (g *Guard) expire(e *entry, tick uint64) {
	g.mu.Lock()
	if e.gone || e.auth || !e.idle || e.idleTick != tick {
		g.mu.Unlock()
		return
	}
	g.dropLocked(e)
	g.mu.Unlock()
	closeRaw(e.c)
}

// oldestLocked returns the unauthenticated entry matching match (nil:
// any) that has been idle the longest, or if none is idle the one
// accepted first; nil if there is none. It scans every entry: the
// unauthenticated ones are at most MaxUnauth, and it runs only when a cap
// is reached.
func (g *Guard) oldestLocked(match func(*entry) bool) *entry {
	var idle, busy *entry
	for _, e := range g.conns {
		if e.auth || match != nil && !match(e) {
			continue
		}
		if e.idle {
			if idle == nil || e.idleTick < idle.idleTick {
				idle = e
			}
		} else if busy == nil || e.seq < busy.seq {
			busy = e
		}
	}
	if idle != nil {
		return idle
	}
	return busy
}

// dropLocked stops tracking e (it does not close it).
func (g *Guard) dropLocked(e *entry) {
	if e.gone {
		return
	}
	e.gone = true
	delete(g.conns, e.c)
	if !e.auth {
		g.uncountLocked(e)
	}
	e.stopTimerLocked()
}

// uncountLocked removes unauthenticated e from the counts.
func (g *Guard) uncountLocked(e *entry) {
	g.unauth--
	if !e.key.IsValid() {
		return
	}
	if g.byAddr[e.key]--; g.byAddr[e.key] <= 0 {
		delete(g.byAddr, e.key)
	}
}

func (e *entry) stopTimerLocked() {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
}

// closeRaw closes c's socket. A TLS connection's socket is closed under
// it: tls.Conn.Close would first write a close_notify, which can block on
// a client that does not read.
func closeRaw(c net.Conn) {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		c = tc.NetConn()
	}
	c.Close()
}

// limitedLog allows one line per logInterval and counts the lines it
// drops, for the next line logged to report.
type limitedLog struct {
	lim *rate.Limiter

	mu       sync.Mutex
	unlogged int64
}

func newLimitedLog() *limitedLog {
	return &limitedLog{lim: rate.NewLimiter(rate.Every(logInterval), 1)}
}

// allow reports whether a line may be logged now, and how many were
// dropped since the last one allowed; it counts a refusal as a drop.
func (l *limitedLog) allow() (ok bool, dropped int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lim.Allow() {
		l.unlogged++
		return false, 0
	}
	dropped, l.unlogged = l.unlogged, 0
	return true, dropped
}

// warn logs msg with args at Warn if the limit allows, adding the count
// of lines dropped since the last one ("not_logged").
func (l *limitedLog) warn(log *slog.Logger, msg string, args ...any) {
	ok, n := l.allow()
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "not_logged", n)
	}
	log.Warn(msg, args...)
}
