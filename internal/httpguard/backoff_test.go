package httpguard

import (
	"net/netip"
	"testing"
	"time"
)

func TestClientKey(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.1:5000":              "127.0.0.1",
		"[::ffff:10.0.0.7]:1":         "10.0.0.7",
		"[2001:db8:1:2:3:4:5:6]:9000": "2001:db8:1:2::",
		"[2001:db8:1:2::9]:1":         "2001:db8:1:2::",
		"[fe80::1%eth0]:1":            "fe80::",
		"garbage":                     "invalid IP",
	} {
		if got := ClientKey(remote).String(); got != want {
			t.Errorf("ClientKey(%q) = %s, want %s", remote, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBackoff(3, time.Second, 8*time.Second)
	b.now = func() time.Time { return now }
	bad := netip.MustParseAddr("192.0.2.9")
	other := netip.MustParseAddr("192.0.2.10")
	for range 3 {
		if w := b.wait(bad); w != 0 {
			t.Fatalf("wait %v within the free failures", w)
		}
		b.failed(bad)
	}
	if w := b.wait(bad); w != 0 {
		t.Fatalf("wait %v after exactly the free failures", w)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, d := range want {
		b.failed(bad)
		if w := b.wait(bad); w != d {
			t.Fatalf("after %d extra failures: wait %v, want %v", i+1, w, d)
		}
	}
	if w := b.wait(other); w != 0 {
		t.Fatalf("another address waits %v: the backoff must be per address", w)
	}
	now = now.Add(9 * time.Second)
	if w := b.wait(bad); w != 0 {
		t.Fatalf("still waiting %v after the backoff", w)
	}
	b.succeeded(bad)
	b.failed(bad)
	if w := b.wait(bad); w != 0 {
		t.Fatalf("a success did not reset the count: wait %v", w)
	}
}

func TestBackoffBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBackoff(1, time.Second, time.Minute)
	b.now = func() time.Time { return now }
	for i := range 3 * maxTracked {
		b.failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(b.by); n > maxTracked {
		t.Fatalf("%d addresses remembered, want at most %d", n, maxTracked)
	}
}
