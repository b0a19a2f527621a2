package native

import (
	"errors"
	"net"
	"net/netip"
)

// Blocklist is the live IP blocklist the client consults (it is
// internal/blocklist's Filter): Refuse reports whether an address is
// blocked and counts the refusal, Blocked only looks; OnChange runs fn
// after each change of list and returns its cancel.
type Blocklist interface {
	Refuse(netip.Addr) bool
	Blocked(netip.Addr) bool
	OnChange(fn func()) (cancel func())
}

// errBlocked refuses to dial an address the blocklist holds.
var errBlocked = errors.New("native: address blocklisted")

// refused reports whether the blocklist refuses a, counting it.
func (c *Client) refused(a netip.Addr) bool {
	return c.cfg.Blocklist != nil && c.cfg.Blocklist.Refuse(a.Unmap())
}

// refuseConn reports whether an accepted connection comes from a blocked
// address: it is then closed before a byte is read.
func (c *Client) refuseConn(conn net.Conn) bool {
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	if err != nil || !c.refused(ap.Addr()) {
		return false
	}
	conn.Close()
	return true
}

// dropBlocked closes every connection to a peer the blocklist now holds:
// a list that changes applies to the peers already connected too.
func (c *Client) dropBlocked() {
	c.mu.Lock()
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	for _, t := range ts {
		t.mu.Lock()
		var drop []net.Conn
		for p := range t.peers {
			if c.cfg.Blocklist.Blocked(p.addr.Addr().Unmap()) {
				drop = append(drop, p.conn)
			}
		}
		t.mu.Unlock()
		for _, conn := range drop {
			c.log.Info("peer dropped: blocklisted", "peer", conn.RemoteAddr())
			conn.Close()
		}
	}
}
