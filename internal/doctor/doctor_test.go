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

// An API other machines reach without TLS is warned about; loopback or
// TLS is fine.
func TestServed(t *testing.T) {
	for _, c := range []struct {
		addr  string
		tls   bool
		level string
	}{
		{"127.0.0.1:6810", false, "ok"},
		{"[::1]:6810", false, "ok"},
		{"localhost:6810", false, "ok"},
		{"[::]:6810", false, "warn"},
		{"192.168.1.5:6810", false, "warn"},
		{"[::]:6810", true, "ok"},
	} {
		if f := Served(c.addr, c.tls, "native"); f.Level != c.level {
			t.Errorf("Served(%s, tls %v) = %+v, want level %s", c.addr, c.tls, f, c.level)
		}
	}
}
