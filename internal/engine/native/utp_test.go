package native

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// utpClient is newClient with uTP on; a build without cgo has no uTP,
// and skips the test.
func utpClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	cfg.UTP = true
	c := newClient(t, cfg)
	if c.utp == nil {
		t.Skip("no uTP in this build (cgo off)")
	}
	return c
}

// peerLog records the peers of some torrents each time a piece is
// written: a download's connections, seen while they carry data.
type peerLog struct {
	mu    sync.Mutex
	ts    []*Torrent
	peers []PeerStat
}

func (l *peerLog) watch(ts ...*Torrent) {
	l.mu.Lock()
	l.ts = append(l.ts, ts...)
	l.mu.Unlock()
}

// onPiece is a Config.OnPieceWritten.
func (l *peerLog) onPiece([20]byte, int) {
	l.mu.Lock()
	ts := slices.Clone(l.ts)
	l.mu.Unlock()
	var seen []PeerStat
	for _, t := range ts {
		seen = append(seen, t.Peers()...)
	}
	l.mu.Lock()
	l.peers = append(l.peers, seen...)
	l.mu.Unlock()
}

// seen returns the peers recorded so far: a piece written late (the seeder
// still serving) may be recording more meanwhile.
func (l *peerLog) seen() []PeerStat {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.peers)
}

// networks returns the networks of the peers seen, each once.
func (l *peerLog) networks() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range l.peers {
		if !slices.Contains(out, p.Network) {
			out = append(out, p.Network)
		}
	}
	return out
}

// A native leecher downloads everything from the engine's seeder, which
// speaks uTP only: TCP is refused, and uTP is dialed at once.
func TestUTPFromEngine(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "utp.bin", Size: 3<<20 + 5, PieceLength: 64 << 10, Seed: 81})
	var log peerLog
	c := utpClient(t, Config{OnPieceWritten: log.onPiece}) // first: it skips a build without uTP
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UTP: true}, tr)
	dl := t.TempDir()
	tt := addTorrent(t, c, tr, dl)
	log.watch(tt)
	tt.AddPeers([]netip.AddrPort{addrOf(t, seeder.Addr)})
	waitDone(t, tt, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
	if got := log.networks(); !slices.Equal(got, []string{NetworkUTP}) {
		t.Fatalf("peers seen over %q, want uTP only", got)
	}
}

// Two native clients over uTP: the seeder's TCP listener is closed, so
// the leecher's TCP dial is refused and it comes over uTP, which the
// seeder accepts like a TCP connection.
func TestUTPNativeToNative(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(82))
	sc, err := New(Config{ListenAddr: "127.0.0.1:0", UTP: true, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() }) // its error: the listener the test closed
	if sc.utp == nil {
		t.Skip("no uTP in this build (cgo off)")
	}
	m, err := ParseTorrent(tr.MetaInfo, tr.Root)
	if err != nil {
		t.Fatal(err)
	}
	st := seed(t, sc, m)
	if err := sc.ln.Close(); err != nil {
		t.Fatal(err)
	}

	var log peerLog
	lc := utpClient(t, Config{OnPieceWritten: log.onPiece})
	dl := t.TempDir()
	lt := addTorrent(t, lc, tr, dl)
	log.watch(lt, st)
	lt.AddPeers([]netip.AddrPort{sc.Addr()})
	waitDone(t, lt, 60*time.Second)
	enginetest.SameFiles(t, tr, dl)
	var incoming bool
	for _, p := range log.seen() {
		incoming = incoming || p.Incoming
	}
	if got := log.networks(); !slices.Equal(got, []string{NetworkUTP}) || !incoming {
		t.Fatalf("peers seen over %q (one incoming: %v), want uTP only, both ways", got, incoming)
	}
}

// The engine's client, over uTP only, downloads from a native seeder:
// an incoming uTP connection from another implementation.
func TestUTPToEngine(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "up-utp.bin", Size: 2<<20 + 9, PieceLength: 128 << 10, Seed: 83})
	c := utpClient(t, Config{})
	m, err := ParseTorrent(tr.MetaInfo, tr.Root)
	if err != nil {
		t.Fatal(err)
	}
	st := seed(t, c, m)
	if u := c.UTPAddr(); u != c.Addr() {
		t.Fatalf("uTP on %v, TCP on %v: want one port number", u, c.Addr())
	}
	enginetest.SameFiles(t, tr, engineDownload(t, tr, c.UTPAddr(), true))
	if up := st.Stats().Uploaded; up < m.Length {
		t.Fatalf("seeder uploaded %d of %d bytes", up, m.Length)
	}
}
