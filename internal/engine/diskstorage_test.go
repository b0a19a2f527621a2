package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// A file deleted after its pieces were recorded complete makes them all
// incomplete in the store, not only the one asked about: when a later
// write of its last piece makes the file long again, the first pieces
// (a hole of zeros now) must not pass as complete. Seen as corrupt files
// after TestCrashLoop's removals with delete_data on the anacrolix core.
func TestDiskStorageForgetsDeletedFile(t *testing.T) {
	const pl = 1024
	info := &metainfo.Info{Name: "t", PieceLength: pl, Files: []metainfo.FileInfo{
		{Path: []string{"a"}, Length: 4 * pl},
	}}
	info.Pieces = make([]byte, 20*4)
	dir := t.TempDir()
	pc := storage.NewMapPieceCompletion()
	ih := metainfo.HashBytes([]byte("forget"))
	ti, err := diskStorage{dir: dir, pc: pc}.OpenTorrent(context.Background(), info, ih)
	if err != nil {
		t.Fatal(err)
	}
	defer ti.Close()
	for i := range 4 {
		p := ti.Piece(info.Piece(i))
		if _, err := p.WriteAt(make([]byte, pl), 0); err != nil {
			t.Fatal(err)
		}
		if err := p.MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ti.CloseWriters(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "t", "a")); err != nil {
		t.Fatal(err)
	}
	if c := ti.Piece(info.Piece(3)).Completion(); c.Complete {
		t.Fatal("piece 3 complete with its file deleted")
	}
	if _, err := ti.Piece(info.Piece(3)).WriteAt(make([]byte, pl), 0); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if c := ti.Piece(info.Piece(i)).Completion(); c.Complete {
			t.Errorf("piece %d complete over a hole", i)
		}
	}
}
