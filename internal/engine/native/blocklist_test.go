package native

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/blocklist"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// TestBlocklistPEX: a peer learned by peer exchange is filtered before it
// is queued. Seeder b (127.0.0.1) knows seeder c (127.0.0.2); the
// leecher, with 127.0.0.2 blocked, is given only b, hears of c from b's
// PEX, refuses it, and never connects to it.
func TestBlocklistPEX(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "pexblock.bin", Size: 4 << 20, PieceLength: 64 << 10, Seed: 82})
	seedOn := func(addr string) (*Client, *Torrent) {
		c := newClient(t, Config{ListenAddr: addr})
		m, err := ParseTorrent(tr.MetaInfo, tr.Root)
		if err != nil {
			t.Fatal(err)
		}
		return c, seed(t, c, m)
	}
	b, bt := seedOn("127.0.0.1:0")
	c, _ := seedOn("127.0.0.2:0")
	bt.AddPeers([]netip.AddrPort{c.Addr()})

	f := blocklist.NewFilter()
	list, err := blocklist.Parse(strings.NewReader("127.0.0.2\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.Set(list)
	a := newClient(t, Config{Blocklist: f})
	m, _ := ParseTorrent(tr.MetaInfo, t.TempDir())
	at, err := a.Add(m)
	if err != nil {
		t.Fatal(err)
	}
	at.SetRateLimits(512<<10, 0) // slow, so that the exchange comes before the end
	at.AddPeers([]netip.AddrPort{b.Addr()})
	deadline := time.Now().Add(30 * time.Second)
	for f.Refused() == 0 && time.Now().Before(deadline) {
		for _, p := range at.Peers() {
			if p.Addr.Addr() == c.Addr().Addr() {
				t.Fatalf("connected to the blocked %v", p.Addr)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if f.Refused() == 0 {
		t.Fatal("the blocked seeder was never offered by PEX, or not refused")
	}
	at.SetRateLimits(0, 0)
	waitDone(t, at, 60*time.Second)
	for _, p := range at.Peers() {
		if p.Addr.Addr() == c.Addr().Addr() {
			t.Fatalf("connected to the blocked %v", p.Addr)
		}
	}
}
