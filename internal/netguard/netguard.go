// Package netguard keeps connections that a stranger chose — a URL given to
// task.add, a tracker named in a torrent or magnet — away from this
// machine and its private networks (SSRF). The check runs on the address
// actually dialled or sent to, after DNS, so a public name that resolves to
// 127.0.0.1 or 192.168.0.1 is refused too.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// ErrForbidden is wrapped by every refusal.
var ErrForbidden = errors.New("address not allowed")

// Public reports whether a is an address on the public internet: not
// loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast,
// unspecified, nor any other special-use range (IANA's registries: this
// network, protocol assignments, documentation, benchmarking, reserved).
// An IPv6 address that carries an IPv4 one — IPv4-mapped, IPv4-compatible,
// IPv4-translated, NAT64 (64:ff9b::/96) or 6to4 (2002::/16) — is judged by that IPv4
// address, so no spelling of 127.0.0.1 or 10.0.0.1 gets through; the
// local-use NAT64 prefix and Teredo are refused outright.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() {
		return false
	}
	if v4, ok := embeddedIPv4(a); ok {
		return Public(v4)
	}
	for _, p := range special {
		if p.Contains(a) {
			return false
		}
	}
	return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() &&
		!a.IsLinkLocalUnicast() && !a.IsUnspecified()
}

// special are the special-use ranges that are not public, beside those
// netip names (loopback, private, link-local, multicast, unspecified).
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // this network
		"100.64.0.0/10",   // CGNAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation (TEST-NET-1)
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation (TEST-NET-2)
		"203.0.113.0/24",  // documentation (TEST-NET-3)
		"240.0.0.0/4",     // reserved, and the broadcast address
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard
		"2001::/32",       // Teredo: its IPv4 is obfuscated
		"2001:2::/48",     // benchmarking
		"2001:db8::/32",   // documentation
		"fec0::/10",       // site-local (deprecated)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	compatible = netip.MustParsePrefix("::/96")
	translated = netip.MustParsePrefix("::ffff:0:0:0/96")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries by one of
// the standard transition spellings.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a), translated.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case compatible.Contains(a) && !a.IsUnspecified() && !a.IsLoopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	}
	return netip.Addr{}, false
}

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

// DialFunc is the shape of net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ViaProxy wraps dial, a dialer through a proxy that resolves host names
// itself, with what is left of the SSRF check there: Control cannot
// help, as the socket dialled is the proxy's. A target that is an
// address literal is refused unless public; a host name is passed on
// unresolved (but "localhost" and its subdomains), so its address is
// the proxy's business and out of our sight (resolving it here only to
// check it would leak the lookup).
func ViaProxy(dial DialFunc) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrForbidden, addr)
		}
		if a, err := netip.ParseAddr(host); err == nil && !Public(a) {
			return nil, fmt.Errorf("%w: %s is not a public address", ErrForbidden, a)
		}
		// The one name known without a lookup to mean "this machine"
		// (RFC 6761): the proxy's, here.
		if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
			return nil, fmt.Errorf("%w: %s names this machine, not a public address", ErrForbidden, host)
		}
		return dial(ctx, network, addr)
	}
}
