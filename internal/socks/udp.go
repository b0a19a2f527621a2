package socks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// RFC 1928 and RFC 1929 constants.
const (
	version5        = 0x05
	methodNone      = 0x00
	methodUserPass  = 0x02
	methodNoneFound = 0xff
	cmdUDPAssociate = 0x03
	atypIPv4        = 0x01
	atypDomain      = 0x03
	atypIPv6        = 0x04
	userPassVersion = 0x01
)

// ErrUDPUnsupported is returned by ListenPacket when the proxy refuses
// UDP ASSOCIATE (not all proxies relay UDP, or allow it).
var ErrUDPUnsupported = errors.New("socks: the proxy does not relay UDP (UDP ASSOCIATE refused)")

// handshakeTimeout bounds the exchange with the proxy before the
// association is up.
const handshakeTimeout = 15 * time.Second

// ListenPacket asks the proxy for a UDP association (RFC 1928 section 7)
// and returns a PacketConn whose datagrams go through the proxy's relay.
// WriteTo accepts a *net.UDPAddr or an Addr (which may carry a host name,
// resolved by the proxy). The association lasts as long as its TCP
// control connection: when the proxy closes that, the PacketConn closes
// too. The caller closes it.
func (p *Proxy) ListenPacket(ctx context.Context) (net.PacketConn, error) {
	ctrl, err := forwardDialer{p}.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	relay, err := p.associate(ctx, ctrl)
	if err != nil {
		ctrl.Close()
		return nil, err
	}
	// The datagrams leave from the address the control connection left
	// from: a proxy may relay only for that.
	// Bound like the control connection (Bind).
	local := ctrl.LocalAddr().(*net.TCPAddr)
	lc := net.ListenConfig{Control: p.control}
	sock, err := lc.ListenPacket(ctx, "udp", (&net.UDPAddr{IP: local.IP}).String())
	if err != nil {
		ctrl.Close()
		return nil, fmt.Errorf("socks: UDP socket: %w", err)
	}
	pc := &packetConn{UDPConn: sock.(*net.UDPConn), ctrl: ctrl, relay: relay}
	go pc.watch()
	return pc, nil
}

// associate negotiates the method, authenticates and sends UDP ASSOCIATE
// on ctrl, returning the relay's address.
func (p *Proxy) associate(ctx context.Context, ctrl net.Conn) (*net.UDPAddr, error) {
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctrl.SetDeadline(deadline)
	defer ctrl.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { ctrl.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	methods := []byte{version5, 1, methodNone}
	if p.user != "" {
		methods = []byte{version5, 2, methodNone, methodUserPass}
	}
	if _, err := ctrl.Write(methods); err != nil {
		return nil, fmt.Errorf("socks: greeting: %w", err)
	}
	var reply [2]byte
	if _, err := io.ReadFull(ctrl, reply[:]); err != nil {
		return nil, fmt.Errorf("socks: greeting: %w", err)
	}
	if reply[0] != version5 {
		return nil, fmt.Errorf("socks: not a SOCKS5 proxy (version %d)", reply[0])
	}
	switch reply[1] {
	case methodNone:
	case methodUserPass:
		if p.user == "" {
			return nil, errors.New("socks: the proxy wants a user name and password")
		}
		req := []byte{userPassVersion, byte(len(p.user))}
		req = append(req, p.user...)
		req = append(req, byte(len(p.pass)))
		req = append(req, p.pass...)
		if _, err := ctrl.Write(req); err != nil {
			return nil, fmt.Errorf("socks: authentication: %w", err)
		}
		if _, err := io.ReadFull(ctrl, reply[:]); err != nil {
			return nil, fmt.Errorf("socks: authentication: %w", err)
		}
		if reply[1] != 0 {
			return nil, errors.New("socks: user name or password refused")
		}
	case methodNoneFound:
		return nil, errors.New("socks: the proxy accepts none of our authentication methods")
	default:
		return nil, fmt.Errorf("socks: the proxy chose an unknown method %d", reply[1])
	}
	// DST.ADDR 0.0.0.0:0: we do not know our outside address; the proxy
	// relays for the client host it sees.
	if _, err := ctrl.Write([]byte{version5, cmdUDPAssociate, 0, atypIPv4, 0, 0, 0, 0, 0, 0}); err != nil {
		return nil, fmt.Errorf("socks: UDP ASSOCIATE: %w", err)
	}
	var head [3]byte
	if _, err := io.ReadFull(ctrl, head[:]); err != nil {
		return nil, fmt.Errorf("socks: UDP ASSOCIATE: %w", err)
	}
	if head[1] != 0 {
		return nil, fmt.Errorf("%w (reply %d)", ErrUDPUnsupported, head[1])
	}
	bnd, err := readAddr(ctrl)
	if err != nil {
		return nil, fmt.Errorf("socks: UDP ASSOCIATE reply: %w", err)
	}
	ap, err := netip.ParseAddrPort(bnd.String())
	if err != nil {
		return nil, fmt.Errorf("socks: UDP relay address %s: %w", bnd, err)
	}
	ip := ap.Addr().Unmap()
	if ip.IsUnspecified() {
		// "Send to me": the relay is on the proxy's host.
		ip = ctrl.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, ap.Port())), nil
}

// Addr is a destination: an IP address or a host name the proxy
// resolves, and a port.
type Addr struct {
	Host string
	Port uint16
}

func (a Addr) Network() string { return "udp" }
func (a Addr) String() string  { return net.JoinHostPort(a.Host, fmt.Sprint(a.Port)) }

// readAddr reads ATYP, DST.ADDR and DST.PORT.
func readAddr(r io.Reader) (Addr, error) {
	var atyp [1]byte
	if _, err := io.ReadFull(r, atyp[:]); err != nil {
		return Addr{}, err
	}
	var host []byte
	switch atyp[0] {
	case atypIPv4:
		host = make([]byte, 4)
	case atypIPv6:
		host = make([]byte, 16)
	case atypDomain:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return Addr{}, err
		}
		host = make([]byte, n[0])
	default:
		return Addr{}, fmt.Errorf("unknown address type %d", atyp[0])
	}
	var port [2]byte
	if _, err := io.ReadFull(r, host); err != nil {
		return Addr{}, err
	}
	if _, err := io.ReadFull(r, port[:]); err != nil {
		return Addr{}, err
	}
	a := Addr{Host: string(host), Port: binary.BigEndian.Uint16(port[:])}
	if atyp[0] != atypDomain {
		ip, _ := netip.AddrFromSlice(host)
		a.Host = ip.Unmap().String()
	}
	return a, nil
}

// appendAddr appends ATYP, DST.ADDR and DST.PORT for a.
func appendAddr(b []byte, a Addr) ([]byte, error) {
	if ip, err := netip.ParseAddr(a.Host); err == nil {
		ip = ip.Unmap()
		if ip.Is4() {
			b = append(b, atypIPv4)
		} else {
			b = append(b, atypIPv6)
		}
		b = append(b, ip.AsSlice()...)
	} else {
		if len(a.Host) == 0 || len(a.Host) > 255 {
			return nil, fmt.Errorf("socks: host name %q too long or empty", a.Host)
		}
		b = append(b, atypDomain, byte(len(a.Host)))
		b = append(b, a.Host...)
	}
	return binary.BigEndian.AppendUint16(b, a.Port), nil
}

// packetConn is a UDP association: the local socket that talks to the
// relay, and the control connection that keeps it alive.
type packetConn struct {
	*net.UDPConn
	ctrl  net.Conn
	relay *net.UDPAddr

	closeOnce sync.Once
	closeErr  error
}

// watch closes the association once the proxy ends it (closes the
// control connection), so that readers do not wait forever.
func (c *packetConn) watch() {
	io.Copy(io.Discard, c.ctrl)
	c.Close()
}

// WriteTo sends p to addr (a *net.UDPAddr, *net.UDPAddr-like or Addr)
// through the relay.
func (c *packetConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	var dst Addr
	switch a := addr.(type) {
	case Addr:
		dst = a
	case *Addr:
		dst = *a
	case *net.UDPAddr:
		ap := a.AddrPort()
		dst = Addr{Host: ap.Addr().Unmap().String(), Port: ap.Port()}
	default:
		host, port, err := net.SplitHostPort(addr.String())
		if err != nil {
			return 0, fmt.Errorf("socks: destination %v: %w", addr, err)
		}
		var n uint16
		if _, err := fmt.Sscan(port, &n); err != nil {
			return 0, fmt.Errorf("socks: destination %v: bad port", addr)
		}
		dst = Addr{Host: host, Port: n}
	}
	b, err := appendAddr([]byte{0, 0, 0}, dst) // RSV, RSV, FRAG 0
	if err != nil {
		return 0, err
	}
	b = append(b, p...)
	if _, err := c.UDPConn.WriteTo(b, c.relay); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ReadFrom reads the next datagram relayed to us, returning its sender.
// Datagrams from anywhere but the relay, and fragments (which we never
// ask for), are dropped.
func (c *packetConn) ReadFrom(p []byte) (int, net.Addr, error) {
	buf := make([]byte, len(p)+262)
	for {
		n, from, err := c.UDPConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return 0, nil, err
		}
		if from.Addr().Unmap() != c.relay.AddrPort().Addr().Unmap() || from.Port() != c.relay.AddrPort().Port() {
			continue
		}
		if n < 4 || buf[2] != 0 {
			continue
		}
		r := &byteReader{b: buf[3:n]}
		src, err := readAddr(r)
		if err != nil {
			continue
		}
		var addr net.Addr = src
		if ip, err := netip.ParseAddr(src.Host); err == nil {
			addr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, src.Port))
		}
		return copy(p, r.b), addr, nil
	}
}

// Close ends the association: the control connection and the socket.
func (c *packetConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = errors.Join(c.UDPConn.Close(), c.ctrl.Close())
	})
	return c.closeErr
}

// byteReader reads from b, leaving the rest in b.
type byteReader struct{ b []byte }

func (r *byteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
