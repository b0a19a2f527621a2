package engine

import (
	"crypto/sha1"
	"errors"
	"hash"
	"io"
	"sync"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// pieceBook is what a torrent's storage wrapper knows about its pieces:
// a cache of the engine's piece objects, and SHA-1 hashing of pieces as
// their chunks are written.
//
// The cache: the engine asks its storage for a piece object on every chunk
// written or read, and for a v1+v2 (hybrid) torrent, as libtorrent makes by
// default, building one walks and sorts the torrent's whole file tree
// (metainfo.Piece.Length): 7.5% of the daemon's CPU for a one-file 1 GiB
// download, more with many files.
//
// Hashing as written: the engine verifies a piece by reading it back from
// disk and hashing it, and runs the "smart ban" block check beside the
// hash (about a quarter of the daemon's CPU in all). Most pieces arrive in
// order from one peer, so the chunks can be hashed as they are written and
// the engine told the sum (storage.SelfHashing), reading back only the
// part of the piece that did not arrive in order.
//
// Smart banning is kept where it matters: the engine bans a peer whose
// blocks differ from those of a piece that finally passes, which needs a
// block written twice. A piece with any overlapping write, or whose sum
// came out wrong, is "tainted": for the rest of the session it is hashed
// by the engine itself, reading every block back.
type pieceBook struct {
	inner func(metainfo.Piece, g.Option[[]byte]) storage.PieceImpl
	lim   *limiters
	// pool gives pieces their write-back buffers (writeback.go); nil
	// writes every chunk through.
	pool *bufferPool
	// writeFailed reports a failed write of a buffered piece, as the
	// engine reports a failed chunk write (Torrent.WriteError, an alert).
	writeFailed func(error)
	// selfHash: v1 piece hashes are there (v1 or hybrid torrent).
	selfHash bool
	// lengths are the pieces' data lengths of a torrent with v2 metadata,
	// computed once; its piece objects are cached without bound (see
	// piece). Nil for a v1 torrent.
	lengths []int64

	// bufs holds read-back buffers for SelfHash (*[]byte).
	bufs sync.Pool

	mu       sync.Mutex
	cache    map[int]cachedPiece
	buffered map[int]*pieceBuf  // pieces whose chunks gather in memory
	writes   sync.Mutex         // held by a buffered piece's write to disk
	through  map[int]bool       // pieces whose chunks are written through
	hashing  map[int]*pieceHash // pieces with chunks hashed as written
	tainted  map[int]bool       // pieces the engine hashes itself
}

// maxCachedPieces bounds the piece object cache of a v1 torrent, whose
// piece objects are cheap to build again; the pieces in flight are far
// fewer. A torrent with v2 metadata keeps every piece object it built:
// building one costs a walk of the whole file tree, and the engine asks
// for every piece when it opens the torrent (a 1,000-file hybrid torrent
// downloaded at 16 MiB/s with a bounded cache). That costs about 200 bytes
// per piece, beside the engine's own per-piece state.
const maxCachedPieces = 512

type cachedPiece struct {
	impl   storage.PieceImpl
	length int64 // bytes of data (no padding)
	pad    int64 // zero bytes after the data that the v1 hash covers
}

// pieceHash is a piece's SHA-1 over its first next bytes, fed by writes
// that arrived in order.
type pieceHash struct {
	h       hash.Hash
	next    int64 // bytes hashed, from the start of the piece
	written int64 // bytes written in all; more than the piece means overlap
}

func newPieceBook(inner func(metainfo.Piece, g.Option[[]byte]) storage.PieceImpl, info *metainfo.Info, lim *limiters, pool *bufferPool, writeFailed func(error)) *pieceBook {
	var lengths []int64
	if info.HasV2() {
		lengths = pieceLengths(info)
	}
	return &pieceBook{
		inner: inner, lim: lim, selfHash: info.HasV1(), lengths: lengths,
		pool: pool, writeFailed: writeFailed,
		cache:    make(map[int]cachedPiece),
		buffered: make(map[int]*pieceBuf),
		through:  make(map[int]bool),
		hashing:  make(map[int]*pieceHash),
		tainted:  make(map[int]bool),
	}
}

// piece returns the storage piece for p: rate limited, its writes hashed,
// and hashed by us (SelfHashing) when its hash is known and its chunks so
// far came in without overlap.
func (b *pieceBook) piece(p metainfo.Piece, sum g.Option[[]byte]) storage.PieceImpl {
	i := p.Index()
	b.mu.Lock()
	c, ok := b.cache[i]
	if !ok {
		b.mu.Unlock()
		c = cachedPiece{impl: b.inner(p, sum)}
		if b.lengths == nil {
			c.length = p.Length()
		} else {
			// Data up to the file's end; the v1 hash covers the padding
			// after it, up to the piece length (or the v1 total).
			c.length = b.lengths[i]
			v1 := p.Info.PieceLength
			if i == len(b.lengths)-1 {
				v1 = p.V1Length()
			}
			c.pad = v1 - c.length
		}
		b.mu.Lock()
		if b.lengths == nil && len(b.cache) >= maxCachedPieces {
			clear(b.cache)
		}
		b.cache[i] = c
	}
	written := b.hashing[i] != nil || b.buffered[i] != nil
	self := b.selfHash && sum.Ok && len(sum.Value) == sha1.Size && written && !b.tainted[i]
	b.mu.Unlock()
	lp := limitedPiece{PieceImpl: c.impl, lim: b.lim, len: c.length, book: b, index: i}
	if self {
		sp := selfHashingPiece{limitedPiece: lp, pad: c.pad}
		copy(sp.want[:], sum.Value)
		return sp
	}
	return lp
}

// wrote records n bytes written at off of piece i (length long): fed to
// the piece's hash when they continue it, counted either way.
func (b *pieceBook) wrote(i int, data []byte, off, length int64) {
	if !b.selfHash || len(data) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tainted[i] {
		return
	}
	ph := b.hashing[i]
	if ph == nil {
		ph = &pieceHash{h: sha1.New()}
		b.hashing[i] = ph
	}
	ph.written += int64(len(data))
	if ph.written > length {
		// A chunk written twice: let the engine hash it, with its block
		// check, from now on.
		delete(b.hashing, i)
		b.tainted[i] = true
		return
	}
	if off == ph.next {
		ph.h.Write(data)
		ph.next += int64(len(data))
	}
}

// bufferFor returns piece i's write-back buffer, giving it one at its
// first write if the pool can spare length bytes; nil means write
// through.
func (b *pieceBook) bufferFor(i int, length int64) *pieceBuf {
	if b.pool.off() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if pb := b.buffered[i]; pb != nil {
		return pb
	}
	if b.through[i] || b.hashing[i] != nil {
		return nil
	}
	data := b.pool.get(length)
	if data == nil {
		b.through[i] = true
		return nil
	}
	pb := newPieceBuf(data, &b.writes, b.writeFailed)
	b.buffered[i] = pb
	return pb
}

// buffer returns piece i's write-back buffer, or nil.
func (b *pieceBook) buffer(i int) *pieceBuf {
	if b.pool.off() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buffered[i]
}

// release ends piece i's buffering: its buffer (if any) is written to w
// if needed and goes back to the pool. On a failed write the buffer is
// kept, with the error.
func (b *pieceBook) release(i int, w io.WriterAt) error {
	b.mu.Lock()
	pb := b.buffered[i]
	b.mu.Unlock()
	if pb == nil {
		return nil
	}
	pb.mu.Lock()
	err := pb.flushLocked(w)
	pb.mu.Unlock()
	if err != nil {
		return err
	}
	b.mu.Lock()
	delete(b.buffered, i)
	b.mu.Unlock()
	b.pool.put(pb.detach())
	return nil
}

// close gives every buffer back to the pool: the torrent's storage is
// closing, and chunks of unverified pieces are let go.
func (b *pieceBook) close() {
	b.mu.Lock()
	bufs := b.buffered
	b.buffered = make(map[int]*pieceBuf)
	b.mu.Unlock()
	for _, pb := range bufs {
		b.pool.put(pb.detach())
	}
}

// take removes and returns piece i's hash state (nil if none).
func (b *pieceBook) take(i int) *pieceHash {
	b.mu.Lock()
	defer b.mu.Unlock()
	ph := b.hashing[i]
	delete(b.hashing, i)
	return ph
}

func (b *pieceBook) taint(i int) {
	b.mu.Lock()
	b.tainted[i] = true
	b.mu.Unlock()
}

// forget drops what is known of piece i's writes (it passed, or failed
// and will be written again): its next write may be buffered.
func (b *pieceBook) forget(i int) {
	b.mu.Lock()
	delete(b.hashing, i)
	delete(b.through, i)
	b.mu.Unlock()
}

// errBufferReleased: a piece's buffer went back to the pool while it was
// being hashed (the torrent closed).
var errBufferReleased = errors.New("piece buffer released")

// pieceLengths returns the data length of every piece of a torrent with
// v2 metadata, in one pass over its files: like metainfo.Piece.Length,
// which walks and sorts the whole file tree on every call, each file
// starts at a piece boundary and a piece holds data up to the end of the
// last file starting in or before it.
func pieceLengths(info *metainfo.Info) []int64 {
	pl := info.PieceLength
	out := make([]int64, info.NumPieces())
	files := info.UpvertedFiles()
	var offset, lastEnd int64
	f := 0
	for i := range out {
		for f < len(files) && offset/pl <= int64(i) {
			lastEnd = offset + files[f].Length
			offset = (lastEnd + pl - 1) / pl * pl
			f++
		}
		out[i] = min(lastEnd-int64(i)*pl, pl)
	}
	return out
}

// selfHashingPiece is a piece whose written chunks were hashed in order:
// SelfHash reads back only the rest.
type selfHashingPiece struct {
	limitedPiece
	pad  int64
	want [sha1.Size]byte
}

// SelfHash finishes the piece's SHA-1: the bytes hashed as written, then
// the rest read from storage, then the v1 padding. A wrong sum taints the
// piece, so the engine's own hashing (with its smart ban) takes the next
// attempt.
func (p selfHashingPiece) SelfHash() (metainfo.Hash, error) {
	if pb := p.book.buffer(p.index); pb != nil {
		return p.selfHashBuffer(pb)
	}
	ph := p.book.take(p.index)
	if ph == nil {
		ph = &pieceHash{h: sha1.New()}
	}
	var sum metainfo.Hash
	if rest := p.len - ph.next; rest > 0 {
		buf, _ := p.book.bufs.Get().(*[]byte)
		if buf == nil {
			b := make([]byte, 64<<10)
			buf = &b
		}
		_, err := io.CopyBuffer(ph.h, io.NewSectionReader(p.PieceImpl, ph.next, rest), *buf)
		p.book.bufs.Put(buf)
		if err != nil {
			p.book.taint(p.index)
			return sum, err
		}
	}
	writeZeros(ph.h, p.pad)
	copy(sum[:], ph.h.Sum(nil))
	if sum != p.want {
		p.book.taint(p.index)
	}
	return sum, nil
}

// selfHashBuffer hashes a buffered piece from memory and, if its sum is
// right, writes it to disk before the engine hears that it passed. A
// failed write answers a wrong sum with the error: the engine counts a
// right sum as passed whatever the error.
func (p selfHashingPiece) selfHashBuffer(pb *pieceBuf) (metainfo.Hash, error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.data == nil {
		return metainfo.Hash{}, errBufferReleased
	}
	sum := metainfo.Hash(pb.sumLocked(p.pad))
	if sum != p.want {
		p.book.taint(p.index)
		return sum, nil
	}
	if err := pb.flushLocked(p.PieceImpl); err != nil {
		return metainfo.Hash{}, err
	}
	return sum, nil
}
