package bindif

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// A Device keeps the sockets it bound, forgets the closed ones, and
// Rebind binds the open ones again (here to the same lo: the kernel
// reports the device back on each).
func TestDeviceRebind(t *testing.T) {
	d, err := NewDevice("lo")
	if err != nil {
		t.Fatal(err)
	}
	lc := net.ListenConfig{Control: d.Control}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pc, err := lc.ListenPacket(t.Context(), "udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for range 3 {
		gone, err := lc.ListenPacket(t.Context(), "udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gone.Close()
	}
	n, err := d.Rebind()
	if err != nil || n != 2 {
		t.Fatalf("Rebind: %d, %v; want the 2 open sockets", n, err)
	}
	raw, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var dev string
	var gerr error
	raw.Control(func(fd uintptr) { dev, gerr = unix.GetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE) })
	if gerr != nil || dev != "lo" {
		t.Fatalf("after Rebind: SO_BINDTODEVICE %q, %v", dev, gerr)
	}
	d.mu.Lock()
	kept := len(d.socks)
	d.mu.Unlock()
	if kept != 2 {
		t.Errorf("the Device keeps %d sockets after a sweep, want the 2 open", kept)
	}
}
