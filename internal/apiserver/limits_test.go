package apiserver

import (
	"net/netip"
	"strings"
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
		if got := clientKey(remote).String(); got != want {
			t.Errorf("clientKey(%q) = %s, want %s", remote, got, want)
		}
	}
}

func TestConnCounter(t *testing.T) {
	c := newConnCounter(5, 2)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	lo := netip.MustParseAddr("127.0.0.1")
	r1, _ := c.acquire(a)
	r2, _ := c.acquire(a)
	if r1 == nil || r2 == nil {
		t.Fatal("first two connections of one address refused")
	}
	if r, reason := c.acquire(a); r != nil || !strings.Contains(reason, "192.0.2.1") {
		t.Fatalf("third connection of one address admitted (reason %q)", reason)
	}
	if r, _ := c.acquire(b); r == nil {
		t.Fatal("another address refused: the per-address cap must not affect it")
	}
	// Loopback is only under the global cap: 2 more fit, then it is full.
	for i := range 2 {
		if r, _ := c.acquire(lo); r == nil {
			t.Fatalf("loopback connection %d refused", i)
		}
	}
	if r, reason := c.acquire(lo); r != nil || reason != "too many connections" {
		t.Fatalf("global cap not applied: reason %q", reason)
	}
	r1()
	r1() // a second release is a no-op
	if r, _ := c.acquire(lo); r == nil {
		t.Fatal("released slot not reusable")
	}
	if r, _ := c.acquire(lo); r != nil {
		t.Fatal("double release freed two slots")
	}
}

func TestAuthBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newAuthBackoff(3, time.Second, 8*time.Second)
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

func TestAuthBackoffBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newAuthBackoff(1, time.Second, time.Minute)
	b.now = func() time.Time { return now }
	for i := range 3 * maxTracked {
		b.failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(b.by); n > maxTracked {
		t.Fatalf("%d addresses remembered, want at most %d", n, maxTracked)
	}
}

func TestDepthOK(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		data string
		want bool
	}{
		{`{"id":"1","method":"task.list","params":{"fields":["name"]}}`, true},
		{deep(64), true},
		{deep(65), false},
		{`{"a":"` + strings.Repeat("[", 1000) + `"}`, true},    // brackets in a string
		{`{"a":"\"` + strings.Repeat("{", 1000) + `"}`, true},  // after an escaped quote
		{`{"a":"\\"` + strings.Repeat(",[", 100) + `}`, false}, // the string ended
		{strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100), false},
	} {
		if got := depthOK([]byte(tc.data), 64); got != tc.want {
			t.Errorf("depthOK(%.40q…) = %v, want %v", tc.data, got, tc.want)
		}
	}
}
