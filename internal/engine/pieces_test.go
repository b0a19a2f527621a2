package engine

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// openPieces opens a 4-piece torrent's storage (32 KiB pieces) through
// limitedStorage in an empty dir, writing every chunk through, and
// returns it with the torrent's data.
func openPieces(t *testing.T) (storage.TorrentImpl, *metainfo.Info, []byte) {
	t.Helper()
	ti, info, data, _ := openPiecesWith(t, 32<<10, nil, nil)
	return ti, info, data
}

// openPiecesWith is openPieces with pieces of pl bytes, write-back
// buffers from pool (nil: none) and failed writes reported to
// writeFailed (nil: ignored); it also returns the download dir.
func openPiecesWith(t *testing.T, pl int64, pool *bufferPool, writeFailed func(error)) (storage.TorrentImpl, *metainfo.Info, []byte, string) {
	t.Helper()
	tr := enginetest.Generate(t, enginetest.Content{Name: "p.bin", Size: 4 * pl, PieceLength: pl, Seed: 9})
	data, err := os.ReadFile(filepath.Join(tr.Root, tr.Name))
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Load(bytes.NewReader(tr.MetaInfo))
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pc := storage.NewMapPieceCompletion()
	inner := diskStorage{dir: dir, pc: pc}
	s := limitedStorage{inner: inner, dir: dir, lim: newLimiters(), werr: new(atomicError), files: newFileBook(), pool: pool, writeFailed: writeFailed}
	ti, err := s.OpenTorrent(context.Background(), &info, mi.HashInfoBytes())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ti.Close() })
	return ti, &info, data, dir
}

func pieceOf(ti storage.TorrentImpl, info *metainfo.Info, i int) storage.PieceImpl {
	h := info.Piece(i).V1Hash().Value
	return ti.PieceWithHash(info.Piece(i), g.Some(h[:]))
}

// write writes piece i's chunk at off (16 KiB) from data, or from bad.
func write(t *testing.T, ti storage.TorrentImpl, info *metainfo.Info, i int, off int64, data []byte) {
	t.Helper()
	p := pieceOf(ti, info, i)
	start := int64(i)*info.PieceLength + off
	if _, err := p.WriteAt(data[start:start+16<<10], off); err != nil {
		t.Fatal(err)
	}
}

func selfHash(t *testing.T, p storage.PieceImpl) (metainfo.Hash, bool) {
	t.Helper()
	sh, ok := p.(storage.SelfHashing)
	if !ok {
		return metainfo.Hash{}, false
	}
	sum, err := sh.SelfHash()
	if err != nil {
		t.Fatal(err)
	}
	return sum, true
}

func TestPiecesHashedAsWritten(t *testing.T) {
	ti, info, data := openPieces(t)
	want := func(i int) metainfo.Hash { return info.Piece(i).V1Hash().Value }

	// Not written this session (e.g. a recheck): the engine hashes it.
	if _, self := selfHash(t, pieceOf(ti, info, 0)); self {
		t.Fatal("a piece with no writes is self-hashed")
	}

	// In order: hashed as written.
	write(t, ti, info, 0, 0, data)
	write(t, ti, info, 0, 16<<10, data)
	if sum, self := selfHash(t, pieceOf(ti, info, 0)); !self || sum != want(0) {
		t.Fatalf("in order: self %v, sum %x, want %x", self, sum, want(0))
	}

	// Out of order: the part that did not continue the hash is read back.
	write(t, ti, info, 1, 16<<10, data)
	write(t, ti, info, 1, 0, data)
	if sum, self := selfHash(t, pieceOf(ti, info, 1)); !self || sum != want(1) {
		t.Fatalf("out of order: self %v, sum %x, want %x", self, sum, want(1))
	}

	// A chunk written twice: the engine hashes it (with its smart ban),
	// for the rest of the session.
	write(t, ti, info, 2, 0, data)
	write(t, ti, info, 2, 0, data)
	write(t, ti, info, 2, 16<<10, data)
	if _, self := selfHash(t, pieceOf(ti, info, 2)); self {
		t.Fatal("a piece with an overlapping write is self-hashed")
	}
	write(t, ti, info, 2, 0, data)
	if _, self := selfHash(t, pieceOf(ti, info, 2)); self {
		t.Fatal("a tainted piece is self-hashed again")
	}

	// Bad data in order: a wrong sum, and the engine hashes the retry.
	bad := bytes.Clone(data)
	bad[3*info.PieceLength+5] ^= 1
	write(t, ti, info, 3, 0, bad)
	write(t, ti, info, 3, 16<<10, bad)
	if sum, self := selfHash(t, pieceOf(ti, info, 3)); !self || sum == want(3) {
		t.Fatalf("bad data: self %v, sum %x matches", self, sum)
	}
	write(t, ti, info, 3, 0, data)
	if _, self := selfHash(t, pieceOf(ti, info, 3)); self {
		t.Fatal("a piece that failed is self-hashed again")
	}

	// The bytes on disk are the data's wherever the hash said so.
	for i := range 2 {
		got := make([]byte, info.PieceLength)
		if _, err := pieceOf(ti, info, i).ReadAt(got, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[int64(i)*info.PieceLength:int64(i+1)*info.PieceLength]) {
			t.Fatalf("piece %d on disk differs", i)
		}
	}
}

// pieceLengths agrees with the engine's metainfo.Piece.Length on every
// piece of multi-file hybrid (v1+v2) torrents made by libtorrent (Debian's
// python3-libtorrent, which scripts/test installs), with uneven and empty
// files and two piece lengths.
func TestPieceLengthsOfHybridTorrents(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(7))
	for _, pl := range []int{16 << 10, 64 << 10} {
		out := filepath.Join(t.TempDir(), "h.torrent")
		script := `import libtorrent as lt, sys
fs = lt.file_storage(); lt.add_files(fs, sys.argv[1])
ct = lt.create_torrent(fs, int(sys.argv[3]))
lt.set_piece_hashes(ct, sys.argv[4])
open(sys.argv[2], "wb").write(lt.bencode(ct.generate()))`
		cmd := exec.Command("/usr/bin/python3", "-c", script, filepath.Join(tr.Root, tr.Name), out, strconv.Itoa(pl), tr.Root)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make a hybrid torrent with python3-libtorrent: %v\n%s", err, b)
		}
		mi, err := metainfo.LoadFromFile(out)
		if err != nil {
			t.Fatal(err)
		}
		info, err := mi.UnmarshalInfo()
		if err != nil {
			t.Fatal(err)
		}
		if !info.HasV2() || len(info.UpvertedFiles()) < 3 {
			t.Fatalf("want a multi-file torrent with v2 metadata (v2 %v, %d files)", info.HasV2(), len(info.UpvertedFiles()))
		}
		got := pieceLengths(&info)
		if len(got) != info.NumPieces() {
			t.Fatalf("%d lengths for %d pieces", len(got), info.NumPieces())
		}
		for i := range got {
			if want := info.Piece(i).Length(); got[i] != want {
				t.Fatalf("piece length %d: piece %d: %d, the engine says %d", pl, i, got[i], want)
			}
		}
	}
}
