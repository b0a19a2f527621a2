package socks_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lodestone-bt/lodestone/internal/bindif"
	"github.com/lodestone-bt/lodestone/internal/socks"
	"github.com/lodestone-bt/lodestone/internal/socks/dantetest"
)

// TestBind: a Proxy bound to a device (Bind with bindif.Control) binds
// every socket it opens to it — CONNECT's, UDP ASSOCIATE's control
// connection and the UDP socket that talks to the relay, whose device
// the kernel reports back — and the source address is the one given.
// Bound to a device that does not exist, nothing reaches the proxy:
// dante logs no connection.
func TestBind(t *testing.T) {
	d := dantetest.Start(t)
	addr, _, from := echoTCP(t, "127.0.0.6:0")

	var mu sync.Mutex
	var networks []string
	ctl, err := bindif.Control("lo")
	if err != nil {
		t.Fatal(err)
	}
	record := func(network, address string, c syscall.RawConn) error {
		mu.Lock()
		networks = append(networks, network)
		mu.Unlock()
		return ctl(network, address, c)
	}
	p, err := socks.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	p.Bind(record, netip.MustParseAddr("127.0.0.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := p.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	<-from
	pc, err := p.ListenPacket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if ip := pc.LocalAddr().(*net.UDPAddr).IP.String(); ip != "127.0.0.1" {
		t.Errorf("the relay's socket is on %s, want the bound 127.0.0.1", ip)
	}
	raw, err := pc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var dev string
	var gerr error
	raw.Control(func(fd uintptr) { dev, gerr = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE) })
	if gerr != nil || dev != "lo" {
		t.Errorf("the relay's socket: SO_BINDTODEVICE %q, %v; want lo", dev, gerr)
	}
	mu.Lock()
	got := slices.Clone(networks)
	mu.Unlock()
	// CONNECT, then UDP ASSOCIATE's control connection and its UDP socket.
	if want := []string{"tcp4", "tcp4", "udp4"}; !slices.Equal(got, want) {
		t.Errorf("sockets bound: %v, want %v", got, want)
	}

	before := len(d.Connects())
	gone, err := bindif.Control("nosuchif0")
	if err != nil {
		t.Fatal(err)
	}
	q, err := socks.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	q.Bind(gone, netip.Addr{})
	var ue *socks.UnreachableError
	if _, err := q.DialContext(ctx, "tcp", addr.String()); !errors.As(err, &ue) || !errors.Is(err, syscall.ENODEV) {
		t.Errorf("CONNECT bound to a missing device: %v, want UnreachableError with ENODEV", err)
	}
	if _, err := q.ListenPacket(ctx); !errors.As(err, &ue) || !errors.Is(err, syscall.ENODEV) {
		t.Errorf("UDP ASSOCIATE bound to a missing device: %v, want UnreachableError with ENODEV", err)
	}
	if n := len(d.Connects()); n != before {
		t.Errorf("dante made %d connections for the unbound proxy, want none", n-before)
	}
}
