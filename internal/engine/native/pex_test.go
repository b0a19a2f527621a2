package native

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Peer exchange: a leecher that knows only seeder B learns of seeder C
// from B (BEP 11), connects to it, and finishes from C after B is gone. A
// private torrent (BEP 27) exchanges nothing.
func TestPeerExchange(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "pex.bin", Size: 4 << 20, PieceLength: 64 << 10, Seed: 81})
	for _, private := range []bool{false, true} {
		t.Run(map[bool]string{false: "public", true: "private"}[private], func(t *testing.T) {
			seed := func() (*Client, *Torrent) {
				c := newClient(t, Config{})
				m, err := ParseTorrent(tr.MetaInfo, tr.Root)
				if err != nil {
					t.Fatal(err)
				}
				m.Private = private
				return c, seed(t, c, m)
			}
			b, bt := seed()
			c, _ := seed()
			bt.AddPeers([]netip.AddrPort{c.Addr()})
			a := newClient(t, Config{})
			dl := t.TempDir()
			m, _ := ParseTorrent(tr.MetaInfo, dl)
			m.Private = private
			at, err := a.Add(m)
			if err != nil {
				t.Fatal(err)
			}
			at.SetRateLimits(512<<10, 0) // slow, so that the exchange comes before the end
			at.AddPeers([]netip.AddrPort{b.Addr()})
			wait := 20 * time.Second
			if private {
				wait = 2 * time.Second // the exchange comes at once when there is one
			}
			deadline := time.Now().Add(wait)
			for at.Stats().Peers < 2 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if got := at.Stats().Peers; private != (got < 2) {
				t.Fatalf("private %v: %d peers", private, got)
			}
			if private {
				return
			}
			b.Close()
			at.SetRateLimits(0, 0)
			waitDone(t, at, 60*time.Second)
			enginetest.SameFiles(t, tr, dl)
		})
	}
}
