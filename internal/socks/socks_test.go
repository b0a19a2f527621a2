package socks_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/socks"
	"github.com/lodestone-bt/lodestone/internal/socks/dantetest"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "socks5://127.0.0.1:1080", want: "socks5://127.0.0.1:1080"},
		{in: "socks5h://proxy.example:1080", want: "socks5://proxy.example:1080"},
		{in: "socks5://me:secret@[::1]:1080", want: "socks5://me:***@[::1]:1080"},
		{in: "http://127.0.0.1:1080", err: "only socks5"},
		{in: "socks5://127.0.0.1", err: "host and port"},
		{in: "socks5://127.0.0.1:0", err: "bad port"},
		{in: "socks5://127.0.0.1:1080/x", err: "must be"},
		{in: "socks5://me:sec ret@%zz:1", err: "not a URL"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			p, err := socks.Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: %v, want an error with %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sec ret") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// echoTCP serves an echo on addr and counts the connections it accepts
// and where they came from.
func echoTCP(t *testing.T, addr string) (net.Addr, *atomic.Int64, chan string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	from := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			select {
			case from <- c.RemoteAddr().(*net.TCPAddr).IP.String():
			default:
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr(), &n, from
}

func TestConnectThroughDante(t *testing.T) {
	d := dantetest.Start(t)
	addr, accepts, from := echoTCP(t, "127.0.0.5:0")
	p, err := socks.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := p.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	if got := <-from; got != "127.0.0.1" {
		t.Fatalf("the server saw a connection from %s, want the proxy's 127.0.0.1", got)
	}
	if accepts.Load() != 1 {
		t.Fatalf("%d connections accepted, want 1", accepts.Load())
	}
	want := strings.Replace(addr.String(), ":", ".", 1)
	if got := d.Connects(); len(got) != 1 || got[0] != want {
		t.Fatalf("dante logged connects %q, want [%s]", got, want)
	}
}

// TestConnectHostName: a host name goes to the proxy unresolved, and the
// proxy resolves it.
func TestConnectHostName(t *testing.T) {
	d := dantetest.Start(t)
	addr, _, _ := echoTCP(t, "127.0.0.1:0")
	p, err := socks.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := p.DialContext(ctx, "tcp", net.JoinHostPort("localhost", port))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestWrongPassword(t *testing.T) {
	d := dantetest.Start(t)
	addr, accepts, _ := echoTCP(t, "127.0.0.5:0")
	p, err := socks.Parse("socks5://" + dantetest.User + ":wrong@" + d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = p.DialContext(ctx, "tcp", addr.String())
	var unreachable *socks.UnreachableError
	if err == nil || errors.As(err, &unreachable) {
		t.Fatalf("dial with a wrong password: %v, want an authentication error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if _, err := p.ListenPacket(ctx); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("UDP ASSOCIATE with a wrong password: %v", err)
	}
	if accepts.Load() != 0 {
		t.Fatalf("%d connections reached the server", accepts.Load())
	}
}

// TestProxyDown: with nothing listening at the proxy's address, dials
// fail as unreachable and nothing reaches the destination directly.
func TestProxyDown(t *testing.T) {
	d := dantetest.Start(t)
	d.Stop()
	addr, accepts, _ := echoTCP(t, "127.0.0.5:0")
	p, err := socks.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var unreachable *socks.UnreachableError
	_, err = p.DialContext(ctx, "tcp", addr.String())
	if !errors.As(err, &unreachable) {
		t.Fatalf("dial: %v, want an UnreachableError", err)
	}
	if _, err := p.ListenPacket(ctx); !errors.As(err, &unreachable) {
		t.Fatalf("ListenPacket: %v, want an UnreachableError", err)
	}
	if strings.Contains(err.Error(), dantetest.Password) {
		t.Fatalf("the error shows the password: %v", err)
	}
	if accepts.Load() != 0 {
		t.Fatalf("%d connections reached the server directly", accepts.Load())
	}
}

func TestUDPAssociate(t *testing.T) {
	d := dantetest.Start(t)
	srv, err := net.ListenPacket("udp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	from := make(chan net.Addr, 4)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, a, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			from <- a
			srv.WriteTo(buf[:n], a)
		}
	}()
	p, err := socks.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pc, err := p.ListenPacket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.SetDeadline(time.Now().Add(30 * time.Second))
	for _, dst := range []net.Addr{srv.LocalAddr(), socks.Addr{Host: "127.0.0.5", Port: uint16(srv.LocalAddr().(*net.UDPAddr).Port)}} {
		if _, err := pc.WriteTo([]byte("hello"), dst); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, src, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != "hello" || src.String() != srv.LocalAddr().String() {
			t.Fatalf("got %q from %v, want hello from %v", buf[:n], src, srv.LocalAddr())
		}
		if a := <-from; a.(*net.UDPAddr).IP.String() != "127.0.0.1" || a.(*net.UDPAddr).Port == pc.LocalAddr().(*net.UDPAddr).Port {
			t.Fatalf("the server got the datagram from %v, not from the proxy's relay", a)
		}
	}
	if len(d.UDPAssociates()) == 0 {
		t.Fatalf("dante logged no UDP association:\n%s", d.Log())
	}
}

// TestUDPRefused: a proxy that does not relay UDP refuses the association
// with ErrUDPUnsupported (and CONNECT still works).
func TestUDPRefused(t *testing.T) {
	d := dantetest.StartWith(t, dantetest.Options{NoUDP: true})
	p, err := socks.Parse(d.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.ListenPacket(ctx); !errors.Is(err, socks.ErrUDPUnsupported) {
		t.Fatalf("ListenPacket: %v, want ErrUDPUnsupported", err)
	}
	addr, _, _ := echoTCP(t, "127.0.0.5:0")
	c, err := p.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
