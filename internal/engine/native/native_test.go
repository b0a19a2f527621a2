package native

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// testLogger logs at debug level to stderr when NATIVE_TEST_DEBUG is set
// (not under -v: CI's -json implies it), and nowhere otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("NATIVE_TEST_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func addTorrent(t *testing.T, c *Client, tr *enginetest.Torrent, dir string) *Torrent {
	t.Helper()
	m, err := ParseTorrent(tr.MetaInfo, dir)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := c.Add(m)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func waitDone(t *testing.T, tt *Torrent, within time.Duration) {
	t.Helper()
	select {
	case <-tt.Done():
	case <-time.After(within):
		t.Fatalf("not done after %v: %+v", within, tt.Stats())
	}
	if err := tt.Err(); err != nil {
		t.Fatalf("torrent stopped: %v", err)
	}
}

func addrOf(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// Torrents of every awkward shape download byte for byte from the
// engine's own seeder: pieces that do not divide the files, an empty
// file, nested folders, a last piece shorter than a block.
func TestDownloadShapes(t *testing.T) {
	cases := []struct {
		name string
		c    enginetest.Content
	}{
		{"multi-file", enginetest.MultiFile(1)},
		{"one block per piece", enginetest.Content{Name: "small.bin", Size: 100_000, PieceLength: 16 << 10, Seed: 2}},
		{"big pieces", enginetest.Content{Name: "big.bin", Size: 5<<20 + 3, PieceLength: 1 << 20, Seed: 3}},
		{"shorter than a block", enginetest.Content{Name: "tiny.bin", Size: 1000, PieceLength: 32 << 10, Seed: 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := enginetest.Generate(t, tc.c)
			seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
			c := newClient(t, Config{})
			dl := t.TempDir()
			tt := addTorrent(t, c, tr, dl)
			tt.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
			waitDone(t, tt, 60*time.Second)
			enginetest.SameFiles(t, tr, dl)
			if st := tt.Stats(); st.Have != st.Pieces || st.HashFailures != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// With a piece buffer pool smaller than a piece's worth of pipeline, the
// download still completes: peers wait for buffers and are woken when a
// piece is written.
func TestDownloadWithSmallBufferPool(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "pool.bin", Size: 8 << 20, PieceLength: 256 << 10, Seed: 5})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	c := newClient(t, Config{BufferBytes: 256 << 10})
	dl := t.TempDir()
	tt := addTorrent(t, c, tr, dl)
	tt.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
	waitDone(t, tt, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
	if got := c.pool.inUse(); got != 0 {
		t.Fatalf("%d buffer bytes still lent out after the download", got)
	}
}

// Two seeders, one of which lies about every piece: the liar (on
// 127.0.0.2, so that a ban of its address spares the good one) is banned,
// the download completes from the good seeder, and no bad byte lands.
func TestBadPeerBanned(t *testing.T) {
	const pl = 64 << 10
	tr := enginetest.Generate(t, enginetest.Content{Name: "ban.bin", Size: 48 * pl, PieceLength: pl, Seed: 31})
	good := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	bad := enginetest.StartLyingSeeder(t, tr, "127.0.0.2")

	c := newClient(t, Config{})
	dl := t.TempDir()
	tt := addTorrent(t, c, tr, dl)
	tt.AddPeers([]netip.AddrPort{addrOf(t, bad.Addr)})
	time.Sleep(200 * time.Millisecond) // let the liar get pieces first
	tt.AddPeers([]netip.AddrPort{addrOf(t, good.Addr)})
	waitDone(t, tt, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
	banned := tt.Banned()
	if len(banned) != 1 || banned[0] != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("banned %v, want 127.0.0.2 only", banned)
	}
	if tt.Stats().HashFailures == 0 {
		t.Fatal("no piece failed its hash: the liar sent nothing, the test proves nothing")
	}
}

// Torrents share one buffer pool: with room for a single piece, four
// torrents downloading at once all finish (a buffer returned by one wakes
// the peers of the others that went without).
func TestSharedBufferPool(t *testing.T) {
	const pl = 64 << 10
	c := newClient(t, Config{BufferBytes: pl})
	var trs []*enginetest.Torrent
	for i := range 4 {
		trs = append(trs, enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("s%d.bin", i), Size: 40 * pl, PieceLength: pl, Seed: uint64(60 + i)}))
	}
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, trs...)
	dl := t.TempDir()
	var ts []*Torrent
	for _, tr := range trs {
		tt := addTorrent(t, c, tr, dl)
		tt.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
		ts = append(ts, tt)
	}
	for i, tt := range ts {
		waitDone(t, tt, 60*time.Second)
		enginetest.SameFiles(t, trs[i], dl)
	}
}
