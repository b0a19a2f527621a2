package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Interop with BitTorrent clients no one here wrote, from Debian's
// packages (installed by scripts/test): libtorrent 2.0 (python3-libtorrent),
// aria2 1.36 and Transmission 3.00. All on 127.0.0.1 with DHT, LSD, UPnP/NAT-PMP, PEX and uTP off.

// Lodestone downloads a magnet from a libtorrent seeder.
func TestInteropFromLibtorrent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(41))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lines := enginetest.LibtorrentPeer(t, ctx, "seed", enginetest.WriteTorrentFile(t, tr), tr.Root)
	port := strings.TrimPrefix(enginetest.WaitLine(t, lines, "port ", 30*time.Second), "port ")
	enginetest.WaitLine(t, lines, "seeding", 60*time.Second)

	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	start := time.Now()
	res := addMagnet(t, c, tr.Magnet([]string{"127.0.0.1:" + port}))
	waitEvent(t, c, api.EventTaskFinished, 90*time.Second, forTask(res.TaskID))
	t.Logf("downloaded from libtorrent in %v", time.Since(start))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

// seed puts tr's data where d downloads, adds tr and waits until d has
// verified it and seeds it.
func seed(t *testing.T, d *daemontest.Daemon, tr *enginetest.Torrent) {
	t.Helper()
	src, dst := filepath.Join(tr.Root, tr.Name), filepath.Join(d.Dirs.Download, tr.Name)
	fi, err := os.Stat(src)
	if err == nil && fi.IsDir() {
		err = os.CopyFS(dst, os.DirFS(src))
	} else if err == nil {
		var data []byte
		if data, err = os.ReadFile(src); err == nil {
			err = os.WriteFile(dst, data, 0o644)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	c := d.Client(t)
	res := addTorrent(t, c, tr)
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
}

// Lodestone seeds to a libtorrent leecher.
func TestInteropToLibtorrent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "to-lt.bin", Size: 3<<20 + 12345, Seed: 42})
	d := daemontest.Start(t, daemontest.Options{})
	seed(t, d, tr)
	dst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	lines := enginetest.LibtorrentPeer(t, ctx, "leech", enginetest.WriteTorrentFile(t, tr), dst, peerAddr(t, d))
	enginetest.WaitLine(t, lines, "done", 90*time.Second)
	t.Logf("libtorrent downloaded from lodestone in %v", time.Since(start))
	enginetest.SameFiles(t, tr, dst)
}

// Lodestone seeds to an aria2 leecher, which finds it through a loopback
// tracker.
func TestInteropToAria2(t *testing.T) {
	// The daemon must exist before the torrent: the tracker in it hands
	// out the daemon's peer address.
	d := daemontest.Start(t, daemontest.Options{})
	tracker := enginetest.StartTracker(t, peerAddr(t, d))
	content := enginetest.MultiFile(43)
	content.Trackers = []string{tracker.URL}
	tr := enginetest.Generate(t, content)
	seed(t, d, tr)

	dst := t.TempDir()
	start := time.Now()
	enginetest.Aria2Download(t, enginetest.WriteTorrentFile(t, tr), dst, 90*time.Second)
	t.Logf("aria2 downloaded from lodestone in %v", time.Since(start))
	enginetest.SameFiles(t, tr, dst)
}

// Lodestone downloads from a Transmission seeder (Debian's transmission-cli
// 3.00). Transmission does not dial loopback peers, so lodestone dials it:
// the magnet names it with x.pe.
func TestInteropFromTransmission(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(44))
	port := enginetest.StartTransmissionSeeder(t, tr, "-et")

	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	start := time.Now()
	res := addMagnet(t, c, tr.Magnet([]string{"127.0.0.1:" + port}))
	waitEvent(t, c, api.EventTaskFinished, 90*time.Second, forTask(res.TaskID))
	t.Logf("downloaded from transmission in %v", time.Since(start))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

// Lodestone downloads a single-file torrent made by libtorrent, which is
// a v1+v2 hybrid, and writes the file where libtorrent, aria2 and
// qBittorrent would: download dir/name, not download dir/name/name.
func TestInteropHybridSingleFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seedDir := t.TempDir()
	data := make([]byte, 3<<20+12345)
	rand.NewChaCha8([32]byte{5}).Read(data)
	file := filepath.Join(seedDir, "hybrid.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	torrentFile := filepath.Join(t.TempDir(), "hybrid.torrent")
	if out, err := exec.CommandContext(ctx, enginetest.LibtorrentPython, enginetest.LibtorrentScript(t), "make", file, torrentFile).CombinedOutput(); err != nil {
		t.Fatalf("make torrent: %v\n%s", err, out)
	}
	torrentData, err := os.ReadFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}
	mi := enginetest.Parse(t, torrentData)
	if v1, v2 := mi.Versions(); !v1 || !v2 {
		t.Fatalf("libtorrent made v1 %v, v2 %v: want a hybrid", v1, v2)
	}
	lines := enginetest.LibtorrentPeer(t, ctx, "seed", torrentFile, seedDir)
	port := strings.TrimPrefix(enginetest.WaitLine(t, lines, "port ", 30*time.Second), "port ")
	enginetest.WaitLine(t, lines, "seeding", 60*time.Second)

	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, fmt.Sprintf("magnet:?xt=urn:btih:%s&x.pe=127.0.0.1:%s", mi.InfoHash(), port))
	waitEvent(t, c, api.EventTaskFinished, 90*time.Second, forTask(res.TaskID))
	got, err := os.ReadFile(filepath.Join(d.Dirs.Download, "hybrid.bin"))
	if err != nil {
		t.Fatalf("the file is not at download dir/hybrid.bin: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ from libtorrent's")
	}
}
