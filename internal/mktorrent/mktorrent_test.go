package mktorrent

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// infoHashOf returns the SHA-1 of the info dictionary of a .torrent whose
// last top-level key is "info" (true of ours and of mktorrent's: keys are
// sorted and no key after "info" is written).
func infoHashOf(t *testing.T, metainfo []byte) string {
	t.Helper()
	i := bytes.Index(metainfo, []byte("4:infod"))
	if i < 0 || metainfo[len(metainfo)-1] != 'e' {
		t.Fatalf("no info dictionary last in %q…", metainfo[:min(len(metainfo), 80)])
	}
	sum := sha1.Sum(metainfo[i+len("4:info") : len(metainfo)-1])
	return hex.EncodeToString(sum[:])
}

// content writes n bytes of a pattern with a NUL in it: sizes that do not
// divide into pieces.
func content(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The info-hash of a file and of a directory of nested files with odd
// sizes is the one Debian's mktorrent gives the same data with the same
// piece length: the pieces, the file list and the encoding agree.
func TestBuildMatchesMktorrent(t *testing.T) {
	mk, err := exec.LookPath("mktorrent")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("mktorrent is missing (scripts/test installs it)")
		}
		t.Skip("mktorrent is not installed (apt-get install mktorrent)")
	}
	dir := t.TempDir()
	content(t, filepath.Join(dir, "single.bin"), 1_000_003)
	content(t, filepath.Join(dir, "tree", "a.bin"), 70_001)
	content(t, filepath.Join(dir, "tree", "sub", "b.bin"), 300_000)
	content(t, filepath.Join(dir, "tree", "sub", "deeper", "c.bin"), 5)
	content(t, filepath.Join(dir, "tree", "z.bin"), 262_144)
	for _, name := range []string{"single.bin", "tree"} {
		t.Run(name, func(t *testing.T) {
			got, err := Build(filepath.Join(dir, name), Options{PieceLength: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "mk.torrent")
			// -l 16: 64 KiB pieces; no tracker, no date.
			if b, err := exec.Command(mk, "-l", "16", "-d", "-o", out, filepath.Join(dir, name)).CombinedOutput(); err != nil {
				t.Fatalf("mktorrent: %v\n%s", err, b)
			}
			theirs, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := infoHashOf(t, theirs); hex.EncodeToString(got.InfoHash[:]) != want {
				t.Errorf("info-hash %x, mktorrent's %s", got.InfoHash, want)
			}
			if h := infoHashOf(t, got.MetaInfo); h != hex.EncodeToString(got.InfoHash[:]) {
				t.Errorf("InfoHash %x is not the hash of the info in MetaInfo (%s)", got.InfoHash, h)
			}
		})
	}
}

// The magnet names the torrent and its peers; the same data gives the
// same torrent twice.
func TestMagnetAndDeterminism(t *testing.T) {
	path := filepath.Join(t.TempDir(), "example")
	content(t, path, 1<<20)
	a, err := Build(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.MetaInfo, b.MetaInfo) {
		t.Error("two builds of the same file differ")
	}
	if a.PieceLength != 256<<10 || a.Pieces != 4 {
		t.Errorf("%d pieces of %d, want 4 of 256 KiB", a.Pieces, a.PieceLength)
	}
	m := a.Magnet(nil, []string{"127.0.0.1:50001"})
	want := "magnet:?xt=urn:btih:" + hex.EncodeToString(a.InfoHash[:]) + "&dn=example&x.pe=127.0.0.1:50001"
	if m != want {
		t.Errorf("magnet %s, want %s", m, want)
	}
	if _, err := Build(filepath.Join(t.TempDir()), Options{}); err == nil || !strings.Contains(err.Error(), "no files") {
		t.Errorf("an empty directory: %v", err)
	}
}
