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
		"8.8.8.8":           true,
		"2001:4860::8888":   true,
		"127.0.0.1":         false,
		"127.8.9.10":        false,
		"::1":               false,
		"10.1.2.3":          false,
		"172.16.0.1":        false,
		"192.168.1.1":       false,
		"169.254.169.254":   false, // cloud metadata
		"100.64.0.1":        false,
		"fd00::1":           false,
		"fe80::1":           false,
		"0.0.0.0":           false,
		"::":                false,
		"224.0.0.1":         false,
		"::ffff:127.0.0.1":  false,
		"::ffff:192.0.2.44": true,
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
