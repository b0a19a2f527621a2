package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/lodestone-bt/lodestone/internal/engine/safefs"
)

// diskStorage is the anacrolix core's file storage: plain files, classic
// read/write IO, no part files, completion in the shared store. It
// replaces the engine's own file storage, which opens every file by its
// full path at each open: a symbolic link swapped in for a torrent's
// folder after the torrent was opened received the rest of the download
// (issue 15, item 4). Here a torrent's files are opened through a
// safefs.Dir held on its download dir from OpenTorrent to Close, as the
// native core does, and never inside a protected dir (the daemon's data
// dir).
//
// Files are laid out as SafePaths says (the layout); pad files are never
// created and read as zeros, though padStorage in front already keeps
// their bytes away. Empty files are created when the first piece is
// marked complete (downloaded, or found on disk): not when the torrent
// opens, as the engine's storage did, so that a task that is paused with
// its metadata known (task.add metadata_only) has created no file, as on
// the native core.
type diskStorage struct {
	dir   string
	guard *safefs.Guard
	pc    storage.PieceCompletion
}

func (s diskStorage) OpenTorrent(_ context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return storage.TorrentImpl{}, fmt.Errorf("create download dir: %w", err)
	}
	d, err := safefs.Open(s.dir, s.guard)
	if err != nil {
		return storage.TorrentImpl{}, err
	}
	l := newLayout(info)
	t := &diskTorrent{dir: d, pc: s.pc, ih: ih, pieceLength: info.PieceLength, paths: l.paths, extents: l.extents,
		rw: make([]*os.File, len(l.paths)), ro: make([]*os.File, len(l.paths))}
	for k, e := range l.extents {
		if e.to == e.from {
			t.empties = append(t.empties, k)
		}
	}
	return storage.TorrentImpl{
		Piece: func(p metainfo.Piece) storage.PieceImpl {
			return diskPiece{t: t, off: p.Offset(), len: p.Length(), key: metainfo.PieceKey{InfoHash: ih, Index: p.Index()}}
		},
		Close:        t.close,
		CloseWriters: t.closeFiles,
	}, nil
}

// diskTorrent is one open torrent's files.
type diskTorrent struct {
	dir         *safefs.Dir
	pc          storage.PieceCompletion
	ih          metainfo.Hash
	pieceLength int64
	paths       []string // data files, relative to dir
	extents     []extent // their bytes in the torrent, sorted

	mu     sync.Mutex // guards the handles
	rw, ro []*os.File // opened for writing (and reading), and for reading only
	closed bool
	// empties are the indices of the empty data files not created yet.
	empties []int
}

// createEmpties creates the empty data files, once a piece is complete.
func (t *diskTorrent) createEmpties() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(t.empties) == 0 {
		return nil
	}
	for len(t.empties) > 0 {
		f, err := t.dir.OpenFile(t.paths[t.empties[0]], os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("create empty file: %w", err)
		}
		f.Close()
		t.empties = t.empties[1:]
	}
	return nil
}

// first returns the index of the first data file ending after off.
func (t *diskTorrent) first(off int64) int { return firstExtent(t.extents, off) }

// handle returns data file k open for writing (created if need be), or,
// without write, any handle open on it, opening it read-only if none.
func (t *diskTorrent) handle(k int, write bool) (*os.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fs.ErrClosed
	}
	if f := t.rw[k]; f != nil {
		return f, nil
	}
	if !write && t.ro[k] != nil {
		return t.ro[k], nil
	}
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR | os.O_CREATE
	}
	f, err := t.dir.OpenFile(t.paths[k], flag, 0o644)
	if err != nil {
		return nil, err
	}
	if write {
		t.rw[k] = f
	} else {
		t.ro[k] = f
	}
	return f, nil
}

// each calls fn for the runs of [off, off+n) of the torrent in order,
// with the data file's index or -1 for bytes in no file (padding).
func (t *diskTorrent) each(off, n int64, fn func(k int, at, n int64) error) error {
	end := off + n
	for k := t.first(off); off < end; k++ {
		if k == len(t.extents) || t.extents[k].from >= end {
			return fn(-1, off, end-off)
		}
		e := t.extents[k]
		if e.from > off {
			if err := fn(-1, off, e.from-off); err != nil {
				return err
			}
			off = e.from
		}
		if to := min(end, e.to); to > off {
			if err := fn(k, off, to-off); err != nil {
				return err
			}
			off = to
		}
	}
	return nil
}

// readAt fills b from torrent offset off. A missing or short file ends
// the read with io.EOF, as the engine's storage did.
func (t *diskTorrent) readAt(b []byte, off int64) (int, error) {
	n := 0
	err := t.each(off, int64(len(b)), func(k int, at, m int64) error {
		buf := b[at-off : at-off+m]
		if k < 0 {
			clear(buf)
			n += len(buf)
			return nil
		}
		f, err := t.handle(k, false)
		if errors.Is(err, fs.ErrNotExist) {
			return io.EOF
		}
		if err != nil {
			return err
		}
		r, err := f.ReadAt(buf, at-t.extents[k].from)
		n += r
		if r < len(buf) {
			if err == nil {
				err = io.EOF
			}
			return err
		}
		return nil
	})
	return n, err
}

// writeAt writes b at torrent offset off; bytes in no file are dropped.
func (t *diskTorrent) writeAt(b []byte, off int64) (int, error) {
	n := 0
	err := t.each(off, int64(len(b)), func(k int, at, m int64) error {
		buf := b[at-off : at-off+m]
		if k < 0 {
			n += len(buf)
			return nil
		}
		f, err := t.handle(k, true)
		if err != nil {
			return err
		}
		w, err := f.WriteAt(buf, at-t.extents[k].from)
		n += w
		return err
	})
	return n, err
}

// size returns the length on disk of data file k, through the dir.
func (t *diskTorrent) size(k int) (int64, error) {
	fi, err := t.dir.Stat(t.paths[k])
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// closeFiles closes every handle; later reads and writes open them again.
func (t *diskTorrent) closeFiles() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closeFilesLocked()
}

func (t *diskTorrent) closeFilesLocked() error {
	var errs []error
	for k := range t.rw {
		for _, fp := range []**os.File{&t.rw[k], &t.ro[k]} {
			if *fp != nil {
				errs = append(errs, (*fp).Close())
				*fp = nil
			}
		}
	}
	return errors.Join(errs...)
}

func (t *diskTorrent) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	return errors.Join(t.closeFilesLocked(), t.dir.Close())
}

// diskPiece is one piece of a diskTorrent.
type diskPiece struct {
	t        *diskTorrent
	off, len int64
	key      metainfo.PieceKey
}

func (p diskPiece) ReadAt(b []byte, off int64) (int, error) {
	var eof error
	if rest := p.len - off; int64(len(b)) > rest {
		b, eof = b[:max(rest, 0)], io.EOF
	}
	n, err := p.t.readAt(b, p.off+off)
	if err == nil {
		err = eof
	}
	return n, err
}

func (p diskPiece) WriteAt(b []byte, off int64) (int, error) {
	if rest := p.len - off; int64(len(b)) > rest {
		return 0, fmt.Errorf("write of %d bytes at %d past the piece's %d", len(b), off, p.len)
	}
	return p.t.writeAt(b, p.off+off)
}

// WriteTo serves the engine's hashing.
func (p diskPiece) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, io.NewSectionReader(p, 0, p.len))
}

// Completion is the store's, unless a data file under the piece is gone
// or shorter than the piece needs (deleted or truncated while Lodestone
// was away): then the piece is not complete.
func (p diskPiece) Completion() storage.Completion {
	c, err := p.t.pc.Get(p.key)
	c.Err = errors.Join(c.Err, err)
	return completeOnDisk(c, p.t.extents, p.off, p.len, p.t.size, p.t.forgetFrom)
}

// forgetFrom marks every piece of data file k from byte size of it on
// not complete in the store: the file is gone or was cut there. Without
// it the store would still call them complete once a later write made
// the file long enough again, over a hole of zeros.
func (t *diskTorrent) forgetFrom(k int, size int64) {
	e := t.extents[k]
	from := (e.from + size) / t.pieceLength
	to := (e.to + t.pieceLength - 1) / t.pieceLength
	for i := from; i < to; i++ {
		t.pc.Set(metainfo.PieceKey{InfoHash: t.ih, Index: int(i)}, g.Some(false))
	}
}

// createEmpties creates the torrent's empty files, for a wrapper that
// records completion itself (padPiece).
func (p diskPiece) createEmpties() error { return p.t.createEmpties() }

func (p diskPiece) MarkComplete() error {
	if err := p.t.createEmpties(); err != nil {
		return err
	}
	return p.t.pc.Set(p.key, g.Some(true))
}

func (p diskPiece) MarkNotComplete() error { return p.t.pc.Set(p.key, g.Some(false)) }
