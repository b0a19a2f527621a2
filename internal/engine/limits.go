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
func (t *Torrent) SetRateLimits(down, up int64) {
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
		return ti, err
	}
	s.files.put(ih, info.PieceLength, l, s.dir)
	if close := ti.Close; close != nil {
		ti.Close = func() error {
			s.files.drop(ih)
			return close()
		}
	}
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
	if ti.Piece != nil || ti.PieceWithHash != nil {
		book := newPieceBook(inner, info, s.lim)
		ti.Piece = func(p metainfo.Piece) storage.PieceImpl { return book.piece(p, g.None[[]byte]()) }
		ti.PieceWithHash = book.piece
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

func (p limitedPiece) WriteAt(b []byte, off int64) (int, error) {
	wait(p.lim.down, len(b))
	n, err := p.PieceImpl.WriteAt(b, off)
	p.book.wrote(p.index, b[:n], off, p.len)
	return n, err
}

// MarkComplete forgets the piece's write record: it passed.
func (p limitedPiece) MarkComplete() error {
	p.book.forget(p.index)
	return p.PieceImpl.MarkComplete()
}

func (p limitedPiece) ReadAt(b []byte, off int64) (int, error) {
	wait(p.lim.up, len(b))
	return p.PieceImpl.ReadAt(b, off)
}

// WriteTo serves hashing, unlimited, with the inner piece's fast path
// when it has one.
func (p limitedPiece) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := p.PieceImpl.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, io.NewSectionReader(p.PieceImpl, 0, p.len))
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
