package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	utp "github.com/anacrolix/go-utp"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/mse"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// Networks a peer connection runs over (PeerStat.Network).
const (
	NetworkTCP = "tcp"
	NetworkUTP = "utp" // uTP (BEP 29), over UDP
)

const (
	// listenAttempts is how many ports the system picks (ListenAddr's
	// port 0) before we give up finding one free for TCP and UDP alike.
	listenAttempts = 5
	// utpHeadStart is how long an outgoing connection has over TCP alone
	// before uTP is tried beside it (see connect).
	utpHeadStart = 2 * time.Second
	// utpWriteBuffer gathers a uTP peer's small writes (message headers,
	// blocks) into large ones: uTP sends each write at once, in packets
	// of its own.
	utpWriteBuffer = 64 << 10
)

// listen opens the TCP listener at cfg.ListenAddr and, with uTP or the
// DHT on, the UDP socket on the same port number. When the system picks
// the port and its number is taken for UDP, both are opened again on
// another, up to listenAttempts times.
func (c *Client) listen() error {
	host, port, err := net.SplitHostPort(c.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("native: listen address: %w", err)
	}
	wantUDP := c.cfg.UTP || c.cfg.DHT
	attempts := 1
	if wantUDP && port == "0" {
		attempts = listenAttempts
	}
	for i := 1; ; i++ {
		lc := net.ListenConfig{Control: c.cfg.Control}
		ln, err := lc.Listen(context.Background(), "tcp", c.cfg.ListenAddr)
		if err != nil {
			return fmt.Errorf("native: listen: %w", err)
		}
		if !wantUDP {
			c.ln = ln
			return nil
		}
		udpAddr := net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		err = c.listenUDP(udpAddr)
		if err == nil {
			c.ln = ln
			return nil
		}
		ln.Close()
		if i >= attempts || !errors.Is(err, syscall.EADDRINUSE) {
			return err
		}
	}
}

// listenUDP opens the UDP socket at addr: the uTP socket with uTP on,
// else a plain one for the DHT. A build without cgo has no uTP: it stays
// off, with a warning.
func (c *Client) listenUDP(addr string) error {
	lc := net.ListenConfig{Control: c.cfg.Control}
	if c.cfg.UTP {
		s, err := c.newUTPSocket(addr)
		switch {
		case err == nil:
			c.utp, c.udp = s, s
			return nil
		case errors.Is(err, errors.ErrUnsupported):
			c.log.Warn("uTP unavailable", "err", err)
		default:
			return fmt.Errorf("native: listen: %w", err)
		}
	}
	if !c.cfg.DHT {
		return nil
	}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return fmt.Errorf("native: listen: %w", err)
	}
	c.udp = pc
	return nil
}

// newUTPSocket opens the uTP socket at addr. With a Control (a socket
// bound to an interface), the UDP socket is opened here, where Control
// can run on it, and handed to uTP.
func (c *Client) newUTPSocket(addr string) (utp.Socket, error) {
	opt := utp.WithLogger(c.log.With("component", "utp"))
	if c.cfg.Control == nil {
		return utp.NewSocket("udp", addr, opt)
	}
	lc := net.ListenConfig{Control: c.cfg.Control}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, err
	}
	s, err := utp.NewSocketFromPacketConn(pc, opt)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return s, nil
}

// UTPAddr returns the uTP socket's address (the listener's port number),
// or an invalid one when uTP is off (not asked for, or no cgo).
func (c *Client) UTPAddr() netip.AddrPort {
	if c.utp == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(c.utp.Addr().String())
	return ap
}

// acceptor is a TCP listener or the uTP socket.
type acceptor interface {
	Accept() (net.Conn, error)
}

// acceptLoop serves the connections ln accepts until it is closed. Once
// the client closes, a connection accepted is closed at once; one that
// the uTP socket hands over after it closed is left alone.
func (c *Client) acceptLoop(ln acceptor) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if c.refuseConn(conn) {
			continue
		}
		if networkOf(conn) == NetworkUTP && !c.udpAllowed(c.policy()) {
			conn.Close() // the policy changed since the socket opened
			continue
		}
		if !c.goTracked(func() { c.serveIncoming(conn) }) {
			c.mu.Lock()
			if !c.utpClosed {
				conn.Close()
			}
			c.mu.Unlock()
		}
	}
}

// networkOf tells which network conn runs over: uTP connections are the
// ones with a UDP address.
func networkOf(conn net.Conn) string {
	if _, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		return NetworkUTP
	}
	return NetworkTCP
}

// peerConn is an outgoing connection past the BitTorrent handshake: r
// and w are the stream (the connection itself, or its MSE layer).
type peerConn struct {
	conn net.Conn
	r    io.Reader
	w    io.Writer
	res  pp.HandshakeResult
	// crypto is the connection's encryption (Crypto*).
	crypto string
	// pol is the policy the connection was made under.
	pol *Policy
}

// connect dials addr and shakes hands for infoHash. TCP goes first. With
// uTP on, uTP is tried too: at once when TCP cannot reach the peer
// (refused, unreachable), or beside TCP when TCP has not shaken hands
// within utpHeadStart (a firewall that drops TCP, a slow peer); the first
// handshake wins and the other attempt is closed. A peer that TCP reached
// but that refused our handshakes is not tried over uTP: it is there, and
// does not want us.
func (c *Client) connect(ctx context.Context, addr netip.AddrPort, infoHash [20]byte) (*peerConn, error) {
	if !c.udpAllowed(c.policy()) {
		pc, _, err := c.connectOver(ctx, NetworkTCP, addr, infoHash)
		return pc, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		network string
		pc      *peerConn
		reached bool
		err     error
	}
	results := make(chan result, 2)
	start := func(network string) {
		go func() {
			pc, reached, err := c.connectOver(ctx, network, addr, infoHash)
			results <- result{network, pc, reached, err}
		}()
	}
	start(NetworkTCP)
	running, utpStarted := 1, false
	headStart := time.NewTimer(utpHeadStart)
	defer headStart.Stop()
	var won *peerConn
	var errs []error
	for running > 0 {
		select {
		case <-headStart.C:
			if !utpStarted && won == nil {
				utpStarted = true
				running++
				start(NetworkUTP)
			}
		case r := <-results:
			running--
			switch {
			case r.err == nil && won == nil:
				won = r.pc
				cancel() // the other attempt gives up
			case r.err == nil:
				r.pc.conn.Close() // it lost the race
			default:
				errs = append(errs, fmt.Errorf("%s: %w", r.network, r.err))
				if r.network == NetworkTCP && !r.reached && !utpStarted && won == nil {
					utpStarted = true
					running++
					start(NetworkUTP)
				}
			}
		}
	}
	if won != nil {
		return won, nil
	}
	return nil, errors.Join(errs...)
}

// connectOver dials addr over network and shakes hands for infoHash as
// the encryption policy says: under EncryptionPrefer with an encrypted
// handshake first (MSE/PE), and if the peer hangs up on that (peers
// that speak plaintext only do), once more in plain; under
// EncryptionRequire encrypted only, under EncryptionDisable plain only.
// reached reports whether the peer answered the dial.
func (c *Client) connectOver(ctx context.Context, network string, addr netip.AddrPort, infoHash [20]byte) (_ *peerConn, reached bool, _ error) {
	pol := c.policy() // the connection is made under it
	policy := pol.Encryption
	pc, reached, err := c.connectWith(ctx, network, addr, infoHash, policy != EncryptionDisable, pol)
	if policy != EncryptionPrefer || err == nil || !reached || ctx.Err() != nil {
		return pc, reached, err
	}
	pc, _, err2 := c.connectWith(ctx, network, addr, infoHash, false, pol)
	if err2 != nil {
		return nil, true, fmt.Errorf("encrypted: %w; plain: %w", err, err2)
	}
	return pc, true, nil
}

// dial opens a connection to addr over network.
func (c *Client) dial(ctx context.Context, network string, addr netip.AddrPort, pol *Policy) (net.Conn, error) {
	if c.refused(addr.Addr()) {
		// Queued before the list blocked it (a redial).
		return nil, errBlocked
	}
	if network == NetworkUTP {
		if !c.udpAllowed(pol) {
			return nil, errors.New("native: uTP is off until a restart (the network policy changed)")
		}
		return c.utp.DialContext(ctx, "udp", addr.String())
	}
	if pol.PeerDialContext != nil {
		return pol.PeerDialContext(ctx, "tcp", addr.String())
	}
	d := net.Dialer{Control: pol.Control}
	if pol.LocalAddr.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(pol.LocalAddr, 0))
	}
	return d.DialContext(ctx, "tcp", addr.String())
}

// connectWith makes one attempt; reached reports whether the connection
// was made.
func (c *Client) connectWith(ctx context.Context, network string, addr netip.AddrPort, infoHash [20]byte, encrypted bool, pol *Policy) (_ *peerConn, reached bool, err error) {
	conn, err := c.dial(ctx, network, addr, pol)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	pc := &peerConn{conn: conn, r: deadlineConn{conn}, w: conn, pol: pol}
	ih := metainfo.Hash(infoHash)
	pc.crypto = CryptoPlaintext
	if encrypted {
		rw, method, err := mse.InitiateHandshakeContext(ctx, deadlineConn{conn}, ih[:], nil, cryptoProvides(pol.Encryption))
		if err != nil {
			return nil, true, fmt.Errorf("native: MSE handshake: %w", err)
		}
		pc.r, pc.w, pc.crypto = rw, rw, cryptoName(method)
	}
	pc.res, err = pp.Handshake(ctx, struct {
		io.Reader
		io.Writer
	}{pc.r, pc.w}, &ih, pol.peerID, ourBits())
	switch {
	case err != nil:
	case pc.res.Hash != ih:
		err = errors.New("native: peer answered for another torrent")
	case pc.res.PeerID == pol.peerID:
		err = errors.New("native: connected to ourselves")
	}
	if err != nil {
		return nil, true, err
	}
	return pc, true, nil
}
