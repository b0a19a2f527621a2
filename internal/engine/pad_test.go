package engine

import (
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// openPadded opens the storage of padInfo (a.bin, a pad file, b.bin in
// two pieces of 1 KiB) through limitedStorage, over our file storage
// (diskStorage), with real hashes of data.
func openPadded(t *testing.T) (storage.TorrentImpl, *metainfo.Info, string, []byte) {
	t.Helper()
	info := padInfo(1024)
	data := make([]byte, 1024+50) // the torrent's bytes: pad bytes are zero
	for i := range 100 {
		data[i] = byte(i + 1)
	}
	for i := range 50 {
		data[1024+i] = byte(200 + i)
	}
	for i := range 2 {
		sum := sha1.Sum(data[i*1024 : min(len(data), (i+1)*1024)])
		copy(info.Pieces[i*20:], sum[:])
	}
	dir := t.TempDir()
	pc := storage.NewMapPieceCompletion()
	inner := diskStorage{dir: dir, pc: pc}
	s := limitedStorage{inner: inner, dir: dir, lim: newLimiters(), werr: new(atomicError), files: newFileBook(), pc: pc}
	ti, err := s.OpenTorrent(context.Background(), &info, metainfo.HashBytes([]byte("padded")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ti.Close() })
	return ti, &info, dir, data
}

// A v1 torrent's pad files are never on disk: their bytes are dropped on
// write, whatever a peer sent, and read back as zeros; the data around
// them lands in its files.
func TestPadFilesNotOnDisk(t *testing.T) {
	ti, info, dir, data := openPadded(t)
	p0 := pieceOf(ti, info, 0)
	sent := bytes.Clone(data[:1024])
	for i := 100; i < 1024; i++ {
		sent[i] = 0xEE // a peer's garbage where the pad file is
	}
	// Two chunks, the first ending inside the pad file.
	if n, err := p0.WriteAt(sent[:512], 0); n != 512 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if n, err := p0.WriteAt(sent[512:], 512); n != 512 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	p1 := pieceOf(ti, info, 1)
	if n, err := p1.WriteAt(data[1024:], 0); n != 50 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}

	for name, want := range map[string][]byte{"a.bin": data[:100], "b.bin": data[1024:]} {
		got, err := os.ReadFile(filepath.Join(dir, "padded", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s on disk: %v, %d bytes, want %d", name, err, len(got), len(want))
		}
	}
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if strings.Contains(p, ".pad") {
			t.Errorf("%s is on disk", p)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// Reads: data and zeros, whole or in parts straddling the edges.
	got := make([]byte, 1024)
	if n, err := p0.ReadAt(got, 0); n != 1024 || err != nil || !bytes.Equal(got, data[:1024]) {
		t.Fatalf("read piece 0: %d, %v, equal %v", n, err, bytes.Equal(got, data[:1024]))
	}
	part := make([]byte, 200)
	if n, err := p0.ReadAt(part, 20); n != 200 || err != nil || !bytes.Equal(part, data[20:220]) {
		t.Fatalf("read across the edge: %d, %v", n, err)
	}
	// The engine's hashing (WriteTo) and ours (SelfHash) both pass.
	var h bytes.Buffer
	if _, err := p0.(io.WriterTo).WriteTo(&h); err != nil || sha1.Sum(h.Bytes()) != info.Piece(0).V1Hash().Value {
		t.Fatalf("WriteTo: %v, %d bytes, hash differs", err, h.Len())
	}
	if sum, self := selfHash(t, pieceOf(ti, info, 1)); !self || sum != info.Piece(1).V1Hash().Value {
		t.Fatalf("piece 1 self hash: %v %x", self, sum)
	}
}

// Completion of a padded torrent's pieces is kept in the store, and a data
// file deleted under a complete piece makes it incomplete; a missing pad
// file never does.
func TestPadFilesCompletion(t *testing.T) {
	ti, info, dir, data := openPadded(t)
	p0 := pieceOf(ti, info, 0)
	if _, err := p0.WriteAt(data[:1024], 0); err != nil {
		t.Fatal(err)
	}
	if c := p0.Completion(); c.Complete {
		t.Fatalf("written, not marked: %+v", c)
	}
	if err := p0.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	if c := p0.Completion(); !c.Ok || !c.Complete || c.Err != nil {
		t.Fatalf("marked complete: %+v", c)
	}
	if err := os.Truncate(filepath.Join(dir, "padded", "a.bin"), 99); err != nil {
		t.Fatal(err)
	}
	if c := p0.Completion(); c.Complete {
		t.Fatalf("a.bin truncated: %+v", c)
	}
	if err := os.Remove(filepath.Join(dir, "padded", "a.bin")); err != nil {
		t.Fatal(err)
	}
	if c := p0.Completion(); c.Complete {
		t.Fatalf("a.bin gone: %+v", c)
	}
	if err := p0.MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	if c := p0.Completion(); !c.Ok || c.Complete {
		t.Fatalf("marked not complete: %+v", c)
	}
}
