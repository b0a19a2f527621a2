package native

import (
	"net/netip"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Peers on IPv6: a native seeder and leecher on ::1, the leecher told only
// the seeder's IPv6 address.
func TestDownloadOverIPv6(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "six.bin", Size: 2<<20 + 5, PieceLength: 64 << 10, Seed: 6})
	seeder := newClient(t, Config{ListenAddr: "[::1]:0"})
	m, err := ParseTorrent(tr.MetaInfo, tr.Root)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, seeder, m)
	if a := seeder.Addr(); !a.Addr().Is6() {
		t.Fatalf("seeder listens on %v, want ::1", a)
	}
	c := newClient(t, Config{ListenAddr: "[::1]:0"})
	dl := t.TempDir()
	tt := addTorrent(t, c, tr, dl)
	tt.AddPeers([]netip.AddrPort{seeder.Addr()})
	waitDone(t, tt, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
	if st := tt.Stats(); st.Downloaded < m.Length {
		t.Fatalf("downloaded %d of %d bytes", st.Downloaded, m.Length)
	}
}
