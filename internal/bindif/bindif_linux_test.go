package bindif

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A dial through Control is bound to the device: the kernel reports the
// device back, and the connection works over it.
func TestControlBindsToDevice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	ctl, err := Control("lo")
	if err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{Control: ctl, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial bound to lo: %v", err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var dev string
	var gerr error
	raw.Control(func(fd uintptr) { dev, gerr = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE) })
	if gerr != nil || dev != "lo" {
		t.Fatalf("SO_BINDTODEVICE reads %q, %v; want lo", dev, gerr)
	}
	buf := make([]byte, 1)
	if _, err := conn.Read(buf); err != nil || buf[0] != 'x' {
		t.Fatalf("read over lo: %q, %v", buf, err)
	}
}

// A socket bound to a device reaches nothing through another one, even
// where the routing table has a route: 127.0.0.1 is reached through lo
// only, so a dial bound to a missing device fails.
func TestControlUnknownDevice(t *testing.T) {
	ctl, err := Control("nosuchif0")
	if err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{Control: ctl, Timeout: 10 * time.Second}
	_, err = d.DialContext(context.Background(), "tcp", "127.0.0.1:9")
	if !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("dial bound to a missing interface: %v, want ENODEV", err)
	}
}

func TestLook(t *testing.T) {
	if st := Look("nosuchif0"); st.Up || !strings.Contains(st.Reason, "not found") {
		t.Errorf("missing interface: %+v", st)
	}
	st := Look("lo")
	ifi, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if ifi.Flags&net.FlagUp == 0 {
		if st.Up {
			t.Errorf("lo is down but Look says up: %+v", st)
		}
		return
	}
	if !st.Up || !slices.Contains(st.Addrs, netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("lo: %+v, want up with 127.0.0.1", st)
	}
}

func TestChain(t *testing.T) {
	var calls []int
	f := func(i int, err error) ControlFunc {
		return func(string, string, syscall.RawConn) error { calls = append(calls, i); return err }
	}
	if Chain(nil, nil) != nil {
		t.Error("Chain of nils is not nil")
	}
	boom := errors.New("boom")
	if err := Chain(f(1, nil), nil, f(2, boom), f(3, nil))("tcp", "x", nil); err != boom || !slices.Equal(calls, []int{1, 2}) {
		t.Errorf("Chain: %v, calls %v", err, calls)
	}
}
