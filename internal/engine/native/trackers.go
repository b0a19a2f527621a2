package native

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/tracker"
	"github.com/anacrolix/torrent/tracker/udp"
)

// The bounds on announces (issue 15, item 16). 80 magnets with 200 dead
// trackers each once meant 16,000 announces at once: 43,000 goroutines,
// 16,000 sockets and 680 MiB. Now a tracker is announced to by at most
// announcesPerTracker of the client's torrents at once, a torrent has at
// most announcesPerTorrent announces in flight (a magnet fetching its
// metadata too), and the client at most announcesInFlight; a tracker
// that did not answer is left alone until its backoff ends, for every
// torrent.
const (
	announcesInFlight   = 64
	announcesPerTorrent = 4
	announcesPerTracker = 2
	// trackerBackoff is the first wait after a tracker did not answer; it
	// doubles with each failure in a row, up to maxTrackerBackoff.
	trackerBackoff    = 15 * time.Second
	maxTrackerBackoff = 30 * time.Minute
	// trackerIdle is how long a tracker's client (its UDP socket with the
	// connection id, its HTTP transport) is kept after its last announce.
	trackerIdle = time.Minute
	// resolveTTL is how long a tracker's host name, once resolved, is
	// used without asking DNS again (Go's resolver keeps nothing).
	resolveTTL = 5 * time.Minute
	// resolveTimeout bounds one lookup of a tracker's host name.
	resolveTimeout = 10 * time.Second
)

// ErrTrackerBackoff is wrapped by the error of an announce not sent
// because the tracker did not answer an earlier one (from any torrent)
// and its backoff has not ended.
var ErrTrackerBackoff = errors.New("tracker did not answer recently; not contacted until its backoff ends")

// trackerRegistry is the client's one record of every tracker, keyed by
// announce URL and shared by all its torrents: the tracker's client (one
// UDP socket, whose connection id every announce reuses, or one HTTP
// transport), how many announces to it are in flight, and its failures.
// Torrents keep only their own events and times (trackerState).
//
// Nothing here is held while a torrent's or the client's lock is, and no
// lock is held during network I/O except the creation of a UDP socket.
type trackerRegistry struct {
	// newClient makes the client of the tracker at url; an HTTP one dials
	// through dial (the tracker's resolved addresses), a UDP one is given
	// url with the host's address in place of its name.
	newClient func(url string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (tracker.Client, error)
	// route is how trackers are reached (setRoute).
	route atomic.Pointer[trackerRoute]
	// lookup resolves a tracker's host name.
	lookup  func(ctx context.Context, host string) ([]netip.Addr, error)
	log     *slog.Logger
	slots   chan struct{} // announces in flight, client-wide
	mu      sync.Mutex
	closed  bool
	entries map[string]*trackerEntry
}

// trackerRoute is the way to the trackers.
type trackerRoute struct {
	// dial connects to an address (an IP literal and a port).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// proxied: dial is a proxy's, which takes host names; nothing is
	// looked up here (a UDP client is given the tracker's url as it is,
	// see Client.proxiedUDPTracker).
	proxied bool
}

// setRoute makes the trackers reached through dial from now on: every
// tracker's client is made again at its next announce, and backoffs
// are forgotten (they were the old route's).
func (r *trackerRegistry) setRoute(dial func(context.Context, string, string) (net.Conn, error), proxied bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.route.Store(&trackerRoute{dial: dial, proxied: proxied})
	for _, e := range r.entries {
		if e.cl != nil {
			e.cl.Close()
			e.cl = nil
		}
		e.failures, e.downUntil = 0, time.Time{}
	}
}

// trackerEntry is one tracker. Its fields are guarded by the registry's
// mu, except slots.
type trackerEntry struct {
	url   string
	slots chan struct{} // announces to this tracker in flight

	// resolveMu guards addrs and resolved: one lookup of the tracker's
	// host at a time, and none under the registry's mu.
	resolveMu sync.Mutex
	addrs     []netip.Addr
	resolved  time.Time

	users     int            // announces holding or waiting for the entry
	cl        tracker.Client // nil until an announce needs it
	clAddr    netip.Addr     // the address a UDP cl sends to
	lastUse   time.Time
	idle      *time.Timer // closes cl (and forgets the entry) once idle
	failures  int         // in a row, of not answering
	downUntil time.Time
	lastErr   string
}

func newTrackerRegistry(
	newClient func(string, func(context.Context, string, string) (net.Conn, error)) (tracker.Client, error),
	lookup func(context.Context, string) ([]netip.Addr, error),
	log *slog.Logger,
) *trackerRegistry {
	return &trackerRegistry{
		newClient: newClient, lookup: lookup, log: log,
		slots:   make(chan struct{}, announcesInFlight),
		entries: make(map[string]*trackerEntry),
	}
}

var errRegistryClosed = errors.New("native: client closed")

// errTrackerBusy is returned by an announce that was not to wait for a
// slot of its tracker, when it would have had to.
var errTrackerBusy = errors.New("tracker busy with other announces")

// announce sends one announce to the tracker at u, waiting for a free
// slot (the tracker's, then the client's) as long as ctx allows; without
// wait, it returns errTrackerBusy at once when the tracker has no slot
// free. timeout bounds the announce itself, not the wait. It fails at once with
// ErrTrackerBackoff while the tracker is backing off. retry is when the
// tracker may be contacted again after a failure (zero after a success).
func (r *trackerRegistry) announce(ctx context.Context, u string, wait bool, req tracker.AnnounceRequest, opt tracker.AnnounceOpt, timeout time.Duration) (res tracker.AnnounceResponse, retry time.Time, err error) {
	e, err := r.acquire(u)
	if err != nil {
		return res, time.Time{}, err
	}
	defer r.release(e)
	if retry, err := r.backingOff(e); err != nil {
		return res, retry, err
	}
	select {
	case e.slots <- struct{}{}:
	default:
		if !wait {
			return res, time.Time{}, errTrackerBusy
		}
		select {
		case e.slots <- struct{}{}:
		case <-ctx.Done():
			return res, time.Time{}, ctx.Err()
		}
	}
	defer func() { <-e.slots }()
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return res, time.Time{}, ctx.Err()
	}
	defer func() { <-r.slots }()
	// Another torrent's announce may have failed while this one waited.
	if retry, err := r.backingOff(e); err != nil {
		return res, retry, err
	}
	cl, err := r.clientOf(ctx, e)
	if err != nil {
		return res, r.record(e, ctx, err), err
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err = cl.Announce(actx, req, opt)
	return res, r.record(e, ctx, err), err
}

// acquire returns the entry of u, made on first use, counting a user.
func (r *trackerRegistry) acquire(u string) (*trackerEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errRegistryClosed
	}
	e := r.entries[u]
	if e == nil {
		e = &trackerEntry{url: u, slots: make(chan struct{}, announcesPerTracker)}
		r.entries[u] = e
	}
	e.users++
	if e.idle != nil {
		e.idle.Stop()
	}
	return e, nil
}

// release undoes acquire; the last user arms the idle timer.
func (r *trackerRegistry) release(e *trackerEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.users--
	e.lastUse = time.Now()
	if e.users > 0 || r.closed {
		return
	}
	if e.idle == nil {
		e.idle = time.AfterFunc(trackerIdle, func() { r.expire(e) })
	} else {
		e.idle.Reset(trackerIdle)
	}
}

// expire closes an idle entry's client, and forgets the entry once its
// backoff is over too (it has nothing left to remember).
func (r *trackerRegistry) expire(e *trackerEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || e.users > 0 || r.entries[e.url] != e {
		return
	}
	now := time.Now()
	if wait := e.lastUse.Add(trackerIdle).Sub(now); wait > 0 {
		e.idle.Reset(wait)
		return
	}
	if e.cl != nil {
		e.cl.Close()
		e.cl = nil
	}
	if now.Before(e.downUntil) {
		e.idle.Reset(e.downUntil.Sub(now))
		return
	}
	delete(r.entries, e.url)
}

// backingOff returns ErrTrackerBackoff, and when the backoff ends, if e
// is backing off.
func (r *trackerRegistry) backingOff(e *trackerEntry) (time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Now().Before(e.downUntil) {
		return e.downUntil, fmt.Errorf("%w (until %s): %s", ErrTrackerBackoff, e.downUntil.UTC().Format(time.TimeOnly), e.lastErr)
	}
	return time.Time{}, nil
}

// clientOf returns e's tracker client, made on first use. A UDP client
// sends to the address its host resolved to, and is made again once that
// is older than resolveTTL and resolves to another; an HTTP client
// resolves as it dials (see dialVia).
func (r *trackerRegistry) clientOf(ctx context.Context, e *trackerEntry) (tracker.Client, error) {
	u, err := url.Parse(e.url)
	if err != nil {
		return nil, err
	}
	target := e.url
	var addr netip.Addr
	if u.Scheme == "udp" && !r.route.Load().proxied {
		addrs, err := r.resolve(ctx, e, u.Hostname())
		if err != nil {
			return nil, err
		}
		addr = addrs[0]
		t := *u
		t.Host = net.JoinHostPort(addr.String(), u.Port())
		target = t.String()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errRegistryClosed
	}
	if e.cl != nil && addr.IsValid() && addr != e.clAddr {
		e.cl.Close() // others' announces in flight on it fail, and retry
		e.cl = nil
	}
	if e.cl == nil {
		cl, err := r.newClient(target, func(ctx context.Context, network, hostPort string) (net.Conn, error) {
			return r.dialVia(ctx, e, network, hostPort)
		})
		if err != nil {
			return nil, err
		}
		e.cl, e.clAddr = cl, addr
	}
	return e.cl, nil
}

// resolve returns the addresses of e's host, looked up at most once per
// resolveTTL (an IP literal is not looked up). Only e's announces wait
// for a lookup.
func (r *trackerRegistry) resolve(ctx context.Context, e *trackerEntry, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	e.resolveMu.Lock()
	defer e.resolveMu.Unlock()
	if len(e.addrs) > 0 && time.Since(e.resolved) < resolveTTL {
		return e.addrs, nil
	}
	lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := r.lookup(lctx, host)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: host, IsTimeout: errors.Is(err, context.DeadlineExceeded)}
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	e.addrs, e.resolved = addrs, time.Now()
	return addrs, nil
}

// dialVia connects to the tracker of e at hostPort through its resolved
// addresses, in order, until one answers. The guard against private
// addresses, if any, is in r.dial, on the address actually dialled.
func (r *trackerRegistry) dialVia(ctx context.Context, e *trackerEntry, network, hostPort string) (net.Conn, error) {
	route := r.route.Load()
	if route.proxied {
		return route.dial(ctx, network, hostPort) // the proxy resolves the name
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return nil, err
	}
	addrs, err := r.resolve(ctx, e, host)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		c, err := route.dial(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// record notes the outcome of an announce to e and returns when the
// tracker may be tried again (zero unless it did not answer). Only a
// tracker that did not answer backs off: one that answered with an
// error (an unknown torrent, say) is up, and may know other torrents.
// An announce ended by its caller (ctx) says nothing of the tracker.
func (r *trackerRegistry) record(e *trackerEntry, ctx context.Context, err error) time.Time {
	if err != nil && ctx.Err() != nil {
		return time.Time{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil || answered(err) {
		e.failures = 0
		e.downUntil = time.Time{}
		return time.Time{}
	}
	if r.route.Load().proxied && e.cl != nil {
		// A UDP client's association with the proxy may be what failed
		// (the proxy restarted): the next announce asks for a new one.
		e.cl.Close()
		e.cl = nil
	}
	e.failures++
	wait := trackerBackoff << min(e.failures-1, 10)
	e.downUntil = time.Now().Add(min(wait, maxTrackerBackoff))
	e.lastErr = err.Error()
	return e.downUntil
}

// answered reports whether err came with an answer from the tracker (an
// HTTP status or body, or a UDP error packet) rather than from the
// network: no connection, no answer in time.
func answered(err error) bool {
	var ue *url.Error
	var ne net.Error
	var ur udp.ErrorResponse
	switch {
	case errors.As(err, &ur):
		return true
	case errors.As(err, &ue), errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled), errors.Is(err, net.ErrClosed):
		return false
	}
	// The HTTP client's other errors come after a response: its status,
	// an undecodable body, a failure reason.
	return true
}

// close closes every tracker's client; announces after it fail. Those
// in flight end with their contexts (the client's Close cancels them).
func (r *trackerRegistry) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, e := range r.entries {
		if e.idle != nil {
			e.idle.Stop()
		}
		if e.cl != nil {
			e.cl.Close()
			e.cl = nil
		}
	}
	clear(r.entries)
}

// forEachBounded calls fn for each of items, at most n at a time, and
// returns once every call returned; items not started when ctx ends are
// skipped. It starts no more than n goroutines, whatever len(items).
//
// fn is first called with wait false; if it reports busy (the tracker
// has its most announces in flight, for other torrents), the item is
// tried again with wait true once the others were: torrents that list the
// same trackers in the same order do not queue behind each tracker in
// turn, and a tracker that never answers holds up only its own item.
func forEachBounded(ctx context.Context, items []string, n int, fn func(item string, wait bool) (busy bool)) {
	var mu sync.Mutex
	next := 0
	var later []string
	take := func() (string, bool, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next < len(items) {
			next++
			return items[next-1], false, true
		}
		if len(later) > 0 {
			it := later[0]
			later = later[1:]
			return it, true, true
		}
		return "", false, false
	}
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				it, wait, ok := take()
				if !ok {
					return
				}
				if fn(it, wait) && !wait {
					mu.Lock()
					later = append(later, it)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
}
