package engine

import (
	"net"
	"net/netip"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/iplist"

	"github.com/lodestone-bt/lodestone/internal/blocklist"
)

// ipRanger shows our live blocklist to anacrolix's client as its
// ClientConfig.IPBlocklist (an iplist.Ranger). The client consults it
// for every peer address added (trackers, PEX, DHT, ours), before every
// dial of an untrusted one, and for every accepted connection before the
// handshake; each hit counts as one refusal. It reads the Filter's
// current list on each call, so a new list applies without telling the
// client.
type ipRanger struct{ f *blocklist.Filter }

var _ iplist.Ranger = ipRanger{}

// Lookup reports a blocked ip as a range of that one address.
func (r ipRanger) Lookup(ip net.IP) (iplist.Range, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || !r.f.Refuse(a.Unmap()) {
		return iplist.Range{}, false
	}
	return iplist.Range{First: ip, Last: ip, Description: "blocklist"}, true
}

// NumRanges is the number of merged ranges in force.
func (r ipRanger) NumRanges() int { return r.f.List().Ranges() }

// watchBlocklist makes a change of list close the connections of cl to
// peers it now blocks (the client itself checks addresses only as they
// come); the returned function stops it.
func watchBlocklist(cl *torrent.Client, f *blocklist.Filter) (cancel func()) {
	if f == nil {
		return func() {}
	}
	return f.OnChange(func() {
		for _, t := range cl.Torrents() {
			for _, pc := range t.PeerConns() {
				ap, err := netip.ParseAddrPort(pc.RemoteAddr.String())
				if err == nil && f.Blocked(ap.Addr().Unmap()) {
					pc.Close()
				}
			}
		}
	})
}

// closeBlockedConns returns a Callbacks.PeerConnAdded function that
// closes a connection to a blocked peer as soon as it is made: the
// client checks the list for every address it is given and every
// connection it accepts, but dials a peer given as trusted (ours, and a
// magnet's x.pe) without looking again, so one queued before a list
// blocked it could connect. The callback runs under the client's lock:
// the close runs in its own goroutine.
func closeBlockedConns(f *blocklist.Filter) func(*torrent.PeerConn) {
	return func(pc *torrent.PeerConn) {
		ap, err := netip.ParseAddrPort(pc.RemoteAddr.String())
		if err == nil && f.Refuse(ap.Addr().Unmap()) {
			go pc.Close()
		}
	}
}

// blockedAddr reports whether a is blocked, counting it, for peers
// added as trusted (which anacrolix's client would dial unchecked).
func blockedAddr(f *blocklist.Filter, a netip.AddrPort) bool {
	return f != nil && f.Refuse(a.Addr().Unmap())
}
