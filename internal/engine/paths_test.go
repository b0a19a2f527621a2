package engine

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/lodestone-bt/lodestone/internal/engine/safepath"
)

// hostileTorrent builds a torrent with the given file paths, each file
// holding a few KiB of distinct bytes, and returns it with its contents.
func hostileTorrent(t *testing.T, name string, files []metainfo.FileInfo) ([]byte, [][]byte) {
	t.Helper()
	const pieceLen = 16384
	var all bytes.Buffer
	data := make([][]byte, len(files))
	for i := range files {
		b := bytes.Repeat([]byte{byte(i + 1)}, 3000+i*517)
		files[i].Length = int64(len(b))
		data[i] = b
		all.Write(b)
	}
	var pieces []byte
	for b := all.Bytes(); len(b) > 0; b = b[min(len(b), pieceLen):] {
		h := sha1.Sum(b[:min(len(b), pieceLen)])
		pieces = append(pieces, h[:]...)
	}
	return infoTorrent(t, metainfo.Info{Name: name, PieceLength: pieceLen, Files: files, Pieces: pieces}), data
}

func testEngine(t *testing.T, dir string) Engine {
	t.Helper()
	e, err := New(Config{Core: testCore(), DownloadDir: dir, StateDir: t.TempDir(), PeerAddr: "127.0.0.1:0", AllowPrivateTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func waitComplete(t *testing.T, tt Torrent, size int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for tt.Stats().Completed < size {
		if time.Now().After(deadline) {
			t.Fatalf("completed %d of %d bytes", tt.Stats().Completed, size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A torrent whose names try every trick is downloaded over a real
// loopback swarm; every byte lands inside the download dir under the
// sanitised name, and nothing appears anywhere else.
func TestHostilePathsStayInside(t *testing.T) {
	files := []metainfo.FileInfo{
		{Path: []string{".."}},
		{Path: []string{"..", "escape.txt"}},
		{Path: []string{"..", "..", "..", "tmp", "x"}},
		{Path: []string{"/etc", "passwd"}},
		{Path: []string{"a/../../b"}},
		{Path: []string{`..\..\win.ini`}},
		{Path: []string{"C:", "boot.ini"}},
		{Path: []string{"CON"}},
		{Path: []string{"report\u202Etxt.exe"}},
		{Path: []string{"bell\x07\x1b[31m"}},
		{Path: []string{"\xff\xfe"}},
		{Path: []string{""}},
		{Path: []string{"."}},
		{Path: []string{strings.Repeat("L", 300) + ".bin"}},
		{Path: []string{"Same"}},
		{Path: []string{"same"}},
		{Path: []string{"link"}, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "l", SymlinkPath: []string{"..", "..", "etc", "shadow"}}},
	}
	raw, data := hostileTorrent(t, "../../evil", files)
	spec, err := ParseTorrent(raw)
	if err != nil {
		t.Fatalf("ParseTorrent: %v", err)
	}
	base := t.TempDir()
	seedDir, leechDir := filepath.Join(base, "seed", "in"), filepath.Join(base, "leech", "in")
	seeder, leecher := testEngine(t, seedDir), testEngine(t, leechDir)

	mi, _ := metainfo.Load(bytes.NewReader(raw))
	info, _ := mi.UnmarshalInfo()
	paths := SafePaths(&info)
	if err := safepath.Check(paths); err != nil {
		t.Fatal(err)
	}
	t.Logf("sanitised paths: %q", paths)
	for i, p := range paths {
		full := filepath.Join(seedDir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, data[i], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := seeder.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitComplete(t, st, spec.Size)

	lt, err := leecher.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	lt.Start()
	lt.AddPeers([]string{seeder.PeerAddrs()[0].String()})
	waitComplete(t, lt, spec.Size)
	for i, p := range paths {
		got, err := os.ReadFile(filepath.Join(leechDir, filepath.FromSlash(p)))
		if err != nil || !bytes.Equal(got, data[i]) {
			t.Errorf("file %d (%q): %v, %d bytes", i, p, err, len(got))
		}
	}
	// Nothing outside the two download dirs; no symlink anywhere.
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			t.Errorf("symlink created: %s", p)
		}
		if !d.IsDir() && !strings.HasPrefix(p, seedDir+"/") && !strings.HasPrefix(p, leechDir+"/") {
			t.Errorf("file outside the download dirs: %s", p)
		}
		return nil
	})
	var fsPaths []string
	for _, f := range lt.FileStats() {
		fsPaths = append(fsPaths, f.Path)
	}
	if !slices.Equal(fsPaths, paths) {
		t.Errorf("FileStats paths %q, want the on-disk %q", fsPaths, paths)
	}
}

// A symlink planted in the download dir where the torrent's folder goes is
// refused: the engine does not open the files, and the link's target stays
// untouched.
func TestPlantedSymlinkRefused(t *testing.T) {
	raw, _ := hostileTorrent(t, "victim", []metainfo.FileInfo{{Path: []string{"authorized_keys"}}})
	spec, err := ParseTorrent(raw)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	dir, target := filepath.Join(base, "dl"), filepath.Join(base, "ssh")
	os.MkdirAll(dir, 0o755)
	os.MkdirAll(target, 0o700)
	if err := os.Symlink(target, filepath.Join(dir, "victim")); err != nil {
		t.Fatal(err)
	}
	e := testEngine(t, dir)
	if _, err := e.Add(spec); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("Add: %v, want ErrUnsafePath", err)
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Fatalf("files written through the planted symlink: %v", ents)
	}
}
