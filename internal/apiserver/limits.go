package apiserver

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the API's abuse limits (Config fields left zero). Each is
// documented with its close code or HTTP status in docs/SECURITY.md.
const (
	// DefaultMaxConns caps open WebSocket connections in total.
	DefaultMaxConns = 4096
	// DefaultMaxConnsPerIP caps open connections from one non-loopback
	// address (an IPv6 /64 counts as one address). Loopback clients are
	// the same machine's programs and count only against MaxConns.
	DefaultMaxConnsPerIP = 64
	// DefaultMaxDepth caps JSON nesting in a request; real requests nest
	// three or four levels.
	DefaultMaxDepth = 64
	// DefaultRequestRate is the sustained frames per second one
	// connection may send, with DefaultRequestBurst on top. Beyond it the
	// daemon stops reading that connection until the budget refills: the
	// client is slowed by TCP back-pressure, not answered with errors.
	DefaultRequestRate  = 50000
	DefaultRequestBurst = 5000
	// DefaultAuthFailures wrong tokens from one address are tolerated;
	// after that the address waits DefaultAuthBackoff before its next
	// attempt, doubling per further failure up to DefaultMaxAuthBackoff.
	DefaultAuthFailures   = 5
	DefaultAuthBackoff    = time.Second
	DefaultMaxAuthBackoff = 5 * time.Minute
)

// clientKey is the address a limit is counted against: the IP, or its /64
// for IPv6 (one subscriber's whole network).
func clientKey(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return ip
}

// connCounter admits connections within the global and per-address caps.
type connCounter struct {
	max, perIP int

	mu    sync.Mutex
	total int
	by    map[netip.Addr]int
}

func newConnCounter(max, perIP int) *connCounter {
	return &connCounter{max: max, perIP: perIP, by: make(map[netip.Addr]int)}
}

// open returns the number of connections admitted and not released.
func (c *connCounter) open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// acquire admits one connection from key, or returns why not. The caller
// calls release once when an admitted connection ends.
func (c *connCounter) acquire(key netip.Addr) (release func(), reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total >= c.max {
		return nil, "too many connections"
	}
	perIP := !key.IsLoopback()
	if perIP && c.by[key] >= c.perIP {
		return nil, "too many connections from " + key.String()
	}
	c.total++
	if perIP {
		c.by[key]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.total--
			if perIP {
				if c.by[key]--; c.by[key] <= 0 {
					delete(c.by, key)
				}
			}
		})
	}, ""
}

// authBackoff slows token guessing per address: after `free` failures an
// address must wait, doubling per failure. A success forgets the address.
// It never locks anyone else out: there is no global lockout.
type authBackoff struct {
	free      int
	base, max time.Duration
	now       func() time.Time

	mu sync.Mutex
	by map[netip.Addr]*authFailures
}

type authFailures struct {
	n     int
	until time.Time // no attempt is checked before this
	last  time.Time
}

// maxTracked bounds the addresses remembered; beyond it, entries idle for
// the longest backoff are forgotten first.
const maxTracked = 10000

func newAuthBackoff(free int, base, max time.Duration) *authBackoff {
	return &authBackoff{free: free, base: base, max: max, now: time.Now, by: make(map[netip.Addr]*authFailures)}
}

// wait returns how long key must still wait before its token is checked.
func (b *authBackoff) wait(key netip.Addr) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.by[key]
	if f == nil {
		return 0
	}
	return max(0, f.until.Sub(b.now()))
}

// failed records a wrong token from key.
func (b *authBackoff) failed(key netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f := b.by[key]
	if f == nil {
		if len(b.by) >= maxTracked {
			b.pruneLocked(now)
		}
		f = &authFailures{}
		b.by[key] = f
	}
	f.n++
	f.last = now
	if over := f.n - b.free; over > 0 {
		d := b.base << min(over-1, 30)
		if d <= 0 || d > b.max {
			d = b.max
		}
		f.until = now.Add(d)
	}
}

// succeeded forgets key's failures.
func (b *authBackoff) succeeded(key netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.by, key)
}

func (b *authBackoff) pruneLocked(now time.Time) {
	for k, f := range b.by {
		if now.Sub(f.last) > b.max {
			delete(b.by, k)
		}
	}
	// Still full: every entry is recent, so this is a flood of addresses.
	// Forget an arbitrary half rather than grow without bound.
	if len(b.by) >= maxTracked {
		n := 0
		for k := range b.by {
			if n >= maxTracked/2 {
				break
			}
			delete(b.by, k)
			n++
		}
	}
}

// depthOK reports whether JSON data nests arrays and objects at most max
// deep. It only counts brackets outside strings; validity is checked by the
// decoder afterwards.
func depthOK(data []byte, max int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > max {
				return false
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return true
}
