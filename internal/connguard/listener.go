package connguard

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"
	"time"
)

// Backoff between accepts while the process is out of file descriptors
// and no unauthenticated connection is left to close: doubling from
// minAcceptWait to maxAcceptWait, as net/http does for temporary errors.
const (
	minAcceptWait = 5 * time.Millisecond
	maxAcceptWait = time.Second
	// pendingPoll is how long one look for a pending connection waits
	// (a Close waits for it).
	pendingPoll = 100 * time.Millisecond
)

// Listener wraps ln, the http.Server's listener, so that every connection
// it accepts is tracked (and the caps enforced) before the server sees it.
// With tlsConfig, each connection is served over TLS, as tls.NewListener
// would (the TLS connection is the one tracked). Give the server
// ConnContext and ConnState too:
//
//	srv := &http.Server{ConnContext: g.ConnContext, ConnState: g.ConnState, …}
//	srv.Serve(g.Listener(ln, nil))
//
// When accepting fails because the process (EMFILE) or the system
// (ENFILE) is out of file descriptors, the listener first waits until a
// connection is pending, trying again every 100 ms meanwhile (Linux fails
// accept so whether or not one is; ln must be a socket, such as a
// *net.TCPListener, for the listener to tell). Then it closes the
// unauthenticated connection idle the longest and tries again, or with
// none left waits a moment (5 ms, doubling to 1 s) before it does. It
// never returns these errors, which http.Server would log unthrottled. It
// logs a warning at most once per 5 s, counting the failures not logged,
// and a line once accepting works again.
func (g *Guard) Listener(ln net.Listener, tlsConfig *tls.Config) net.Listener {
	l := &listener{
		Listener: ln,
		g:        g,
		tls:      tlsConfig,
		done:     make(chan struct{}),
		failLog:  newLimitedLog(),
		okLog:    newLimitedLog(),
	}
	if sc, ok := ln.(syscall.Conn); ok {
		l.raw, _ = sc.SyscallConn()
	}
	return l
}

type listener struct {
	net.Listener
	g         *Guard
	tls       *tls.Config     // nil: plain TCP
	raw       syscall.RawConn // ln's socket, if it has one
	done      chan struct{}   // closed by Close: ends a wait in Accept
	closeOnce sync.Once

	failLog, okLog *limitedLog

	// mu guards the run of failed accepts.
	mu         sync.Mutex
	failures   int       // failed accepts since the last success
	since      time.Time // the first of them and of the unreported ones
	unreported int       // failed accepts not yet counted in a log line
}

// Accept returns the next connection, tracked as unauthenticated.
func (l *listener) Accept() (net.Conn, error) {
	var wait time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			l.accepted()
			if l.tls != nil {
				c = tls.Server(c, l.tls)
			}
			l.g.admit(c)
			return c, nil
		}
		if !outOfFiles(err) {
			return nil, err
		}
		// Linux fails accept so whether or not a connection waits:
		// close nothing, and log nothing, for none.
		if !waitPending(l.raw, pendingPoll) {
			continue
		}
		cut := l.g.cutIdle()
		l.failed(err, cut)
		if cut {
			continue // a descriptor was freed: try at once
		}
		wait = min(max(2*wait, minAcceptWait), maxAcceptWait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.done:
			t.Stop()
			// The next Accept returns the listener's closed error.
		}
	}
}

// Close closes the listener and ends a wait in Accept.
func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// failed counts and logs an accept that failed for lack of descriptors.
func (l *listener) failed(err error, cut bool) {
	l.mu.Lock()
	if l.failures == 0 && l.unreported == 0 {
		l.since = time.Now()
	}
	l.failures++
	l.mu.Unlock()
	args := []any{"err", err, "closed_unauthenticated", cut}
	if lim, ok := fileLimit(); ok {
		args = append(args, "open_file_limit", lim)
	}
	l.failLog.warn(l.g.log, "out of file descriptors: cannot accept API connections", args...)
}

// accepted ends a run of failed accepts, logging how many failed since
// the last such line (at most one per 5 s, so flapping is not a flood).
func (l *listener) accepted() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures == 0 {
		return
	}
	l.unreported += l.failures
	l.failures = 0
	if ok, _ := l.okLog.allow(); ok {
		l.g.log.Info("accepting API connections again", "failed_accepts", l.unreported, "after", time.Since(l.since).Round(time.Millisecond))
		l.unreported = 0
	}
}
