package apiserver

import (
	"net/netip"
	"strings"
	"testing"
)

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
