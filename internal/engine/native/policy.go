package native

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Policy is the part of a Client's Config that may change while it runs
// (SetPolicy): the ways out (listener, peer dialer, trackers' sockets)
// and what peers and trackers are shown (encryption, name). Its fields
// mean Config's of the same names.
type Policy struct {
	ListenAddr          string
	Control             func(network, address string, c syscall.RawConn) error
	LocalAddr           netip.Addr
	PeerDialContext     func(ctx context.Context, network, addr string) (net.Conn, error)
	TrackerDialContext  func(ctx context.Context, network, addr string) (net.Conn, error)
	TrackerListenPacket func(network, addr string) (net.PacketConn, error)
	TrackerProxy        TrackerProxy
	UserAgent           string
	Encryption          string
	Anonymous           bool

	// peerID is ours under this policy: a new one when Anonymous
	// changes.
	peerID [20]byte
	// route numbers the ways out: a connection made under another route
	// is closed by SetPolicy (it went out by a way no longer allowed).
	route uint64
}

// policyOf is the Policy part of cfg.
func policyOf(cfg Config) Policy {
	return Policy{
		ListenAddr: cfg.ListenAddr, Control: cfg.Control, LocalAddr: cfg.LocalAddr,
		PeerDialContext: cfg.PeerDialContext, TrackerDialContext: cfg.TrackerDialContext,
		TrackerListenPacket: cfg.TrackerListenPacket, TrackerProxy: cfg.TrackerProxy,
		UserAgent: cfg.UserAgent, Encryption: cfg.Encryption, Anonymous: cfg.Anonymous,
		peerID: cfg.PeerID, route: 1,
	}
}

// policy returns the policy in force.
func (c *Client) policy() *Policy { return c.pol.Load() }

// breaks reports whether a connection made under was, with encryption
// crypto, breaks policy p: it went out by another route, or its
// encryption is one p refuses.
func (p *Policy) breaks(was *Policy, crypto string) bool {
	if p == was || was == nil {
		return false
	}
	if p.route != was.route {
		return true
	}
	switch p.Encryption {
	case EncryptionRequire:
		return crypto != CryptoRC4
	case EncryptionDisable:
		return crypto != CryptoPlaintext
	}
	return false
}

// udpAllowed reports whether the UDP socket (uTP) may carry peers under
// p: it was opened for the route the client started with, and is not
// reopened (SetPolicy).
func (c *Client) udpAllowed(p *Policy) bool { return c.utp != nil && p.route == 1 }

// udpRoute reports whether the route in force is the one the UDP socket
// was opened for (the DHT may send).
func (c *Client) udpRoute() bool { return c.policy().route == 1 }

// SetPolicy puts p in force while the client runs. reroute says that
// the ways out changed (ListenAddr, Control, LocalAddr, the peer dialer
// or the trackers'): every peer connection is then closed, the listener
// is opened again as p says (on the port it had), the trackers' clients
// are made again, and uTP and the DHT are off (the DHT sends nothing)
// until a restart: the UDP socket is not reopened (HasUDP). Connections
// whose encryption p refuses are closed too. Peers that were dropped
// are dialled again, and every torrent announces at once. New
// connections follow p; so does the next announce. It returns the
// error of opening the listener, if any (the client then has none until
// SetPolicy or SetNetworkDown(false) opens it).
func (c *Client) SetPolicy(p Policy, reroute bool) error {
	if err := CheckEncryption(p.Encryption); err != nil {
		return err
	}
	if p.Encryption == "" {
		p.Encryption = EncryptionPrefer
	}
	c.polMu.Lock()
	defer c.polMu.Unlock()
	old := c.policy()
	p.peerID, p.route = old.peerID, old.route
	if p.Anonymous != old.Anonymous {
		if err := newPeerID(&p.peerID, p.Anonymous); err != nil {
			return err
		}
	}
	if reroute {
		c.routes++
		p.route = c.routes
	}
	c.pol.Store(&p)
	c.trackers.setRoute(c.trackerDial(&p), p.TrackerProxy != nil)
	var lerr error
	if reroute {
		lerr = c.relisten(&p)
	}
	c.mu.Lock()
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	for _, t := range ts {
		if t.dropBroken(&p) > 0 || reroute {
			t.redialAll()
		}
		t.Reannounce()
	}
	return lerr
}

// trackerDial is the dialer of HTTP trackers under p.
func (c *Client) trackerDial(p *Policy) func(context.Context, string, string) (net.Conn, error) {
	switch {
	case p.TrackerProxy != nil:
		return p.TrackerProxy.DialContext
	case p.TrackerDialContext != nil:
		return p.TrackerDialContext
	}
	return (&net.Dialer{Control: p.Control}).DialContext
}

// trackerListen is the socket maker of UDP trackers under p.
func (c *Client) trackerListen(p *Policy) func(network, addr string) (net.PacketConn, error) {
	if p.TrackerListenPacket != nil || p.Control == nil {
		return p.TrackerListenPacket
	}
	lc := net.ListenConfig{Control: p.Control}
	return func(network, addr string) (net.PacketConn, error) {
		return lc.ListenPacket(context.Background(), network, addr)
	}
}

// dropBroken closes the peers of t whose connection breaks p, and
// returns how many.
func (t *Torrent) dropBroken(p *Policy) int {
	t.mu.Lock()
	var ps []*peer
	for q := range t.peers {
		if p.breaks(q.pol, q.crypto) {
			ps = append(ps, q)
		}
	}
	t.mu.Unlock()
	for _, q := range ps {
		q.close()
	}
	return len(ps)
}

// relisten closes the TCP listener and opens one as p says, on the port
// the old one had (or ListenAddr's when there was none). Called with
// polMu held.
func (c *Client) relisten(p *Policy) error {
	c.mu.Lock()
	old := c.ln
	c.ln = nil
	if old != nil {
		c.lnPort = old.Addr().(*net.TCPAddr).Port
	}
	c.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return c.openListener(p)
}

// openListener opens the TCP listener of p, if it wants one and there
// is none, and serves it. Called with polMu held.
func (c *Client) openListener(p *Policy) error {
	if p.ListenAddr == "" {
		return nil
	}
	c.mu.Lock()
	has, port := c.ln != nil, c.lnPort
	c.mu.Unlock()
	if has {
		return nil
	}
	host, sport, err := net.SplitHostPort(p.ListenAddr)
	if err != nil {
		return fmt.Errorf("native: listen address: %w", err)
	}
	addr := p.ListenAddr
	if port != 0 {
		addr = net.JoinHostPort(host, fmt.Sprint(port))
	} else if sport == "0" && c.udp != nil {
		// The UDP socket's port, so that both keep one number.
		addr = net.JoinHostPort(host, fmt.Sprint(c.udp.LocalAddr().(*net.UDPAddr).Port))
	}
	lc := net.ListenConfig{Control: p.Control}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("native: listen on %s: %w", addr, err)
	}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		ln.Close()
		return errClosed
	}
	c.ln, c.lnPort = ln, ln.Addr().(*net.TCPAddr).Port
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.acceptLoop(ln)
	}()
	return nil
}

// reopenListener opens the listener the policy wants if there is none
// (the bound interface did not exist when it was last tried).
func (c *Client) reopenListener() {
	c.polMu.Lock()
	defer c.polMu.Unlock()
	if err := c.openListener(c.policy()); err != nil && !errors.Is(err, errClosed) {
		c.log.Warn("peer listener not opened", "err", err)
	}
}

// HasUDP reports whether the client runs a UDP socket (uTP or the DHT),
// which SetPolicy does not reopen.
func (c *Client) HasUDP() bool { return c.udp != nil }
