package native

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	tstorage "github.com/anacrolix/torrent/storage"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// seedFrom starts a native client seeding tr from its generated content.
func seedFrom(t *testing.T, tr *enginetest.Torrent, cfg Config) (*Client, *Torrent) {
	t.Helper()
	c := newClient(t, cfg)
	m, err := ParseTorrent(tr.MetaInfo, tr.Root)
	if err != nil {
		t.Fatal(err)
	}
	return c, seed(t, c, m)
}

// seed adds m to c paused, verifies that all of its data is on disk, and
// starts it: it seeds.
func seed(tb testing.TB, c *Client, m Meta) *Torrent {
	tb.Helper()
	tt, err := c.AddPaused(m)
	if err != nil {
		tb.Fatal(err)
	}
	had, err := tt.Verify(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if st := tt.Stats(); had != st.Pieces {
		tb.Fatalf("verified %d of %d pieces of the seed's own data", had, st.Pieces)
	}
	select {
	case <-tt.Done():
	default:
		tb.Fatal("a verified complete torrent is not done")
	}
	tt.Resume()
	return tt
}

// The native core seeds to itself: one seeder, two leechers in turn (one
// dials, one is dialed), every byte checked.
func TestSeedToNative(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(11))
	sc, st := seedFrom(t, tr, Config{})
	var uploaded int64
	for i, dials := range []bool{true, false} {
		lc := newClient(t, Config{})
		dl := t.TempDir()
		lt := addTorrent(t, lc, tr, dl)
		if dials {
			lt.AddPeers([]netip.AddrPort{sc.Addr()})
		} else {
			st.AddPeers([]netip.AddrPort{lc.Addr()})
		}
		waitDone(t, lt, 60*time.Second)
		enginetest.SameFiles(t, tr, dl)
		// The first leecher got everything from the seeder; the second
		// may get part from the first, which it hears of by PEX.
		got := st.Stats().Uploaded
		if i == 0 && got < lt.meta.Length || got <= uploaded {
			t.Fatalf("seeder uploaded %d bytes after download %d of %d bytes (%d before)", got, i+1, lt.meta.Length, uploaded)
		}
		uploaded = got
	}
}

// The engine's own client downloads from the native core.
func TestSeedToEngine(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "up.bin", Size: 3<<20 + 17, PieceLength: 256 << 10, Seed: 12})
	sc, _ := seedFrom(t, tr, Config{})
	enginetest.SameFiles(t, tr, engineDownload(t, tr, sc.Addr(), false))
}

// engineDownload downloads tr from the peer at addr with the engine's own
// client (over uTP only, with utpOnly), into a new folder, which it
// returns.
func engineDownload(t *testing.T, tr *enginetest.Torrent, addr netip.AddrPort, utpOnly bool) string {
	t.Helper()
	cc := torrent.NewDefaultClientConfig()
	cc.ListenHost = func(string) string { return "127.0.0.1" }
	cc.ListenPort = 0
	cc.NoDHT, cc.DisableIPv6, cc.DisableUTP, cc.DisableWebtorrent = true, true, !utpOnly, true
	cc.DisableTCP = utpOnly
	cc.NoDefaultPortForwarding = true
	dl := t.TempDir()
	cc.DataDir = dl
	cc.DefaultStorage = tstorage.NewFileOpts(tstorage.NewFileClientOpts{
		ClientBaseDir: dl, PieceCompletion: tstorage.NewMapPieceCompletion(), UsePartFiles: generics.Some(false),
	})
	cl, err := torrent.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mi, err := metainfo.Load(bytes.NewReader(tr.MetaInfo))
	if err != nil {
		t.Fatal(err)
	}
	et, err := cl.AddTorrent(mi)
	if err != nil {
		t.Fatal(err)
	}
	et.AddPeers([]torrent.PeerInfo{{Addr: torrent.StringAddr(addr.String()), Trusted: true}})
	et.DownloadAll()
	select {
	case <-et.Complete().On():
	case <-time.After(60 * time.Second):
		t.Fatalf("engine leecher incomplete: %d of %d bytes", et.BytesCompleted(), et.Length())
	}
	return dl
}

// Verify counts exactly the pieces whose data is right: a changed byte
// costs its piece, a missing file its pieces, and nothing is created.
func TestVerify(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(13))
	m, err := ParseTorrent(tr.MetaInfo, tr.Root)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tr.Root, "multi", "z.bin")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Config{})
	tt, err := c.Add(m)
	if err != nil {
		t.Fatal(err)
	}
	had, err := tt.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if had != len(m.Hashes)-1 {
		t.Fatalf("had %d of %d pieces with one byte changed", had, len(m.Hashes))
	}
	empty := t.TempDir()
	m2, _ := ParseTorrent(tr.MetaInfo, empty)
	c2 := newClient(t, Config{})
	t2, _ := c2.Add(m2)
	if had, err := t2.Verify(context.Background()); had != 0 || err != nil {
		t.Fatalf("verify of nothing: %d pieces, %v", had, err)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Fatalf("verify created %d entries", len(ents))
	}
}
