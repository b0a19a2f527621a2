package engine

import (
	"context"
	"io"
	"slices"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"
)

// The engine has only client-wide rate limiters. Per-torrent limits are
// enforced in the torrent's storage instead: chunk writes happen on the
// reading peer's goroutine without the engine's lock, so delaying a write
// delays reading from that peer (TCP pushes back), and uploads read their
// data through ReadAt. Hashing reads through WriteTo, which is not
// limited, so a limit never slows verification.

// limiters are a torrent's own download and upload limits.
type limiters struct {
	down, up *rate.Limiter
}

func newLimiters() *limiters {
	return &limiters{
		down: rate.NewLimiter(rate.Inf, MaxAllocPeerRequestDataPerConn),
		up:   rate.NewLimiter(rate.Inf, MaxAllocPeerRequestDataPerConn),
	}
}

// SetRateLimits caps this torrent's download and upload in bytes per
// second; 0 means unlimited (the engine-wide limits still apply).
func (t *anacrolixTorrent) SetRateLimits(down, up int64) {
	setLimit(t.lim.down, down)
	setLimit(t.lim.up, up)
}

// limitedStorage wraps a storage so every piece goes through limits.
type limitedStorage struct {
	inner storage.ClientImpl
	dir   string // the inner storage's base dir
	lim   *limiters
	werr  *atomicError // where a refusal to open is recorded for the task
	files *fileBook
	pc    storage.PieceCompletion // the inner storage's, for pad files (padStorage)
	pool  *bufferPool             // write-back piece buffers (nil: none)
	// writeFailed reports a failed write of a buffered piece.
	writeFailed func(error)
}

func (s limitedStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	if err := checkEngineCan(info); err != nil {
		s.werr.Store(err)
		return storage.TorrentImpl{}, err
	}
	l := newLayout(info)
	if err := checkNoSymlinks(s.dir, l.paths); err != nil {
		// For a magnet this runs when the metadata arrives, inside the
		// engine: record it so the task shows it (state error).
		s.werr.Store(err)
		return storage.TorrentImpl{}, err
	}
	ti, err := s.inner.OpenTorrent(ctx, withoutEmptyPads(info), ih)
	if err != nil {
		// The download dir refused (safefs.ErrProtected), say: the task
		// shows it, as above.
		s.werr.Store(err)
		return ti, err
	}
	s.files.put(ih, info.PieceLength, l, s.dir)
	// Both constructors go through one pieceBook (cache, hashing as
	// written, limits); the engine prefers PieceWithHash.
	piece := ti.Piece
	inner := func(p metainfo.Piece, _ g.Option[[]byte]) storage.PieceImpl { return piece(p) }
	if ti.PieceWithHash != nil {
		inner = ti.PieceWithHash
	}
	if l.padded {
		pads, file := newPadStorage(s.pc, ih, l, s.dir), inner
		inner = func(p metainfo.Piece, sum g.Option[[]byte]) storage.PieceImpl { return pads.piece(p, file(p, sum)) }
	}
	writeFailed := s.writeFailed
	if writeFailed == nil {
		writeFailed = func(err error) { s.werr.Store(err) }
	}
	book := newPieceBook(inner, info, s.lim, s.pool, writeFailed)
	ti.Piece = func(p metainfo.Piece) storage.PieceImpl { return book.piece(p, g.None[[]byte]()) }
	ti.PieceWithHash = book.piece
	close := ti.Close
	ti.Close = func() error {
		s.files.drop(ih)
		book.close()
		if close == nil {
			return nil
		}
		return close()
	}
	return ti, nil
}

// withoutEmptyPads returns info without its pad files of zero bytes,
// which the file storage would create on disk (it creates every empty
// file when it opens a torrent). Dropping them moves no other file.
func withoutEmptyPads(info *metainfo.Info) *metainfo.Info {
	empty := func(f metainfo.FileInfo) bool { return f.Length == 0 && isPadFile(&f) }
	if !slices.ContainsFunc(info.Files, empty) || !slices.ContainsFunc(info.Files, func(f metainfo.FileInfo) bool { return !isPadFile(&f) }) {
		return info
	}
	c := *info
	c.Files = slices.DeleteFunc(slices.Clone(info.Files), empty)
	return &c
}

// limitedPiece is a piece of a torrent's storage: its writes and reads
// go through the torrent's limits, and its writes are hashed (pieceBook).
type limitedPiece struct {
	storage.PieceImpl
	lim   *limiters
	len   int64
	book  *pieceBook
	index int
}

// WriteAt writes a chunk into the piece's write-back buffer, or through
// to the storage when it has none (writeback.go).
func (p limitedPiece) WriteAt(b []byte, off int64) (int, error) {
	wait(p.lim.down, len(b))
	if off >= 0 && off+int64(len(b)) <= p.len {
		if pb := p.book.bufferFor(p.index, p.len); pb != nil {
			if pb.write(b, off) {
				p.book.taint(p.index)
			}
			return len(b), nil
		}
	}
	n, err := p.PieceImpl.WriteAt(b, off)
	p.book.wrote(p.index, b[:n], off, p.len)
	return n, err
}

// MarkComplete writes a buffered piece if it is not on disk yet and
// forgets its write record: it passed.
func (p limitedPiece) MarkComplete() error {
	if err := p.book.release(p.index, p.PieceImpl); err != nil {
		return err
	}
	p.book.forget(p.index)
	return p.PieceImpl.MarkComplete()
}

// MarkNotComplete forgets the piece's write mode: the engine writes every
// chunk of a failed piece again. A buffer is kept for those writes.
func (p limitedPiece) MarkNotComplete() error {
	p.book.forget(p.index)
	return p.PieceImpl.MarkNotComplete()
}

func (p limitedPiece) ReadAt(b []byte, off int64) (int, error) {
	wait(p.lim.up, len(b))
	if pb := p.book.buffer(p.index); pb != nil {
		if n, err := pb.readAt(b, off); err != errBufferReleased {
			return n, err
		}
	}
	return p.PieceImpl.ReadAt(b, off)
}

// WriteTo serves the engine's own hashing, unlimited. A buffered piece is
// written to disk first, so that it is there if it passes; then hashed
// from memory. Otherwise the inner piece's fast path is used when it has
// one.
func (p limitedPiece) WriteTo(w io.Writer) (int64, error) {
	if pb := p.book.buffer(p.index); pb != nil {
		if n, ok, err := p.writeBufferTo(pb, w); ok {
			return n, err
		}
	}
	if wt, ok := p.PieceImpl.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, io.NewSectionReader(p.PieceImpl, 0, p.len))
}

// writeBufferTo is WriteTo of a buffered piece; ok is false if the
// buffer was released meanwhile.
func (p limitedPiece) writeBufferTo(pb *pieceBuf, w io.Writer) (n int64, ok bool, err error) {
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.data == nil {
		return 0, false, nil
	}
	if err := pb.flushLocked(p.PieceImpl); err != nil {
		return 0, true, err
	}
	m, err := w.Write(pb.data)
	return int64(m), true, err
}

// wait blocks until l allows n bytes, in steps no larger than its burst.
func wait(l *rate.Limiter, n int) {
	if l.Limit() == rate.Inf {
		return
	}
	for n > 0 {
		step := min(n, l.Burst())
		l.WaitN(context.Background(), step)
		n -= step
	}
}
