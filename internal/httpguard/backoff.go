package httpguard

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
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

// backoff answers wrong tokens: after `free` failures an address must
// wait, doubling per failure, and all addresses together share a budget
// of wrong tokens, so rotating source addresses (all of 127.0.0.0/8 is
// this machine) does not dodge the wait. A success forgets the address.
// It only ever refuses wrong tokens: the guard compares the token first
// and lets a right one through whatever this says, so nobody's failures
// can lock the owner out.
type backoff struct {
	free      int
	base, max time.Duration
	now       func() time.Time

	mu     sync.Mutex
	by     map[netip.Addr]*failures
	global *rate.Limiter // wrong tokens from all addresses; read at b.now()
}

type failures struct {
	n     int
	until time.Time // no attempt is checked before this
	last  time.Time
}

// maxTracked bounds the addresses remembered; beyond it, entries idle for
// the longest backoff are forgotten first.
const maxTracked = 10000

// newBackoff returns a backoff with `free` failures per address before
// the first wait of base, and a global budget of globalPerMinute wrong
// tokens a minute (all of it available at once, refilled evenly).
func newBackoff(free int, base, max time.Duration, globalPerMinute int) *backoff {
	return &backoff{
		free: free, base: base, max: max, now: time.Now,
		by:     make(map[netip.Addr]*failures),
		global: rate.NewLimiter(rate.Limit(float64(globalPerMinute)/60), globalPerMinute),
	}
}

// failed judges a wrong token from key. If key is still waiting, or the
// global budget is spent, it returns how long to wait and whether the
// global budget is the reason, and counts nothing: a refused attempt
// neither lengthens the wait nor spends the budget. Otherwise it counts
// the failure against key and the budget and returns 0.
func (b *backoff) failed(key netip.Addr) (wait time.Duration, global bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if f := b.by[key]; f != nil && f.until.After(now) {
		return f.until.Sub(now), false
	}
	if tokens := b.global.TokensAt(now); tokens < 1 {
		// The time until one whole wrong token is allowed again.
		d := time.Duration((1 - tokens) / float64(b.global.Limit()) * float64(time.Second))
		return max(d, time.Millisecond), true
	}
	b.global.AllowN(now, 1)
	b.countLocked(key, now)
	return 0, false
}

// countLocked records a wrong token from key at now.
func (b *backoff) countLocked(key netip.Addr, now time.Time) {
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

// wait returns how long key must still wait before its next wrong token
// is counted (0: none).
func (b *backoff) wait(key netip.Addr) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.by[key]
	if f == nil {
		return 0
	}
	return max(0, f.until.Sub(b.now()))
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
