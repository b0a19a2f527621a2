package engine

import (
	"crypto/sha1"
	"io"
	"sync"
)

// Write-back piece buffers. The engine writes every 16 KiB chunk to its
// file storage as it arrives, with one pwrite each, and verifies a piece
// by reading it back: a third of the daemon's CPU went to pwrite of single
// chunks (docs/PERFORMANCE.md). Here the chunks of a piece gather in
// memory instead; the piece is hashed from memory, in whatever order its
// chunks came, and written with one large write once its sum is right.
//
// Durability does not change: a piece is written to disk before the
// engine is told it passed (SelfHash writes it, or WriteTo before the
// engine's own hashing reads it), and completion reaches the store only
// after its files are synced (checkpoint.go). A crash loses only chunks of
// pieces not yet verified, which the engine downloads again.
//
// Memory is bounded: the buffers of all torrents come from one
// bufferPool. When it is spent, a piece's chunks are written through as
// before (pieceBook's hashing as written), and a piece keeps the mode it
// started in until it passes or fails.
//
// Smart ban still works: a chunk written twice into a buffer marks the
// piece tainted (pieceBook), so the engine hashes it itself, block by
// block, reading the buffer, and bans the peer whose block differed.

// bufChunk is the engine's chunk size: writes of whole chunks are tracked
// to find a chunk written twice.
const bufChunk = 16 << 10

// flushBlock is the most bytes of one write to disk.
const flushBlock = 64 << 10

// maxBufferedShare: a piece is buffered only if it is at most this
// share of the pool (4 MiB pieces with a 64 MiB pool), so that one
// torrent's few large pieces cannot take it all.
const maxBufferedShare = 16

// bufferPool hands out piece buffers up to limit bytes in all, and keeps
// returned ones for reuse (they count toward the limit).
type bufferPool struct {
	limit int64

	mu   sync.Mutex
	used int64    // bytes of buffers out and kept
	free [][]byte // kept for reuse
}

func newBufferPool(limit int64) *bufferPool { return &bufferPool{limit: limit} }

// off reports a pool that never gives a buffer (none, or of 0 bytes).
func (p *bufferPool) off() bool { return p == nil || p.limit <= 0 }

// get returns a zeroed buffer of n bytes, or nil when the pool cannot
// spare them.
func (p *bufferPool) get(n int64) []byte {
	if p.off() || n <= 0 || n > p.limit/maxBufferedShare {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.free) - 1; i >= 0; i-- {
		if b := p.free[i]; int64(cap(b)) >= n {
			p.free = append(p.free[:i], p.free[i+1:]...)
			b = b[:n]
			clear(b)
			return b
		}
	}
	// Drop kept buffers too small for n until n fits.
	for p.used+n > p.limit && len(p.free) > 0 {
		p.used -= int64(cap(p.free[0]))
		p.free = p.free[1:]
	}
	if p.used+n > p.limit {
		return nil
	}
	p.used += n
	return make([]byte, n)
}

// maxKept is the most buffers a pool keeps for reuse: a download needs a
// few at a time, and an idle daemon should not hold its whole pool.
const maxKept = 8

// put returns b for reuse.
func (p *bufferPool) put(b []byte) {
	if b == nil {
		return
	}
	p.mu.Lock()
	if len(p.free) < maxKept {
		p.free = append(p.free, b[:0])
	} else {
		p.used -= int64(cap(b))
	}
	p.mu.Unlock()
}

// pieceBuf is one piece's data in memory.
type pieceBuf struct {
	// writes is held for a write to disk: the torrent's pieces are
	// written one at a time. Concurrent large writes to one file contend
	// for its inode lock, on which the kernel spins: 4 goroutines writing
	// 1 MiB pieces to one file took 4.8 CPU-s per GiB, one took 0.3.
	writes *sync.Mutex
	// failed reports a failed write (pieceBook.writeFailed).
	failed func(error)

	mu   sync.Mutex
	data []byte   // the piece's data bytes (no v1 padding)
	have []uint64 // chunks written, a bit each
	// twice: a chunk was written twice, or a write was not a whole chunk:
	// the engine must hash the piece itself (see pieceBook.taint).
	twice bool
	// dirty: data holds bytes not yet on disk.
	dirty bool
}

func newPieceBuf(data []byte, writes *sync.Mutex, failed func(error)) *pieceBuf {
	chunks := (len(data) + bufChunk - 1) / bufChunk
	return &pieceBuf{writes: writes, failed: failed, data: data, have: make([]uint64, (chunks+63)/64)}
}

// detach takes the buffer's memory, for the pool: readers still holding
// pb find it released (errBufferReleased) and read the storage instead.
func (pb *pieceBuf) detach() []byte {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	data := pb.data
	pb.data = nil
	return data
}

// write copies b to off and reports whether a chunk was written twice
// (or the write was no whole chunk). It never fails: the caller checked
// the bounds through the engine.
func (pb *pieceBuf) write(b []byte, off int64) (twice bool) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	copy(pb.data[off:], b)
	pb.dirty = true
	end := off + int64(len(b))
	if off%bufChunk != 0 || (len(b) != bufChunk && end != int64(len(pb.data))) {
		pb.twice = true
		return true
	}
	c := off / bufChunk
	if pb.have[c/64]&(1<<(c%64)) != 0 {
		pb.twice = true
	}
	pb.have[c/64] |= 1 << (c % 64)
	return pb.twice
}

// readAt copies the buffer's bytes at off into b, as io.ReaderAt does;
// errBufferReleased once the buffer went back to the pool.
func (pb *pieceBuf) readAt(b []byte, off int64) (int, error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.data == nil {
		return 0, errBufferReleased
	}
	if off >= int64(len(pb.data)) {
		return 0, io.EOF
	}
	n := copy(b, pb.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// flushLocked writes the buffer to w (the piece's storage) if it has
// bytes not on disk, and reports a failure (failed). pb.mu must be held.
func (pb *pieceBuf) flushLocked(w io.WriterAt) error {
	if !pb.dirty {
		return nil
	}
	pb.writes.Lock()
	defer pb.writes.Unlock()
	for off := 0; off < len(pb.data); off += flushBlock {
		part := pb.data[off:min(off+flushBlock, len(pb.data))]
		n, err := w.WriteAt(part, int64(off))
		if err == nil && n != len(part) {
			err = io.ErrShortWrite
		}
		if err != nil {
			pb.failed(err)
			return err
		}
	}
	pb.dirty = false
	return nil
}

// sum returns the SHA-1 of the data followed by pad zero bytes. pb.mu
// must be held.
func (pb *pieceBuf) sumLocked(pad int64) (sum [sha1.Size]byte) {
	h := sha1.New()
	h.Write(pb.data)
	writeZeros(h, pad)
	copy(sum[:], h.Sum(nil))
	return sum
}

// writeZeros writes n zero bytes to w.
func writeZeros(w io.Writer, n int64) {
	var zeros [4096]byte
	for ; n > 0; n -= int64(len(zeros)) {
		w.Write(zeros[:min(n, int64(len(zeros)))])
	}
}
