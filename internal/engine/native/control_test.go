package native

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Only the pieces holding data of the files wanted are fetched, and the
// selection completes without the rest; wanting everything then finishes
// the torrent.
func TestFilePriorities(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "sel", PieceLength: 16 << 10, Seed: 41, Files: []enginetest.File{
		{Path: "a.bin", Size: 200_000}, {Path: "b.bin", Size: 300_000}, {Path: "c.bin", Size: 100_000},
	}})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	c := newClient(t, Config{})
	dl := t.TempDir()
	tt := addTorrent(t, c, tr, dl)
	if err := tt.SetFilePriorities([]uint8{PrioritySkip, PriorityHigh, PrioritySkip}); err != nil {
		t.Fatal(err)
	}
	tt.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
	deadline := time.Now().Add(30 * time.Second)
	for st := tt.Stats(); st.HaveWanted < st.Wanted; st = tt.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("selection incomplete: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // anything fetched beyond the selection would land now
	st := tt.Stats()
	// b.bin spans bytes 200000–499999: pieces 12–30 of 37.
	if st.Wanted != 19 || st.Have != 19 {
		t.Fatalf("wanted %d, had %d pieces; want 19 and 19", st.Wanted, st.Have)
	}
	if err := tt.SetFilePriorities([]uint8{PriorityNormal, PriorityNormal, PriorityNormal}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, tt, 30*time.Second)
	enginetest.SameFiles(t, tr, dl)
}

// A torrent's download limit holds: 1 MiB at 256 KiB/s cannot take less
// than about 3 s (a burst of a tenth of a second is allowed).
func TestDownloadLimit(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "lim.bin", Size: 1 << 20, PieceLength: 64 << 10, Seed: 42})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	c := newClient(t, Config{})
	tt := addTorrent(t, c, tr, t.TempDir())
	tt.SetRateLimits(256<<10, 0)
	start := time.Now()
	tt.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
	waitDone(t, tt, 60*time.Second)
	if el := time.Since(start); el < 2900*time.Millisecond {
		t.Fatalf("1 MiB at 256 KiB/s took %v", el)
	}
}

// Pausing closes the connections and stops progress; resuming dials the
// known peers again and finishes. Pieces written are reported, and a new
// torrent told of them with MarkVerified starts from them.
func TestPauseResumeAndResumeData(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "pr.bin", Size: 4 << 20, PieceLength: 64 << 10, Seed: 43})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20}, tr)
	var mu sync.Mutex
	var written []int
	c := newClient(t, Config{OnPieceWritten: func(_ [20]byte, i int) {
		mu.Lock()
		written = append(written, i)
		mu.Unlock()
	}})
	dl := t.TempDir()
	tt := addTorrent(t, c, tr, dl)
	tt.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
	for tt.Stats().Have < 4 {
		time.Sleep(10 * time.Millisecond)
	}
	tt.Pause()
	time.Sleep(300 * time.Millisecond) // blocks in flight land or are dropped
	before := tt.Stats()
	time.Sleep(500 * time.Millisecond)
	after := tt.Stats()
	if after.Peers != 0 || after.Have != before.Have {
		t.Fatalf("paused, yet %d peers and %d → %d pieces", after.Peers, before.Have, after.Have)
	}
	if err := tt.Sync(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := append([]int(nil), written...)
	mu.Unlock()
	if len(got) != after.Have {
		t.Fatalf("%d pieces reported written, %d had", len(got), after.Have)
	}

	// A second client resumes from what the first wrote.
	c2 := newClient(t, Config{})
	m, _ := ParseTorrent(tr.MetaInfo, dl)
	if err := tt.Close(); err != nil {
		t.Fatal(err)
	}
	t2, err := c2.Add(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := t2.MarkVerified(got); err != nil {
		t.Fatal(err)
	}
	if st := t2.Stats(); st.Have != len(got) {
		t.Fatalf("resumed with %d pieces, want %d", st.Have, len(got))
	}
	t2.Pause()
	t2.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
	time.Sleep(300 * time.Millisecond)
	if st := t2.Stats(); st.Peers != 0 {
		t.Fatalf("a paused torrent connected to %d peers", st.Peers)
	}
	t2.Resume()
	waitDone(t, t2, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
	if d := t2.Stats().Downloaded; d >= 4<<20 {
		t.Fatalf("downloaded %d bytes again; the resumed pieces should have been kept", d)
	}
}

// A torrent's Downloaded counts its own peers only, those gone included:
// the payload of another torrent's peers that left is not its own (it
// once was: the count of departed peers was the client's, so a torrent
// that never had a peer showed another's download).
func TestDownloadedCountsOwnPeers(t *testing.T) {
	a := enginetest.Generate(t, enginetest.Content{Name: "own-a.bin", Size: 300_000, PieceLength: 16 << 10, Seed: 61})
	b := enginetest.Generate(t, enginetest.Content{Name: "own-b.bin", Size: 200_000, PieceLength: 16 << 10, Seed: 62})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, a)
	c := newClient(t, Config{})
	ta := addTorrent(t, c, a, t.TempDir())
	tb := addTorrent(t, c, b, t.TempDir())
	ta.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
	waitDone(t, ta, 60*time.Second)
	// Pausing drops a's peers: their payload moves to what the gone
	// peers downloaded.
	ta.Pause()
	deadline := time.Now().Add(30 * time.Second)
	for ta.Stats().Peers != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a's peers still connected after Pause")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := ta.Stats().Downloaded; d < 300_000 {
		t.Errorf("a downloaded %d bytes by its own count, want at least its size 300000", d)
	}
	if d := tb.Stats().Downloaded; d != 0 {
		t.Errorf("b, which never had a peer, downloaded %d bytes", d)
	}
}
