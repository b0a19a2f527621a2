package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// nativeReader reads one file of a native torrent: a read of bytes not
// yet verified raises their pieces (and StreamReadahead after them) to
// high priority and waits for them to be written.
type nativeReader struct {
	t      *nativeTorrent
	ctx    context.Context
	cancel context.CancelCauseFunc
	index  int
	path   string
	span   extent // the file's bytes in the torrent

	mu     sync.Mutex // held by Read, Seek and Close
	f      *os.File
	pos    int64
	closed bool
	onWait func()
}

func (t *nativeTorrent) OpenFile(ctx context.Context, index int) (FileReader, error) {
	select {
	case <-t.closed:
		return nil, fmt.Errorf("open file: %w", ErrTorrentClosed)
	default:
	}
	path, span, err := t.fileOnDisk(index)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	return &nativeReader{t: t, ctx: ctx, cancel: cancel, index: index, path: path, span: span}, nil
}

func (r *nativeReader) Size() int64 { return r.span.to - r.span.from }
func (r *nativeReader) Index() int  { return r.index }

func (r *nativeReader) SetOnWait(f func()) {
	r.mu.Lock()
	r.onWait = f
	r.mu.Unlock()
}

func (r *nativeReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrReaderClosed
	}
	if r.pos >= r.Size() {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	at := r.span.from + r.pos
	n, err := r.waitPiece(at)
	if err != nil {
		return 0, err
	}
	b = b[:min(int64(len(b)), n, r.Size()-r.pos)]
	if r.f == nil {
		if r.f, err = r.t.openData(r.index); err != nil {
			return 0, fmt.Errorf("read %s: %w", r.path, err)
		}
	}
	k, err := r.f.ReadAt(b, r.pos)
	r.pos += int64(k)
	if err == io.EOF && k > 0 {
		err = nil
	}
	if err == io.EOF {
		err = fmt.Errorf("read %s: %w", r.path, io.ErrUnexpectedEOF) // verified bytes missing
	}
	return k, err
}

// waitPiece waits until the piece holding byte at of the torrent is
// verified on disk, and returns how many bytes from at it holds.
func (r *nativeReader) waitPiece(at int64) (int64, error) {
	for {
		sig := r.t.progressSignal()
		r.t.mu.Lock()
		c, meta, download, werr := r.t.core, r.t.meta, r.t.download, r.t.werr
		r.t.mu.Unlock()
		select {
		case <-r.t.closed:
			return 0, ErrTorrentClosed
		default:
		}
		if werr != nil {
			return 0, werr
		}
		if c != nil {
			if err := c.Err(); err != nil {
				return 0, err
			}
			piece := int(at / meta.PieceLength)
			if c.Has(piece) {
				return int64(piece+1)*meta.PieceLength - at, nil
			}
			if download {
				ahead := max(StreamReadahead, 2*meta.PieceLength)
				last := int((min(at+ahead, r.span.to) - 1) / meta.PieceLength)
				c.RaisePieces(piece, max(piece, last))
			}
		}
		if r.onWait != nil {
			r.onWait()
		}
		select {
		case <-sig:
		case <-r.t.closed:
			return 0, ErrTorrentClosed
		case <-r.ctx.Done():
			if cause := context.Cause(r.ctx); errors.Is(cause, ErrReaderClosed) {
				return 0, ErrReaderClosed
			}
			return 0, fmt.Errorf("read: %w", r.ctx.Err())
		case <-time.After(time.Second): // priorities may have been reset meanwhile
		}
	}
}

func (r *nativeReader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrReaderClosed
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.Size() + offset
	default:
		return 0, fmt.Errorf("seek: bad whence %d", whence)
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	r.pos = abs
	return abs, nil
}

// Close ends a Read waiting in another goroutine, then releases the file.
func (r *nativeReader) Close() error {
	r.cancel(ErrReaderClosed)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}
