package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/lodestone-bt/lodestone/internal/engine/native"
	"github.com/lodestone-bt/lodestone/internal/netguard"
	"github.com/lodestone-bt/lodestone/internal/socks"
)

// proxyRoute is the way out through Config.Proxy, a SOCKS5 proxy, for
// both cores: peer connections and tracker announces. It never falls
// back to a direct connection. It alerts once when the proxy stops
// answering and once when it answers again (not on every failed dial),
// and once if the proxy refuses to relay UDP (UDP trackers are then
// skipped). Alerts name the proxy without its password.
type proxyRoute struct {
	p    *socks.Proxy
	push func(Alert)
	// allowPrivate lets trackers be on private addresses
	// (Config.AllowPrivateTrackers). Off, a tracker named by a private
	// address literal is refused before the proxy is asked; a host name
	// is resolved by the proxy, out of our sight.
	allowPrivate bool

	mu         sync.Mutex
	down       bool // the last attempt found the proxy unreachable
	udpRefused bool // the proxy refused UDP ASSOCIATE (alerted)
	// udpNamesWithheld: the anacrolix core withheld a UDP tracker named
	// by a host name (alerted; anacrolix_udpnames.go).
	udpNamesWithheld bool
}

// newProxyRoute returns the route through cfg.Proxy, or nil if none is
// set. push receives its alerts. With cfg.BindInterface (or
// BindAddress), every connection to the proxy is bound like the
// engine's own sockets: to the device, so that with the interface down
// not even the proxy is reached another way (the kill switch holds).
func newProxyRoute(cfg Config, push func(Alert)) (*proxyRoute, error) {
	if cfg.Proxy == "" {
		return nil, nil
	}
	p, err := socks.Parse(cfg.Proxy)
	if err != nil {
		return nil, err
	}
	b, err := newBinding(cfg)
	if err != nil {
		return nil, err
	}
	p.Bind(b.control, b.local)
	return &proxyRoute{p: p, push: push, allowPrivate: cfg.AllowPrivateTrackers}, nil
}

// proxyOnly reports whether cfg asks that nothing leave except through
// the proxy: no listener, no DHT, no uTP, no UPnP.
func proxyOnly(cfg Config) bool { return cfg.Proxy != "" && !cfg.ProxyAllowDirect }

// DialPeer connects to a peer through the proxy.
func (r *proxyRoute) DialPeer(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := r.p.DialContext(ctx, network, addr)
	r.note(err)
	return c, err
}

// DialContext connects to an HTTP(S) tracker through the proxy; a host
// name in addr is resolved by the proxy.
func (r *proxyRoute) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if err := r.checkTracker(host); err != nil {
		return nil, err
	}
	c, err := r.p.DialContext(ctx, network, addr)
	r.note(err)
	return c, err
}

// ListenPacketTo opens a UDP association with the proxy whose datagrams
// all go to host:port, a UDP tracker (native.TrackerProxy).
func (r *proxyRoute) ListenPacketTo(ctx context.Context, host, port string) (net.PacketConn, error) {
	if err := r.checkTracker(host); err != nil {
		return nil, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("tracker port %q: %w", port, err)
	}
	pc, err := r.listenPacket(ctx)
	if err != nil {
		return nil, err
	}
	return fixedDest{pc, socks.Addr{Host: host, Port: uint16(n)}}, nil
}

// listenPacket opens a UDP association with the proxy.
func (r *proxyRoute) listenPacket(ctx context.Context) (net.PacketConn, error) {
	pc, err := r.p.ListenPacket(ctx)
	r.note(err)
	if errors.Is(err, socks.ErrUDPUnsupported) {
		r.mu.Lock()
		first := !r.udpRefused
		r.udpRefused = true
		r.mu.Unlock()
		if first {
			r.push(Alert{Level: LevelWarning, Message: fmt.Sprintf(
				"SOCKS5 proxy %s does not relay UDP: UDP trackers are skipped (never contacted directly)", r.p)})
		}
	}
	return pc, err
}

// checkTracker refuses a tracker named by a non-public address literal
// unless private trackers are allowed.
func (r *proxyRoute) checkTracker(host string) error {
	if r.allowPrivate {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && !netguard.Public(a) {
		return fmt.Errorf("tracker address %s: %w", a, netguard.ErrForbidden)
	}
	return nil
}

// note records the outcome of an attempt through the proxy, alerting
// when the proxy stops answering and when it answers again. An error
// from the proxy itself (it refused the destination, or our password)
// says the proxy is there.
func (r *proxyRoute) note(err error) {
	var ue *socks.UnreachableError
	unreachable := errors.As(err, &ue)
	if err != nil && !unreachable && isOurs(err) {
		return
	}
	r.mu.Lock()
	was := r.down
	r.down = unreachable
	r.mu.Unlock()
	switch {
	case unreachable && !was:
		r.push(Alert{Level: LevelError, Message: fmt.Sprintf(
			"SOCKS5 proxy %s is unreachable: no peer or tracker is contacted until it answers, and nothing connects directly instead: %v", r.p, ue.Err)})
	case !unreachable && was:
		r.push(Alert{Level: LevelInfo, Message: fmt.Sprintf("SOCKS5 proxy %s answers again", r.p)})
	}
}

// isOurs reports whether err came before the proxy was asked anything
// (a context that ended): it says nothing of the proxy.
func isOurs(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fixedDest is a PacketConn that sends every datagram to one
// destination, whatever address it is written to.
type fixedDest struct {
	net.PacketConn
	to net.Addr
}

func (f fixedDest) WriteTo(b []byte, _ net.Addr) (int, error) { return f.PacketConn.WriteTo(b, f.to) }

// proxyNative sends the native core's peer connections and tracker
// announces through cfg.Proxy, if set, and with proxy-only turns off
// what cannot go through it. Peers from every source (trackers, PEX,
// the DHT when on) are dialled through it: the core has one dial path.
func proxyNative(ncfg *native.Config, cfg Config, push func(Alert)) error {
	r, err := newProxyRoute(cfg, push)
	if err != nil || r == nil {
		return err
	}
	ncfg.PeerDialContext = r.DialPeer
	ncfg.TrackerProxy = r
	if proxyOnly(cfg) {
		ncfg.ListenAddr = "" // no listener: no incoming connection
		ncfg.DHT, ncfg.UTP, ncfg.UPnP = false, false, false
	}
	return nil
}

// proxyAnacrolix sends the anacrolix core's peer connections and tracker
// announces through cfg.Proxy, if set, and with proxy-only turns off
// what cannot go through it. The client's own sockets dial no peer: the
// caller adds the route as the one peer dialer (proxyPeerDialer) once
// the client exists. UDP trackers' datagrams go through a UDP
// association; those named by a host name are withheld from this core,
// which would resolve the name itself (withholdNamedUDP).
func proxyAnacrolix(cc *torrent.ClientConfig, cfg Config, push func(Alert), udp *packetConns) (*proxyRoute, error) {
	r, err := newProxyRoute(cfg, push)
	if err != nil || r == nil {
		return nil, err
	}
	cc.DialForPeerConns = false
	cc.TrackerDialContext = r.DialContext
	// Metainfo sources (a magnet's xs); web seeds and WebTorrent are off.
	cc.HTTPDialContext = r.DialContext
	cc.HTTPProxy = nil
	wrap := func(pc net.PacketConn) net.PacketConn { return pc }
	if !cfg.AllowPrivateTrackers {
		wrap = netguard.PacketConn
	}
	// This core panics when it cannot open a UDP tracker's socket: the
	// association is made on the first send instead (lazyAssociation).
	cc.TrackerListenPacket = udp.listenVia(func(string, string) (net.PacketConn, error) {
		return newLazyAssociation(r), nil
	}, wrap)
	if proxyOnly(cfg) {
		// No socket of its own at all: no listener, no uTP, no DHT.
		cc.DisableTCP, cc.DisableUTP, cc.NoDHT = true, true, true
		cc.PeriodicallyAnnounceTorrentsToDht = false
		cc.AcceptPeerConnections = false
		cc.NoDefaultPortForwarding = true
	}
	return r, nil
}

// proxyPeerDialer dials peers through the proxy, for anacrolix's
// Client.AddDialer.
type proxyPeerDialer struct{ r *proxyRoute }

func (d proxyPeerDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.r.DialPeer(ctx, network, addr)
}

// lazyAssociation is a PacketConn over UDP associations with the proxy:
// one is asked for on the first send, and again on a send after it
// failed (the proxy restarted), so that opening the socket never fails
// and a reader waits across associations rather than ending. Deadlines
// are not supported (anacrolix's UDP tracker client sets none).
type lazyAssociation struct {
	r *proxyRoute

	mu     sync.Mutex
	cur    net.PacketConn // nil: none yet, or the last one failed
	closed bool
	// changed is closed (and replaced) whenever cur or closed changes,
	// waking readers.
	changed chan struct{}
}

func newLazyAssociation(r *proxyRoute) *lazyAssociation {
	return &lazyAssociation{r: r, changed: make(chan struct{})}
}

// signalLocked wakes the readers. Called with mu held.
func (l *lazyAssociation) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// drop forgets pc if it is still the current association.
func (l *lazyAssociation) drop(pc net.PacketConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == pc {
		l.cur = nil
		pc.Close()
		l.signalLocked()
	}
}

func (l *lazyAssociation) WriteTo(b []byte, addr net.Addr) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, net.ErrClosed
	}
	pc := l.cur
	l.mu.Unlock()
	if pc == nil {
		// Made without the lock: a reader must not wait on it.
		var err error
		pc, err = l.r.listenPacket(context.Background())
		if err != nil {
			return 0, err
		}
		l.mu.Lock()
		switch {
		case l.closed:
			l.mu.Unlock()
			pc.Close()
			return 0, net.ErrClosed
		case l.cur != nil: // another send made one meanwhile
			old := pc
			pc = l.cur
			defer old.Close()
		default:
			l.cur = pc
			l.signalLocked()
		}
		l.mu.Unlock()
	}
	n, err := pc.WriteTo(b, addr)
	if err != nil {
		l.drop(pc)
	}
	return n, err
}

func (l *lazyAssociation) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		l.mu.Lock()
		pc, closed, changed := l.cur, l.closed, l.changed
		l.mu.Unlock()
		if closed {
			return 0, nil, net.ErrClosed
		}
		if pc == nil {
			<-changed
			continue
		}
		n, addr, err := pc.ReadFrom(b)
		if err == nil {
			return n, addr, nil
		}
		l.drop(pc) // the association ended: wait for the next
	}
}

func (l *lazyAssociation) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
	l.signalLocked()
	return nil
}

// LocalAddr is unspecified: the socket changes with each association.
func (l *lazyAssociation) LocalAddr() net.Addr { return &net.UDPAddr{} }

func (l *lazyAssociation) SetDeadline(time.Time) error      { return errors.ErrUnsupported }
func (l *lazyAssociation) SetReadDeadline(time.Time) error  { return errors.ErrUnsupported }
func (l *lazyAssociation) SetWriteDeadline(time.Time) error { return errors.ErrUnsupported }
