// Package netguard keeps connections that a stranger chose — a URL given to
// task.add, a tracker named in a torrent or magnet — away from this
// machine and its private networks (SSRF). The check runs on the address
// actually dialled or sent to, after DNS, so a public name that resolves to
// 127.0.0.1 or 192.168.0.1 is refused too.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrForbidden is wrapped by every refusal.
var ErrForbidden = errors.New("address not allowed")

// Public reports whether a is an address on the public internet: not
// loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast or
// unspecified.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() &&
		!a.IsLinkLocalUnicast() && !cgnat.Contains(a) && !a.IsUnspecified()
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Control is a net.Dialer Control function that refuses a socket about to
// connect to a non-public address.
func Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbidden, address)
	}
	if !Public(ap.Addr()) {
		return fmt.Errorf("%w: %s is not a public address", ErrForbidden, ap.Addr())
	}
	return nil
}

// PacketConn wraps pc so that WriteTo a non-public address fails.
func PacketConn(pc net.PacketConn) net.PacketConn { return guardedPacketConn{pc} }

type guardedPacketConn struct{ net.PacketConn }

func (c guardedPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			ip = ap.Addr()
		}
	}
	if !Public(ip) {
		return 0, fmt.Errorf("%w: %s is not a public address", ErrForbidden, addr)
	}
	return c.PacketConn.WriteTo(b, addr)
}
