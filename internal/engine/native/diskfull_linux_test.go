package native

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// A disk that fills up mid-download stops the torrent with the write's
// error (ENOSPC); nothing panics and Done is closed. Needs root to mount
// a small tmpfs (scripts/test runs the suite so).
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	enginetest.MountTmpfs(t, dir, "1m")
	tr := enginetest.Generate(t, enginetest.Content{Name: "full.bin", Size: 4 << 20, PieceLength: 64 << 10, Seed: 9})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	c := newClient(t, Config{})
	tt := addTorrent(t, c, tr, dir)
	tt.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
	select {
	case <-tt.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("still running on a full disk: %+v", tt.Stats())
	}
	err := tt.Err()
	if !isNoSpace(err) {
		t.Fatalf("err %v, want no space left", err)
	}
	if st := tt.Stats(); st.Have == st.Pieces {
		t.Fatalf("all %d pieces had on a 1 MiB disk", st.Pieces)
	}
}

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
