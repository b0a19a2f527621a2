//go:build cgo

package utp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests only ever use loopback.
const loopback = "127.0.0.1:0"

func newLoopbackSocket(t *testing.T) Socket {
	t.Helper()
	s, err := NewSocket("udp4", loopback, WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, nil))))
	if err != nil {
		t.Fatalf("NewSocket: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}

func randomBytes(seed uint64, n int) []byte {
	var s [32]byte
	s[0] = byte(seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

func udpPort(a net.Addr) int {
	if ua, ok := a.(*net.UDPAddr); ok {
		return ua.Port
	}
	return -1
}

// Sends and receives size bytes on c at the same time, returning what was received.
func exchange(c net.Conn, send []byte, size int) ([]byte, error) {
	writeErr := make(chan error, 1)
	go func() {
		_, err := c.Write(send)
		writeErr <- err
	}()
	got := make([]byte, size)
	_, readErr := io.ReadFull(c, got)
	if err := errors.Join(<-writeErr, readErr); err != nil {
		return nil, fmt.Errorf("exchanging with %v: %w", c.RemoteAddr(), err)
	}
	return got, nil
}

func TestTransferBothWays(t *testing.T) {
	const size = 4 << 20
	server := newLoopbackSocket(t)
	client := newLoopbackSocket(t)

	var firewallCalls atomic.Int64
	server.SetFirewallCallback(func(from net.Addr) bool {
		if udpPort(from) == udpPort(client.Addr()) {
			firewallCalls.Add(1)
		}
		return false
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()

	type accepted struct {
		c   net.Conn
		err error
	}
	acceptc := make(chan accepted, 1)
	go func() {
		c, err := server.Accept()
		acceptc <- accepted{c, err}
	}()

	cc, err := client.DialContext(ctx, "udp4", server.Addr().String())
	if err != nil {
		t.Fatalf("DialContext: %v", err)
	}
	defer cc.Close()
	var sc net.Conn
	select {
	case a := <-acceptc:
		if a.err != nil {
			t.Fatalf("Accept: %v", a.err)
		}
		sc = a.c
	case <-ctx.Done():
		t.Fatal("timed out waiting for Accept")
	}
	defer sc.Close()
	if got, want := udpPort(sc.RemoteAddr()), udpPort(client.Addr()); got != want {
		t.Errorf("accepted conn from port %d, want %d", got, want)
	}
	if firewallCalls.Load() == 0 {
		t.Error("firewall callback was never consulted for the client")
	}
	for _, c := range []net.Conn{cc, sc} {
		if err := c.SetDeadline(deadline); err != nil {
			t.Fatalf("SetDeadline: %v", err)
		}
	}

	toServer := randomBytes(1, size)
	toClient := randomBytes(2, size)
	var (
		wg                       sync.WaitGroup
		gotByServer, gotByClient []byte
		serverErr, clientErr     error
	)
	start := time.Now()
	wg.Go(func() { gotByServer, serverErr = exchange(sc, toClient, size) })
	wg.Go(func() { gotByClient, clientErr = exchange(cc, toServer, size) })
	wg.Wait()
	if err := errors.Join(serverErr, clientErr); err != nil {
		t.Fatal(err)
	}
	t.Logf("exchanged %d bytes each way in %v", size, time.Since(start))
	if !bytes.Equal(gotByServer, toServer) {
		t.Error("server received different bytes than the client sent")
	}
	if !bytes.Equal(gotByClient, toClient) {
		t.Error("client received different bytes than the server sent")
	}
}

func TestFirewallRefusesDial(t *testing.T) {
	server := newLoopbackSocket(t)
	client := newLoopbackSocket(t)

	var refused atomic.Int64
	server.SetFirewallCallback(func(from net.Addr) bool {
		if udpPort(from) == udpPort(client.Addr()) {
			refused.Add(1)
		}
		return true
	})
	acceptc := make(chan net.Conn, 1)
	go func() {
		if c, err := server.Accept(); err == nil {
			acceptc <- c
		}
	}()

	const timeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	c, err := client.DialContext(ctx, "", server.Addr().String())
	elapsed := time.Since(start)
	if err == nil {
		c.Close()
		t.Fatal("dial succeeded through a firewall that refuses everything")
	}
	t.Logf("dial failed after %v: %v", elapsed, err)
	if elapsed > timeout+2*time.Second {
		t.Errorf("dial took %v to fail, want about %v", elapsed, timeout)
	}
	if refused.Load() == 0 {
		t.Error("firewall callback was never consulted for the client")
	}
	select {
	case c := <-acceptc:
		c.Close()
		t.Error("server accepted a connection its firewall refused")
	default:
	}
}

func TestNewSocketErrorIsNilInterface(t *testing.T) {
	s, err := NewSocket("udp4", "127.0.0.1:-1")
	if err == nil {
		s.Close()
		t.Fatal("NewSocket succeeded on an invalid port")
	}
	if s != nil {
		t.Errorf("NewSocket returned non-nil Socket %#v with error", s)
	}
}

func TestSlogBridge(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})
	l := analogFromSlog(h)
	// go-libutp logs like this: no level. That must not panic and must arrive as a warning.
	l.Printf("ignoring socket read error: %s", "boom")
	out := buf.String()
	for _, want := range []string{"level=WARN", "ignoring socket read error: boom", "go-libutp"} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("slog output %q lacks %q", out, want)
		}
	}
	// A failing slog.Handler must not make the logger panic.
	analogFromSlog(failingHandler{h}).Printf("dropped")
}

type failingHandler struct{ slog.Handler }

func (failingHandler) Handle(context.Context, slog.Record) error { return errors.New("sink down") }
