package engine

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/socks/dantetest"
)

// TestProxyRouteAlerts: a streak of failures to reach the proxy alerts
// once, without the password; the proxy answering again ends the streak,
// and the next failure alerts again.
func TestProxyRouteAlerts(t *testing.T) {
	d := dantetest.Start(t)
	var mu sync.Mutex
	var got []Alert
	r, err := newProxyRoute(Config{Proxy: d.URL(), AllowPrivateTrackers: true}, func(a Alert) {
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	peer := enginetest.ClosedPort(t)
	dial := func() {
		c, err := r.DialPeer(context.Background(), "tcp", peer)
		if err == nil {
			c.Close()
		}
	}
	dial() // dante answers (and fails to reach peer): no alert
	d.Stop()
	dial()
	dial()
	if _, err := r.ListenPacketTo(context.Background(), "127.0.0.1", "1"); err == nil {
		t.Fatal("ListenPacketTo with the proxy down succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Level != LevelError || !strings.Contains(got[0].Message, "unreachable") {
		t.Fatalf("alerts %+v, want one error saying unreachable", got)
	}
	if strings.Contains(got[0].Message, dantetest.Password) || !strings.Contains(got[0].Message, d.Addr) {
		t.Fatalf("alert %q: want the proxy's address, no password", got[0].Message)
	}
}

// TestProxyRouteRefusesPrivateTrackers: without AllowPrivateTrackers, a
// tracker named by a private address literal is refused before the
// proxy is asked.
func TestProxyRouteRefusesPrivateTrackers(t *testing.T) {
	r, err := newProxyRoute(Config{Proxy: "socks5://127.0.0.1:1"}, func(Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"127.0.0.1:80", "10.1.2.3:80", "[::1]:80"} {
		if _, err := r.DialContext(context.Background(), "tcp", addr); err == nil || !strings.Contains(err.Error(), "tracker address") {
			t.Errorf("DialContext(%s): %v, want a refusal", addr, err)
		}
		host, port, _ := net.SplitHostPort(addr)
		if _, err := r.ListenPacketTo(context.Background(), host, port); err == nil || !strings.Contains(err.Error(), "tracker address") {
			t.Errorf("ListenPacketTo(%s): %v, want a refusal", addr, err)
		}
	}
}
