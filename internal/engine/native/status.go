package native

import (
	"maps"
	"net/netip"
	"slices"
)

// PeerStat describes one connected peer.
type PeerStat struct {
	Addr netip.AddrPort
	// Client is the name the peer gave in its extension handshake.
	Client string
	// Incoming reports that the peer dialed us.
	Incoming bool
	// Source is how the torrent learned of the peer (Source*).
	Source string
	// Network is what the connection runs over: NetworkTCP ("tcp") or
	// NetworkUTP ("utp").
	Network string
	// Encryption is the connection's: CryptoPlaintext, CryptoHeader or
	// CryptoRC4.
	Encryption string
	// Downloaded and Uploaded are payload bytes from and to the peer.
	Downloaded, Uploaded int64
	// Has is how many pieces the peer has.
	Has int
	// Choked reports that the peer chokes us; Choking that we choke it.
	Choked, Choking bool
}

// Peers returns the torrent's connected peers.
func (t *Torrent) Peers() []PeerStat {
	t.mu.Lock()
	peers := slices.Collect(maps.Keys(t.peers))
	t.mu.Unlock()
	out := make([]PeerStat, 0, len(peers))
	for _, p := range peers {
		p.mu.Lock()
		s := PeerStat{Addr: p.addr, Client: p.client, Incoming: p.incoming, Source: p.source, Network: p.network, Encryption: p.crypto, Has: p.nhas, Choked: p.choked}
		p.mu.Unlock()
		p.omu.Lock()
		s.Choking = p.choking
		p.omu.Unlock()
		s.Downloaded, s.Uploaded = p.downloaded.Load(), p.uploaded.Load()
		out = append(out, s)
	}
	return out
}

// RaisePieces raises pieces first to last (inclusive) that the torrent
// lacks to high priority, also pieces of skipped files: for a reader
// that needs them now, or a sequential download. SetFilePriorities
// resets them to their files' priority.
func (t *Torrent) RaisePieces(first, last int) {
	t.mu.Lock()
	first, last = max(first, 0), min(last, len(t.prio)-1)
	raised := false
	for i := first; i <= last; i++ {
		if t.have.get(i) || t.prio[i] == PriorityHigh {
			continue
		}
		if t.prio[i] == PrioritySkip {
			t.wanted++
			t.wantLeft++
		}
		t.prio[i] = PriorityHigh
		raised = true
	}
	peers := slices.Collect(maps.Keys(t.peers))
	t.mu.Unlock()
	if raised {
		for _, p := range peers {
			p.updateInterest()
		}
	}
}

// Has reports whether piece i is verified and on disk.
func (t *Torrent) Has(i int) bool {
	if i < 0 || i >= len(t.meta.Hashes) {
		return false
	}
	return t.has(i)
}
