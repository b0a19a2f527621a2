package apiserver

import (
	"net/netip"
	"sync"
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
)

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
