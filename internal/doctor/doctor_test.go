package doctor

import (
	"net"
	"testing"
)

// A port shared by TCP and uTP is listed once, with both protocols
// (the daemon's "serving" line listed each address twice; issue 19).
func TestAddrsText(t *testing.T) {
	addrs := []net.Addr{
		&net.TCPAddr{IP: net.IPv4zero, Port: 51413}, &net.TCPAddr{IP: net.IPv6unspecified, Port: 51413},
		&net.UDPAddr{IP: net.IPv4zero, Port: 51413}, &net.UDPAddr{IP: net.IPv6unspecified, Port: 51413},
	}
	got := AddrsText(addrs)
	want := "0.0.0.0:51413 (tcp, udp), [::]:51413 (tcp, udp)"
	if got != want {
		t.Errorf("AddrsText = %q, want %q", got, want)
	}
}
