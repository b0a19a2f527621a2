package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Pieces of 128 KiB: 8 chunks each, 4 pieces; a pool of 64 MiB.
const (
	wbPiece = 128 << 10
	wbPool  = 64 << 20
)

// writeChunk writes chunk c (16 KiB) of piece i from src.
func writeChunk(t *testing.T, ti storage.TorrentImpl, info *metainfo.Info, i, c int, src []byte) {
	t.Helper()
	off := int64(c) * bufChunk
	start := int64(i)*info.PieceLength + off
	if n, err := pieceOf(ti, info, i).WriteAt(src[start:start+bufChunk], off); n != bufChunk || err != nil {
		t.Fatalf("write piece %d chunk %d: %d, %v", i, c, n, err)
	}
}

// onDisk returns the download's bytes of piece i (zeros where nothing
// was written).
func onDisk(t *testing.T, dir string, info *metainfo.Info, i int) []byte {
	t.Helper()
	got := make([]byte, info.PieceLength)
	f, err := os.Open(filepath.Join(dir, "p.bin"))
	if errors.Is(err, os.ErrNotExist) {
		return got
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(got, int64(i)*info.PieceLength); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return got
}

func pieceBytes(data []byte, info *metainfo.Info, i int) []byte {
	return data[int64(i)*info.PieceLength : int64(i+1)*info.PieceLength]
}

// Chunks in any order are hashed from memory and reach the disk only once
// the piece's sum is right, in one write.
func TestWriteBackAnyOrder(t *testing.T) {
	pool := newBufferPool(wbPool)
	ti, info, data, dir := openPiecesWith(t, wbPiece, pool, nil)
	orders := map[int][]int{
		0: {0, 1, 2, 3, 4, 5, 6, 7},
		1: {7, 6, 5, 4, 3, 2, 1, 0},
		2: rand.New(rand.NewPCG(1, 2)).Perm(8),
		3: {1, 0, 3, 2, 5, 4, 7, 6},
	}
	for i := range 4 {
		for _, c := range orders[i] {
			writeChunk(t, ti, info, i, c, data)
		}
		if got := onDisk(t, dir, info, i); bytes.Equal(got, pieceBytes(data, info, i)) {
			t.Fatalf("piece %d on disk before it was verified", i)
		}
		// Reads of data not yet written are served from the buffer.
		got := make([]byte, info.PieceLength)
		if n, err := pieceOf(ti, info, i).ReadAt(got, 0); n != len(got) || err != nil || !bytes.Equal(got, pieceBytes(data, info, i)) {
			t.Fatalf("piece %d read from the buffer: %d, %v", i, n, err)
		}
		sum, self := selfHash(t, pieceOf(ti, info, i))
		if !self || sum != info.Piece(i).V1Hash().Value {
			t.Fatalf("piece %d (order %v): self %v, sum %x", i, orders[i], self, sum)
		}
		if got := onDisk(t, dir, info, i); !bytes.Equal(got, pieceBytes(data, info, i)) {
			t.Fatalf("piece %d not on disk after its sum was right", i)
		}
		if err := pieceOf(ti, info, i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(pool.free); n == 0 || pool.used > 2*wbPiece {
		t.Errorf("pool: %d bytes used, %d kept: buffers are not reused", pool.used, n)
	}
}

// A corrupted chunk: the sum is wrong and nothing reaches the disk; the
// piece written again (a chunk twice) is hashed by the engine, reading
// the buffer, which is written to disk first.
func TestWriteBackCorruptedThenRewritten(t *testing.T) {
	ti, info, data, dir := openPiecesWith(t, wbPiece, newBufferPool(wbPool), nil)
	bad := bytes.Clone(data)
	bad[3*bufChunk+7] ^= 0xff
	for c := range 8 {
		writeChunk(t, ti, info, 0, c, bad)
	}
	sum, self := selfHash(t, pieceOf(ti, info, 0))
	if !self || sum == info.Piece(0).V1Hash().Value {
		t.Fatalf("corrupted piece: self %v, sum matches", self)
	}
	if got := onDisk(t, dir, info, 0); bytes.Equal(got[:bufChunk], data[:bufChunk]) {
		t.Fatal("a piece that failed its hash was written")
	}
	if err := pieceOf(ti, info, 0).MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	for c := range 8 {
		writeChunk(t, ti, info, 0, c, data)
	}
	p := pieceOf(ti, info, 0)
	if _, self := p.(storage.SelfHashing); self {
		t.Fatal("a piece with chunks written twice is self-hashed: the engine's smart ban would not see it")
	}
	var h bytes.Buffer
	if n, err := p.(io.WriterTo).WriteTo(&h); n != wbPiece || err != nil || !bytes.Equal(h.Bytes(), pieceBytes(data, info, 0)) {
		t.Fatalf("WriteTo: %d, %v", n, err)
	}
	if got := onDisk(t, dir, info, 0); !bytes.Equal(got, pieceBytes(data, info, 0)) {
		t.Fatal("the engine-hashed piece is not on disk before it is marked complete")
	}
}

// A crash (or a drop) mid-piece loses only that piece's chunks, which
// never reached the disk, and gives the buffers back.
func TestWriteBackCloseMidPiece(t *testing.T) {
	pool := newBufferPool(wbPool)
	ti, info, data, dir := openPiecesWith(t, wbPiece, pool, nil)
	for c := range 5 {
		writeChunk(t, ti, info, 1, c, data)
	}
	if err := ti.Close(); err != nil {
		t.Fatal(err)
	}
	if got := onDisk(t, dir, info, 1); !bytes.Equal(got, make([]byte, wbPiece)) {
		t.Fatal("unverified chunks reached the disk")
	}
	if len(pool.free) != 1 {
		t.Fatalf("%d buffers back in the pool, want 1", len(pool.free))
	}
}

// A failed write of a verified piece (a full disk, here a folder where
// the file goes) is reported, the piece does not pass, and its buffer is
// kept until the write succeeds.
func TestWriteBackWriteFails(t *testing.T) {
	var mu sync.Mutex
	var failed []error
	ti, info, data, dir := openPiecesWith(t, wbPiece, newBufferPool(wbPool), func(err error) {
		mu.Lock()
		failed = append(failed, err)
		mu.Unlock()
	})
	block := filepath.Join(dir, "p.bin")
	if err := os.Mkdir(block, 0o755); err != nil {
		t.Fatal(err)
	}
	for c := range 8 {
		writeChunk(t, ti, info, 2, c, data)
	}
	sh := pieceOf(ti, info, 2).(storage.SelfHashing)
	sum, err := sh.SelfHash()
	if err == nil || sum == info.Piece(2).V1Hash().Value {
		t.Fatalf("write failed: sum right %v, err %v; want a wrong sum and the error", sum == info.Piece(2).V1Hash().Value, err)
	}
	mu.Lock()
	n := len(failed)
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d write failures reported, want 1", n)
	}
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	if sum, err := pieceOf(ti, info, 2).(storage.SelfHashing).SelfHash(); err != nil || sum != info.Piece(2).V1Hash().Value {
		t.Fatalf("after the space came back: %x, %v", sum, err)
	}
	if got := onDisk(t, dir, info, 2); !bytes.Equal(got, pieceBytes(data, info, 2)) {
		t.Fatal("piece not on disk after the write succeeded")
	}
}

// Reads race writes (the race detector checks), and return the data once
// written.
func TestWriteBackReadsRaceWrites(t *testing.T) {
	ti, info, data, _ := openPiecesWith(t, wbPiece, newBufferPool(wbPool), nil)
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() { writeChunk(t, ti, info, 3, c, data) })
		wg.Go(func() {
			buf := make([]byte, bufChunk)
			if _, err := pieceOf(ti, info, 3).ReadAt(buf, int64(c)*bufChunk); err != nil && err != io.EOF {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := make([]byte, wbPiece)
	if _, err := pieceOf(ti, info, 3).ReadAt(got, 0); err != nil || !bytes.Equal(got, pieceBytes(data, info, 3)) {
		t.Fatalf("read after the writes: %v", err)
	}
}

// When the pool is spent, chunks are written through, as without it, and
// the piece is still verified.
func TestWriteBackPoolSpent(t *testing.T) {
	pool := newBufferPool(maxBufferedShare * wbPiece)
	ti, info, data, dir := openPiecesWith(t, wbPiece, pool, nil)
	writeChunk(t, ti, info, 0, 0, data) // piece 0 takes a buffer
	for pool.get(wbPiece) != nil {      // others take the rest
	}
	for c := range 8 {
		writeChunk(t, ti, info, 1, c, data)
	}
	if got := onDisk(t, dir, info, 1); !bytes.Equal(got, pieceBytes(data, info, 1)) {
		t.Fatal("piece 1 was not written through with the pool spent")
	}
	if sum, self := selfHash(t, pieceOf(ti, info, 1)); !self || sum != info.Piece(1).V1Hash().Value {
		t.Fatalf("written-through piece: self %v, sum %x", self, sum)
	}
	if pool.used > int64(maxBufferedShare*wbPiece) {
		t.Fatalf("pool over its limit: %d", pool.used)
	}
}

// A peer that sends bad blocks is banned, by the engine's smart ban or its
// ban of a piece's only contributor, while pieces are buffered: the
// download completes from the good peer, and the bad peer's address is
// the one banned. The bad seeder listens on 127.0.0.2, so that banning it
// does not ban the good one (a ban covers an IP).
func TestWriteBackBansBadPeer(t *testing.T) {
	const size = 48 * wbPiece
	tr := enginetest.Generate(t, enginetest.Content{Name: "ban.bin", Size: size, PieceLength: wbPiece, Seed: 31})
	good := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	bad := enginetest.StartLyingSeeder(t, tr, "127.0.0.2")

	dl := t.TempDir()
	e, err := New(Config{Core: CoreAnacrolix, DownloadDir: dl, StateDir: t.TempDir(), PeerAddr: "127.0.0.1:0", WriteBuffer: wbPool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	spec, err := ParseTorrent(tr.MetaInfo)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := e.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	tt.AddPeers([]string{bad.Addr, good.Addr})
	<-tt.GotInfo()
	tt.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for tt.Stats().Completed != size {
		select {
		case <-ctx.Done():
			t.Fatalf("not complete: %d of %d bytes, banned %v", tt.Stats().Completed, size, e.(*anacrolixEngine).cl.BadPeerIPs())
		case <-time.After(50 * time.Millisecond):
		}
		tt.AddPeers([]string{good.Addr})
	}
	enginetest.SameFiles(t, tr, dl)
	banned := e.(*anacrolixEngine).cl.BadPeerIPs()
	if len(banned) != 1 || banned[0] != "127.0.0.2" {
		t.Fatalf("banned %v, want the bad seeder 127.0.0.2 only", banned)
	}
}
