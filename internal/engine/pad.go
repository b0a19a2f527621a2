package engine

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// padStorage is the storage of a v1 torrent with pad files (see
// layout.go). The engine's file storage would create each pad file and
// write the zeros peers send for it; here a piece's bytes are split at the
// data files' edges: data goes to the file storage under it (diskStorage,
// which knows no pad file either), pad bytes are never written, and read
// back as zeros.
//
// Completion is kept here too, in the shared completion store: the
// engine's file storage's own checks would look for the pad files on disk
// (a piece whose pad file is missing counts as not downloaded) and its
// checkpoint would fail to sync them. The checkpointing wrapper of the store syncs
// the data files before it writes a completion (checkpoint.go).
type padStorage struct {
	pc storage.PieceCompletion
	ih metainfo.Hash
	// extents and paths (absolute) are the data files, sorted by offset.
	extents []extent
	paths   []string
}

func newPadStorage(pc storage.PieceCompletion, ih metainfo.Hash, l *layout, dir string) *padStorage {
	s := &padStorage{pc: pc, ih: ih, extents: l.extents}
	for _, p := range l.paths {
		s.paths = append(s.paths, filepath.Join(dir, filepath.FromSlash(p)))
	}
	return s
}

// piece wraps the file storage's piece p.
func (s *padStorage) piece(p metainfo.Piece, inner storage.PieceImpl) storage.PieceImpl {
	return padPiece{s: s, inner: inner, off: p.Offset(), len: p.Length(), key: metainfo.PieceKey{InfoHash: s.ih, Index: p.Index()}}
}

// first returns the index of the first data file ending after off.
func (s *padStorage) first(off int64) int { return firstExtent(s.extents, off) }

type padPiece struct {
	s        *padStorage
	inner    storage.PieceImpl
	off, len int64 // the piece's bytes in the torrent
	key      metainfo.PieceKey
}

// each calls fn for the runs of [off, off+n) of the piece in order: data
// (a run within one data file) or padding.
func (p padPiece) each(off, n int64, fn func(at, n int64, data bool) error) error {
	at, end := p.off+off, p.off+off+n
	for k := p.s.first(at); at < end; {
		if k == len(p.s.extents) || p.s.extents[k].from >= end {
			return fn(at-p.off, end-at, false)
		}
		e := p.s.extents[k]
		if e.from > at {
			if err := fn(at-p.off, e.from-at, false); err != nil {
				return err
			}
			at = e.from
		}
		to := min(end, e.to)
		if to > at {
			if err := fn(at-p.off, to-at, true); err != nil {
				return err
			}
			at = to
		}
		k++
	}
	return nil
}

func (p padPiece) ReadAt(b []byte, off int64) (int, error) {
	var eof error
	if rest := p.len - off; int64(len(b)) > rest {
		b, eof = b[:max(rest, 0)], io.EOF
	}
	n := 0
	err := p.each(off, int64(len(b)), func(at, m int64, data bool) error {
		buf := b[at-off : at-off+m]
		if !data {
			clear(buf)
			n += len(buf)
			return nil
		}
		k, err := p.inner.ReadAt(buf, at)
		n += k
		if k == len(buf) {
			return nil
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return err
	})
	if err != nil {
		return n, err
	}
	return n, eof
}

func (p padPiece) WriteAt(b []byte, off int64) (int, error) {
	n := 0
	err := p.each(off, int64(len(b)), func(at, m int64, data bool) error {
		buf := b[at-off : at-off+m]
		if !data {
			n += len(buf)
			return nil
		}
		k, err := p.inner.WriteAt(buf, at)
		n += k
		return err
	})
	return n, err
}

// WriteTo serves the engine's hashing.
func (p padPiece) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, io.NewSectionReader(p, 0, p.len))
}

// Completion is the store's, unless a data file under the piece is gone
// or shorter than the piece needs (deleted or truncated while Lodestone
// was away): then the piece is not complete.
func (p padPiece) Completion() storage.Completion {
	c, err := p.s.pc.Get(p.key)
	c.Err = errors.Join(c.Err, err)
	size := func(k int) (int64, error) {
		fi, err := os.Stat(p.s.paths[k])
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	return completeOnDisk(c, p.s.extents, p.off, p.len, size, nil)
}

// MarkComplete records the piece. The file storage's own MarkComplete
// is not called, so it is asked directly to create the torrent's empty
// files, which it does at the first complete piece (diskstorage.go).
func (p padPiece) MarkComplete() error {
	if e, ok := p.inner.(emptiesCreator); ok {
		if err := e.createEmpties(); err != nil {
			return err
		}
	}
	return p.s.pc.Set(p.key, g.Some(true))
}

func (p padPiece) MarkNotComplete() error { return p.s.pc.Set(p.key, g.Some(false)) }

// emptiesCreator is a file storage's piece that creates its torrent's
// empty files on demand.
type emptiesCreator interface{ createEmpties() error }
