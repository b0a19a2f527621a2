package native

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Interop of the native core with BitTorrent clients no one here wrote,
// from Debian's packages (scripts/test installs them): libtorrent 2.0
// (python3-libtorrent), aria2 1.36 and Transmission 3.00, both ways, on
// 127.0.0.1 with DHT, LSD, UPnP/NAT-PMP and uTP off.

// The native core downloads magnets from libtorrent: a multi-file v1
// torrent, and a hybrid v1+v2 one made by libtorrent with its pad files.
func TestInteropFromLibtorrent(t *testing.T) {
	for _, kind := range []string{"v1", "hybrid"} {
		t.Run(kind, func(t *testing.T) {
			tr := enginetest.Generate(t, enginetest.MultiFile(91))
			if kind == "hybrid" {
				made := filepath.Join(t.TempDir(), "multi.torrent")
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if out, err := exec.CommandContext(ctx, enginetest.LibtorrentPython, enginetest.LibtorrentScript(t), "make", filepath.Join(tr.Root, tr.Name), made, "hybrid", "16384").CombinedOutput(); err != nil {
					t.Fatalf("libtorrent make: %v: %s", err, out)
				}
				data, err := os.ReadFile(made)
				if err != nil {
					t.Fatal(err)
				}
				tr.MetaInfo = data
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			lines := enginetest.LibtorrentPeer(t, ctx, "seed", enginetest.WriteTorrentFile(t, tr), tr.Root)
			port := strings.TrimPrefix(enginetest.WaitLine(t, lines, "port ", 30*time.Second), "port ")
			enginetest.WaitLine(t, lines, "seeding", 60*time.Second)
			dl := magnet(t, tr, []netip.AddrPort{addrOf(t, "127.0.0.1:"+port)}, nil)
			enginetest.SameFiles(t, tr, dl)
		})
	}
}

// The native core seeds to a libtorrent leecher.
func TestInteropToLibtorrent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "to-lt.bin", Size: 3<<20 + 12345, Seed: 92})
	sc, _ := seedFrom(t, tr, Config{})
	dst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lines := enginetest.LibtorrentPeer(t, ctx, "leech", enginetest.WriteTorrentFile(t, tr), dst, sc.Addr().String())
	enginetest.WaitLine(t, lines, "done", 90*time.Second)
	enginetest.SameFiles(t, tr, dst)
}

// The native core seeds to an aria2 leecher, which finds it through a
// loopback tracker and opens with an encrypted handshake.
func TestInteropToAria2(t *testing.T) {
	c := newClient(t, Config{})
	tracker := enginetest.StartTracker(t, c.Addr().String())
	content := enginetest.MultiFile(93)
	content.Trackers = []string{tracker.URL}
	tr := enginetest.Generate(t, content)
	m, err := ParseTorrent(tr.MetaInfo, tr.Root)
	if err != nil {
		t.Fatal(err)
	}
	m.Trackers = nil // the tracker is aria2's way to us
	seed(t, c, m)
	dst := t.TempDir()
	enginetest.Aria2Download(t, enginetest.WriteTorrentFile(t, tr), dst, 90*time.Second)
	enginetest.SameFiles(t, tr, dst)
}

// The native core downloads a magnet from a Transmission seeder, which it
// dials (Transmission does not dial loopback peers): one that prefers
// plain connections, and one that requires encryption (the native core
// opens with an MSE handshake, and falls back to plaintext when that is
// hung up on).
func TestInteropFromTransmission(t *testing.T) {
	for _, enc := range []string{"-et", "-er"} { // encryption tolerated, required
		t.Run(map[string]string{"-et": "plain", "-er": "encryption required"}[enc], func(t *testing.T) {
			t.Parallel()
			tr := enginetest.Generate(t, enginetest.MultiFile(94))
			port := enginetest.StartTransmissionSeeder(t, tr, enc)
			dl := magnet(t, tr, []netip.AddrPort{addrOf(t, "127.0.0.1:"+port)}, nil)
			enginetest.SameFiles(t, tr, dl)
		})
	}
}
