package httpguard

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// ClientKey is the address a per-address limit is counted against: the
// IP, or its /64 for IPv6 (one subscriber's whole network). An address
// that does not parse is the zero netip.Addr.
func ClientKey(remote string) netip.Addr {
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

// backoff slows token guessing per address: after `free` failures an
// address must wait, doubling per failure. A success forgets the address.
// It never locks anyone else out: there is no global lockout.
type backoff struct {
	free      int
	base, max time.Duration
	now       func() time.Time

	mu sync.Mutex
	by map[netip.Addr]*failures
}

type failures struct {
	n     int
	until time.Time // no attempt is checked before this
	last  time.Time
}

// maxTracked bounds the addresses remembered; beyond it, entries idle for
// the longest backoff are forgotten first.
const maxTracked = 10000

func newBackoff(free int, base, max time.Duration) *backoff {
	return &backoff{free: free, base: base, max: max, now: time.Now, by: make(map[netip.Addr]*failures)}
}

// wait returns how long key must still wait before its token is checked.
func (b *backoff) wait(key netip.Addr) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.by[key]
	if f == nil {
		return 0
	}
	return max(0, f.until.Sub(b.now()))
}

// failed records a wrong token from key.
func (b *backoff) failed(key netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	f := b.by[key]
	if f == nil {
		if len(b.by) >= maxTracked {
			b.pruneLocked(now)
		}
		f = &failures{}
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
func (b *backoff) succeeded(key netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.by, key)
}

func (b *backoff) pruneLocked(now time.Time) {
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
