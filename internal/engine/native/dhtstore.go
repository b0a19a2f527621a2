package native

import (
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/metainfo"
)

const (
	// dhtPeerTTL is how long our DHT node keeps a peer's announce.
	dhtPeerTTL = 30 * time.Minute
	// dhtStorePeers bounds the peers kept per torrent (the oldest give
	// way); all of them fit in one answer.
	dhtStorePeers = 50
	// dhtStoreTorrents bounds the torrents whose peers are kept.
	dhtStoreTorrents = 5000
	// dhtStoreSweepEvery is how often, at most, a full store is swept of
	// expired announces to make room.
	dhtStoreSweepEvery = time.Minute
)

// dhtPeerStore keeps the peers that other nodes announce to our DHT
// node, to answer their get_peers. Peers are told apart by address and
// port (not by address alone: peers behind one NAT are several), and
// every bound is fixed, whatever strangers announce.
type dhtPeerStore struct {
	mu    sync.Mutex
	peers map[[20]byte]map[netip.AddrPort]time.Time // when each was announced
	swept time.Time
}

func newDHTPeerStore() *dhtPeerStore {
	return &dhtPeerStore{peers: make(map[[20]byte]map[netip.AddrPort]time.Time)}
}

// AddPeer records an announce of na for ih.
func (s *dhtPeerStore) AddPeer(ih metainfo.Hash, na krpc.NodeAddr) {
	a := addrPortOf(na)
	if !a.Addr().IsValid() || a.Port() == 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.peers[ih]
	if ps == nil {
		if len(s.peers) >= dhtStoreTorrents && now.Sub(s.swept) >= dhtStoreSweepEvery {
			s.sweepLocked(now)
		}
		if len(s.peers) >= dhtStoreTorrents {
			return
		}
		ps = make(map[netip.AddrPort]time.Time)
		s.peers[ih] = ps
	}
	if _, ok := ps[a]; !ok && len(ps) >= dhtStorePeers {
		var oldest netip.AddrPort
		var at time.Time
		for p, t := range ps {
			if at.IsZero() || t.Before(at) {
				oldest, at = p, t
			}
		}
		delete(ps, oldest)
	}
	ps[a] = now
}

// GetPeers returns the peers announced for ih within dhtPeerTTL.
func (s *dhtPeerStore) GetPeers(ih metainfo.Hash) []krpc.NodeAddr {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.peers[ih]
	out := make([]krpc.NodeAddr, 0, len(ps))
	for a, t := range ps {
		if now.Sub(t) > dhtPeerTTL {
			delete(ps, a)
			continue
		}
		out = append(out, nodeAddrOf(a))
	}
	if ps != nil && len(ps) == 0 {
		delete(s.peers, ih)
	}
	return out
}

// sweepLocked drops every expired announce. Called with s.mu held.
func (s *dhtPeerStore) sweepLocked(now time.Time) {
	s.swept = now
	for ih, ps := range s.peers {
		for a, t := range ps {
			if now.Sub(t) > dhtPeerTTL {
				delete(ps, a)
			}
		}
		if len(ps) == 0 {
			delete(s.peers, ih)
		}
	}
}
