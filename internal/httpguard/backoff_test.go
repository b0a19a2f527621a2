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
	b := newBackoff(3, time.Second, 8*time.Second, 1000)
	b.now = func() time.Time { return now }
	bad := netip.MustParseAddr("192.0.2.9")
	other := netip.MustParseAddr("192.0.2.10")
	for range 3 {
		if w, _ := b.failed(bad); w != 0 {
			t.Fatalf("wait %v within the free failures", w)
		}
	}
	if w := b.wait(bad); w != 0 {
		t.Fatalf("wait %v after exactly the free failures", w)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, d := range want {
		if w, _ := b.failed(bad); w != 0 {
			t.Fatalf("failure %d refused (%v) after its wait", i+4, w)
		}
		if w := b.wait(bad); w != d {
			t.Fatalf("after %d extra failures: wait %v, want %v", i+1, w, d)
		}
		// A failure during the wait is refused and not counted.
		if w, global := b.failed(bad); w != d || global {
			t.Fatalf("a failure during the wait: (%v, %v), want (%v, false)", w, global, d)
		}
		now = now.Add(d)
	}
	if w := b.wait(other); w != 0 {
		t.Fatalf("another address waits %v: the backoff must be per address", w)
	}
	b.succeeded(bad)
	b.failed(bad)
	if w := b.wait(bad); w != 0 {
		t.Fatalf("a success did not reset the count: wait %v", w)
	}
}

// All addresses together have a budget of wrong tokens; once spent, each
// is refused (and not counted) until it refills.
func TestGlobalBudget(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBackoff(5, time.Second, time.Minute, 60)
	b.now = func() time.Time { return now }
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, byte(i >> 8), byte(i)}) }
	for i := range 60 {
		if w, _ := b.failed(addr(i)); w != 0 {
			t.Fatalf("failure %d refused (%v) within the budget", i+1, w)
		}
	}
	if w, global := b.failed(addr(60)); w != time.Second || !global {
		t.Fatalf("past the budget: (%v, %v), want (1s, true)", w, global)
	}
	now = now.Add(500 * time.Millisecond)
	if w, global := b.failed(addr(61)); w != 500*time.Millisecond || !global {
		t.Fatalf("half a second later: (%v, %v), want (500ms, true)", w, global)
	}
	now = now.Add(500 * time.Millisecond)
	if w, _ := b.failed(addr(62)); w != 0 {
		t.Fatalf("a second later: refused for %v, want counted", w)
	}
	if w, _ := b.failed(addr(63)); w == 0 {
		t.Fatal("the refilled budget allowed two")
	}
	if len(b.by) != 61 {
		t.Fatalf("%d addresses counted, want 61: refused failures are not counted", len(b.by))
	}
}

func TestBackoffBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBackoff(1, time.Second, time.Minute, 1<<30)
	b.now = func() time.Time { return now }
	for i := range 3 * maxTracked {
		b.failed(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(b.by); n > maxTracked {
		t.Fatalf("%d addresses remembered, want at most %d", n, maxTracked)
	}
}
