package engine

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/lodestone-bt/lodestone/internal/netguard"
)

// anacrolixBound is what binding (Config.BindInterface, BindAddress)
// adds to the anacrolix core, which has hooks for its UDP socket and its
// trackers but none for its own TCP sockets: its TCP is turned off and
// replaced by a listener and a dialer of ours, bound like the rest.
type anacrolixBound struct {
	ln net.Listener // our TCP peer listener (nil: none); closed by close
	b  binding
	// proxied: outgoing TCP goes through the proxy, not our dialer.
	proxied bool

	mu sync.Mutex
	// held are the peers each torrent knew when the interface went
	// down, given back to it when the interface is up again.
	held map[metainfo.Hash][]torrent.PeerInfo
}

// bindAnacrolix sets cc up for b: UDP (uTP and the DHT) and trackers
// through bound sockets, no UPnP, and the engine's TCP off in favour of
// ours, opened here (its port becomes cc.ListenPort, so uTP shares it).
// guard refuses trackers on private addresses. Call attach once the
// client exists.
//
// proxied: trackers and outgoing TCP peers go through the proxy (its
// route, bound to the same device, was set up already): they are left
// to it, and no direct dialer is added. proxyOnly: no listener either.
func bindAnacrolix(cc *torrent.ClientConfig, b binding, peerAddr string, guard bool, udpTrackers *packetConns, proxied, proxyOnly bool) (*anacrolixBound, error) {
	cc.NoDefaultPortForwarding = true
	if proxyOnly {
		// Nothing of the client's own but what the proxy carries.
		return &anacrolixBound{b: b, proxied: true, held: make(map[metainfo.Hash][]torrent.PeerInfo)}, nil
	}
	addr, err := b.peerAddr(peerAddr)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: b.control}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cc.ListenHost = func(string) string { return host }
	cc.ListenPort, _ = strconv.Atoi(port)
	cc.DisableTCP = true
	cc.ListenPacket = b.listenPacket
	bound := &anacrolixBound{ln: ln, b: b, proxied: proxied, held: make(map[metainfo.Hash][]torrent.PeerInfo)}
	if proxied {
		return bound, nil
	}
	dial, _ := b.trackerSockets(guard)
	cc.TrackerDialContext = dial
	wrap := func(pc net.PacketConn) net.PacketConn { return pc }
	if guard {
		wrap = func(pc net.PacketConn) net.PacketConn { return netguard.PacketConn(pc) }
	}
	cc.TrackerListenPacket = udpTrackers.listenVia(b.listenPacket, wrap)
	return bound, nil
}

// attach gives cl our TCP listener and dialer (neither when they are
// the proxy's).
func (a *anacrolixBound) attach(cl *torrent.Client) {
	if a.ln != nil {
		cl.AddListener(a.ln)
	}
	if a.proxied {
		return
	}
	d := &net.Dialer{Control: a.b.control}
	if a.b.local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: a.b.local.AsSlice()}
	}
	cl.AddDialer(torrent.NetworkDialer{Network: "tcp", Dialer: d})
}

// setDown is the netWatch callback: down, every peer connection is
// closed (they could carry nothing) after the torrents' known peers were
// noted; up, the noted peers are given back, to be dialled from the
// interface's new address.
func (a *anacrolixBound) setDown(cl *torrent.Client, down bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range cl.Torrents() {
		if down {
			a.held[t.InfoHash()] = t.KnownSwarm()
			for _, pc := range t.PeerConns() {
				pc.Close()
			}
			continue
		}
		if ps := a.held[t.InfoHash()]; len(ps) > 0 {
			t.AddPeers(ps)
		}
	}
	if !down {
		clear(a.held)
	}
}

// close closes our listener (the client does not close listeners it was
// given). Nil-safe.
func (a *anacrolixBound) close() error {
	if a == nil || a.ln == nil {
		return nil
	}
	return a.ln.Close()
}
