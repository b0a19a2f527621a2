package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8":          true,
		"2001:4860::8888":  true,
		"127.0.0.1":        false,
		"127.8.9.10":       false,
		"::1":              false,
		"10.1.2.3":         false,
		"172.16.0.1":       false,
		"192.168.1.1":      false,
		"169.254.169.254":  false, // cloud metadata
		"100.64.0.1":       false,
		"fd00::1":          false,
		"fe80::1":          false,
		"0.0.0.0":          false,
		"::":               false,
		"224.0.0.1":        false,
		"::ffff:127.0.0.1": false,
		"::ffff:8.8.4.4":   true,
		// Every IPv6 spelling of a private IPv4 address is judged by it.
		"::ffff:10.0.0.1":      false,
		"::127.0.0.1":          false, // IPv4-compatible
		"::10.1.2.3":           false,
		"64:ff9b::7f00:1":      false, // NAT64 of 127.0.0.1
		"64:ff9b::a9fe:a9fe":   false, // NAT64 of 169.254.169.254
		"64:ff9b::808:808":     true,  // NAT64 of 8.8.8.8
		"64:ff9b:1::808:808":   false, // local-use NAT64
		"2002:c0a8:101::1":     false, // 6to4 of 192.168.1.1
		"2002:808:808::1":      true,  // 6to4 of 8.8.8.8
		"2001:0:4136:e378::1":  false, // Teredo
		"::ffff:0:7f00:1":      false, // IPv4-translated (::ffff:0:0/96) of 127.0.0.1: not global
		"2001:db8::1":          false,
		"100::1":               false,
		"fec0::1":              false,
		"0.1.2.3":              false,
		"192.0.0.8":            false,
		"192.0.2.44":           false,
		"198.18.0.1":           false,
		"198.19.255.255":       false,
		"198.51.100.7":         false,
		"203.0.113.9":          false,
		"240.0.0.1":            false,
		"255.255.255.255":      false,
		"2606:4700:4700::1111": true,
		"::ffff:198.18.0.1":    false,
		"64:ff9b::c612:1":      false, // NAT64 of 198.18.0.1
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
}

// The guard refuses a real loopback listener at connect time.
func TestControlRefusesLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := net.Dialer{Control: Control, Timeout: 5 * time.Second}
	_, err = d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("dial loopback: %v, want ErrForbidden", err)
	}
}

func TestPacketConnRefusesLoopback(t *testing.T) {
	target, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := PacketConn(pc)
	defer g.Close()
	if _, err := g.WriteTo([]byte("x"), target.LocalAddr()); !errors.Is(err, ErrForbidden) {
		t.Fatalf("WriteTo loopback: %v, want ErrForbidden", err)
	}
	target.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _, err := target.ReadFrom(make([]byte, 10)); err == nil {
		t.Fatalf("the target received %d bytes", n)
	}
}

// TestViaProxy: through a proxy, a non-public address literal (in any
// spelling) or localhost is refused before the proxy's dialer is
// called; a public literal and any other host name are passed on,
// unresolved.
func TestViaProxy(t *testing.T) {
	var asked []string
	dial := ViaProxy(func(_ context.Context, _, addr string) (net.Conn, error) {
		asked = append(asked, addr)
		return nil, errors.New("the proxy's dialer")
	})
	for addr, refused := range map[string]bool{
		"127.0.0.9:80":          true,
		"[::1]:80":              true,
		"[::ffff:10.0.0.1]:443": true,
		"[fe80::1%lo]:80":       true,
		"169.254.169.254:80":    true,
		"no-port":               true,
		"8.8.8.8:80":            false,
		"[2001:4860::8888]:443": false,
		"localhost:80":          true,
		"LocalHost.:80":         true,
		"a.localhost:80":        true,
		"localhost.example:80":  false, // the proxy's to resolve
		"tracker.example:443":   false,
	} {
		asked = nil
		_, err := dial(context.Background(), "tcp", addr)
		if got := errors.Is(err, ErrForbidden); got != refused {
			t.Errorf("%s: err %v, want refused %v", addr, err, refused)
		}
		if refused == (len(asked) != 0) {
			t.Errorf("%s: the proxy's dialer was asked %v", addr, asked)
		}
	}
}
