package engine

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/lodestone-bt/lodestone/internal/engine/safefs"
)

// A symbolic link swapped in for a task's folder after the task opened
// its files, and wrote some, receives nothing (issue 15, item 4): the
// rest of the download fails to open through the handle held on the
// download dir, the torrent reports a write error, and the link's target
// outside the download dir stays empty. On the old code (files opened by
// path) the second file landed in the target. Runs on the core of
// $LODESTONE_TEST_ENGINE.
func TestSwappedFolderSymlinkGetsNothing(t *testing.T) {
	const pieceLen = 16 << 10
	rng := rand.New(rand.NewPCG(15, 4))
	first := make([]byte, 8*pieceLen) // piece-aligned: no piece spans both files
	second := make([]byte, 1<<20)
	for _, b := range [][]byte{first, second} {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
	}
	all := append(bytes.Clone(first), second...)
	var pieces []byte
	for b := all; len(b) > 0; b = b[min(len(b), pieceLen):] {
		h := sha1.Sum(b[:min(len(b), pieceLen)])
		pieces = append(pieces, h[:]...)
	}
	raw := infoTorrent(t, metainfo.Info{Name: "victim", PieceLength: pieceLen, Pieces: pieces, Files: []metainfo.FileInfo{
		{Path: []string{"first.bin"}, Length: int64(len(first))},
		{Path: []string{"second.bin"}, Length: int64(len(second))},
	}})
	spec, err := ParseTorrent(raw)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	seedDir, leechDir, outside := filepath.Join(base, "seed"), filepath.Join(base, "leech"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(seedDir, "victim"), leechDir, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(seedDir, "victim", "first.bin"), first, 0o644)
	os.WriteFile(filepath.Join(seedDir, "victim", "second.bin"), second, 0o644)
	seeder, leecher := testEngine(t, seedDir), testEngine(t, leechDir)
	st, err := seeder.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, st, spec.Size)

	lt, err := leecher.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	// The first file only: the task opens and writes it.
	lt.SetPriorities(map[int]Priority{1: PrioritySkip})
	lt.AddPeers([]string{seeder.PeerAddrs()[0].String()})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if fs := lt.FileStats(); len(fs) == 2 && fs[0].Completed == int64(len(first)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first file not downloaded: %+v", lt.FileStats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := os.ReadFile(filepath.Join(leechDir, "victim", "first.bin")); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("first file: %v, %d bytes", err, len(got))
	}

	// The folder is moved away and a link to outside every root put in
	// its place; then the second file is wanted.
	if err := os.Rename(filepath.Join(leechDir, "victim"), filepath.Join(base, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(leechDir, "victim")); err != nil {
		t.Fatal(err)
	}
	lt.SetPriorities(map[int]Priority{})

	deadline = time.Now().Add(30 * time.Second)
	for lt.WriteError() == nil {
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			break // the old code: written through the link
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write error reported; stats %+v", lt.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("write error: %v", lt.WriteError())
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("written through the swapped-in link, outside the download dir: %q", names)
	}
	if lt.WriteError() == nil {
		t.Fatal("the task reports no write error")
	}
}

// A torrent whose files would land in the daemon's data dir (a download
// dir of $HOME, the data dir in $HOME/.local/share/lodestone, a torrent
// named ".local": issue 15, item 2) writes nothing there: the storage
// refuses any file inside a protected dir, whatever the paths say. The
// task is refused when added, or reports a write error. Runs on the core
// of $LODESTONE_TEST_ENGINE.
func TestProtectedDirNeverWritten(t *testing.T) {
	const pieceLen = 16 << 10
	forged := bytes.Repeat([]byte("attacker-token-"), 2000)
	var pieces []byte
	for b := forged; len(b) > 0; b = b[min(len(b), pieceLen):] {
		h := sha1.Sum(b[:min(len(b), pieceLen)])
		pieces = append(pieces, h[:]...)
	}
	raw := infoTorrent(t, metainfo.Info{Name: ".local", PieceLength: pieceLen, Pieces: pieces, Files: []metainfo.FileInfo{
		{Path: []string{"share", "lodestone", "token"}, Length: int64(len(forged))},
	}})
	spec, err := ParseTorrent(raw)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	seedDir, home := filepath.Join(base, "seed"), filepath.Join(base, "home")
	data := filepath.Join(home, ".local", "share", "lodestone")
	for _, d := range []string{filepath.Join(seedDir, ".local", "share", "lodestone"), data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(seedDir, ".local", "share", "lodestone", "token"), forged, 0o644)
	token := filepath.Join(data, "token")
	os.WriteFile(token, []byte("owner"), 0o600)

	seeder := testEngine(t, seedDir)
	st, err := seeder.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, st, spec.Size)
	leecher, err := New(Config{Core: testCore(), DownloadDir: home, StateDir: t.TempDir(), Protect: []string{data}, PeerAddr: "127.0.0.1:0", AllowPrivateTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { leecher.Close() })
	lt, err := leecher.Add(spec)
	if err == nil {
		lt.Start()
		lt.AddPeers([]string{seeder.PeerAddrs()[0].String()})
		deadline := time.Now().Add(30 * time.Second)
		for lt.WriteError() == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no write error reported; stats %+v", lt.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
		err = lt.WriteError()
	}
	if !errors.Is(err, safefs.ErrProtected) {
		t.Errorf("error %v, want safefs.ErrProtected", err)
	}
	if b, _ := os.ReadFile(token); string(b) != "owner" {
		t.Fatalf("the token file was rewritten: %.40q", b)
	}
}
