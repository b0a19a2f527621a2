package native

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

const (
	// utPexID is the number we give ut_pex (BEP 11) in our extension
	// handshakes.
	utPexID = 4
	// maxPexPeers bounds the addresses one exchange carries either way.
	maxPexPeers = 50
	// pexEvery is how many rechokes (10 s each) pass between exchanges:
	// BEP 11 asks for at most one a minute.
	pexEvery = 6
)

// onPex takes the addresses a peer exchange message adds (BEP 11), up to
// maxPexPeers of them.
func (p *peer) onPex(n int) error {
	var m pp.PexMsg
	if bad, err := p.readBencode(n, &m); err != nil || bad != nil {
		return err // a malformed exchange is ignored, as libtorrent does
	}
	var addrs []netip.AddrPort
	for _, a := range append(m.Added, m.Added6...) {
		addrs = append(addrs, addrPortOf(a))
	}
	if len(addrs) > maxPexPeers {
		addrs = addrs[:maxPexPeers]
	}
	if len(addrs) > 0 {
		p.t.addPeers(addrs, SourcePex)
	}
	return nil
}

// addrPortOf converts a compact peer address (an IPv4 one unmapped).
func addrPortOf(a krpc.NodeAddr) netip.AddrPort {
	ip, _ := netip.AddrFromSlice(a.IP)
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
}

// nodeAddrOf converts an address for a compact peer list.
func nodeAddrOf(a netip.AddrPort) (n krpc.NodeAddr) {
	n.FromAddrPort(netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
	return n
}

// listenAddr is where the peer takes connections: the address we dialed,
// or for a peer that dialed us, its IP and the port it told us.
func (p *peer) listenAddr() (netip.AddrPort, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.incoming {
		return p.addr, true
	}
	if p.listenPort == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(p.addr.Addr(), p.listenPort), true
}

// sendPex tells p of the torrent's other peers it has not heard of from
// us, and of those gone since, if p speaks ut_pex.
func (t *Torrent) sendPex(p *peer) {
	t.mu.Lock()
	peers := slices.Collect(maps.Keys(t.peers))
	t.mu.Unlock()
	now := map[netip.AddrPort]bool{}
	for _, q := range peers {
		if a, ok := q.listenAddr(); ok && q != p {
			now[a] = true
		}
	}
	p.mu.Lock()
	id := p.peerUtPex
	if id == 0 || p.gone {
		p.mu.Unlock()
		return
	}
	if p.pexTold == nil {
		p.pexTold = map[netip.AddrPort]bool{}
	}
	var m pp.PexMsg
	for a := range now {
		if len(m.Added)+len(m.Added6) >= maxPexPeers {
			break
		}
		if !p.pexTold[a] {
			p.pexTold[a] = true
			if a.Addr().Unmap().Is4() {
				m.Added = append(m.Added, nodeAddrOf(a))
				m.AddedFlags = append(m.AddedFlags, 0)
			} else {
				m.Added6 = append(m.Added6, nodeAddrOf(a))
				m.Added6Flags = append(m.Added6Flags, 0)
			}
		}
	}
	for a := range p.pexTold {
		if !now[a] && len(m.Dropped)+len(m.Dropped6) < maxPexPeers {
			delete(p.pexTold, a)
			if a.Addr().Unmap().Is4() {
				m.Dropped = append(m.Dropped, nodeAddrOf(a))
			} else {
				m.Dropped6 = append(m.Dropped6, nodeAddrOf(a))
			}
		}
	}
	p.mu.Unlock()
	if m.Len() == 0 {
		return
	}
	b, err := bencode.Marshal(m)
	if err != nil {
		t.log.Error("encode peer exchange", "err", err)
		return
	}
	p.send(pp.Extended, append([]byte{byte(id)}, b...))
}
