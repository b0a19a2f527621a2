package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
)

// Errors of FileReader; wrap-checked with errors.Is.
var (
	// ErrTorrentClosed: the torrent was dropped (its task removed or
	// moved, or the engine closed) while a reader was open on it.
	ErrTorrentClosed = errors.New("torrent closed")
	// ErrReaderClosed: the FileReader itself was closed.
	ErrReaderClosed = errors.New("file reader closed")
)

// StreamReadahead is how far past a FileReader's position the engine
// fetches with raised priority, at least: the piece under the position is
// fetched first of all (the engine's "now" priority), the pieces of the
// next max(StreamReadahead, 2 pieces) bytes next ("readahead" priority),
// both above any file priority and above sequential mode's "high". 8 MiB
// is about 8 s of a 1080p video at 8 Mbit/s and 1.5 s at 40 Mbit/s (4K);
// two pieces ensure the next piece is always asked for while the current
// one arrives, whatever the piece size. It is not larger because every
// byte raised competes with the bytes the reader needs now, and a seek
// (a browser's video scrubbing) makes the raised bytes useless for a
// while.
const StreamReadahead = 8 << 20

// waitRetryInterval is how often a read that waits for data the engine
// may not download (the task is paused or queued) looks again even when
// nothing signalled that download is allowed: the engine fails such a read
// at once instead of waiting, and Torrent.allowDownload, which wakes the
// read, is the only way this package allows download. The timer is a
// safety net for a refusal of another cause.
const waitRetryInterval = 5 * time.Second

// kickInterval is the least time between two prompts to dial peers from
// one reader (see Torrent.kick).
const kickInterval = time.Second

// FileReader reads one file of a torrent while it downloads. Reads block
// until the bytes they need are verified, and raise the priority of the
// pieces under and just ahead of the position (StreamReadahead), so a
// reader jumps the download queue, also for a file of priority skip (the
// parts read are downloaded). Reads end with the context given to
// OpenFile (wrapped: errors.Is(err, context.Canceled)), with
// ErrTorrentClosed once the torrent is dropped, or with a storage error.
//
// While download is not allowed (a paused or queued task), verified bytes
// are read as usual and a read of missing bytes waits until download is
// allowed again, or the context ends.
//
// It asks the engine for readBlock bytes at a time and keeps what the
// caller did not take; a Read returns as soon as some bytes are verified,
// never waiting to fill a block.
//
// Read and Seek are for one goroutine at a time; Close may be called from
// another goroutine while a Read waits: it ends the Read (ErrReaderClosed)
// and then releases the reader.
type anacrolixReader struct {
	t        *anacrolixTorrent
	ctx      context.Context
	cancel   context.CancelCauseFunc
	index    int
	offset   int64 // the file's first byte in the torrent
	size     int64
	pieceLen int64

	// mu is held by Read, Seek and Close: Close waits for a Read it
	// cancelled to return before closing the engine's reader.
	mu sync.Mutex
	r  torrent.Reader
	// pos is the engine reader's position; buf[bufAt:] holds the bytes
	// read from it but not yet returned (see readBlock), so Read's
	// position is pos-len(buf)+bufAt.
	pos      int64
	buf      []byte
	bufAt    int
	closed   bool
	onWait   func()
	kickedAt time.Time
	retry    time.Duration // waitRetryInterval; tests lengthen it
	// onRefused, for tests, runs when the engine refused to wait and the
	// read is about to wait for download to be allowed.
	onRefused func()
}

// readBlock is the least a FileReader asks of the engine at once: the
// engine's file storage opens and closes the file on every read, which
// at the 32 KiB an HTTP response copies in took half the time of
// streaming a downloaded file (BenchmarkStreamThroughput).
const readBlock = 256 << 10

// OpenFile opens a reader on the file at index (the order of FileStats),
// for reads bound to ctx. Call Close when done: an open reader keeps its
// pieces prioritised. It fails without metadata, for an index out of
// range, and once the torrent is dropped.
func (t *anacrolixTorrent) OpenFile(ctx context.Context, index int) (FileReader, error) {
	info := t.t.Info()
	if info == nil {
		return nil, errors.New("open file: the metadata is not known yet")
	}
	select {
	case <-t.t.Closed():
		return nil, fmt.Errorf("open file: %w", ErrTorrentClosed)
	default:
	}
	l := t.layout(info)
	if index < 0 || index >= len(l.engine) {
		return nil, fmt.Errorf("open file: index %d out of range (%d files)", index, len(l.engine))
	}
	f := t.t.Files()[l.engine[index]]
	r := f.NewReader()
	// Verified data only (the engine's default; SetResponsive would
	// return unverified chunks): a browser must never see bytes that a
	// failed hash later replaces.
	r.SetReadahead(max(StreamReadahead, 2*info.PieceLength))
	ctx, cancel := context.WithCancelCause(ctx)
	r.SetContext(ctx)
	return &anacrolixReader{
		t: t, ctx: ctx, cancel: cancel, r: r,
		index: index, offset: f.Offset(), size: f.Length(), pieceLen: info.PieceLength,
		retry: waitRetryInterval,
	}, nil
}

// FileIndex returns the index and size of the file whose path (as in
// FileStats: slash-separated, the torrent's name first) is exactly path.
// ok is false without metadata or when no file has that path.
func (t *anacrolixTorrent) FileIndex(path string) (index int, size int64, ok bool) {
	info := t.t.Info()
	if info == nil {
		return 0, 0, false
	}
	l := t.layout(info)
	i, ok := l.dataFileIndex(path)
	if !ok {
		return 0, 0, false
	}
	return i, l.extents[i].to - l.extents[i].from, true
}

// Size returns the file's length in bytes.
func (r *anacrolixReader) Size() int64 { return r.size }

// Index returns the file's index in the torrent.
func (r *anacrolixReader) Index() int { return r.index }

// SetOnWait sets a function that Read calls, on its own goroutine, just
// before it waits for bytes that are not verified yet: for instance to
// flush what was already read to an HTTP client. Nil disables it.
func (r *anacrolixReader) SetOnWait(f func()) {
	r.mu.Lock()
	r.onWait = f
	r.mu.Unlock()
}

// Read reads up to len(b) bytes at the current position, waiting until at
// least one is verified. It returns io.EOF at the file's end.
func (r *anacrolixReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrReaderClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	if r.bufAt < len(r.buf) {
		n := copy(b, r.buf[r.bufAt:])
		r.bufAt += n
		return n, nil
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(b) >= readBlock {
		r.buf, r.bufAt = r.buf[:0], 0
		return r.readLocked(b)
	}
	if r.buf == nil {
		r.buf = make([]byte, readBlock)
	}
	n, err := r.readLocked(r.buf[:readBlock])
	r.buf, r.bufAt = r.buf[:n], 0
	if n > 0 {
		// An io.EOF comes again with the next Read.
		r.bufAt = copy(b, r.buf)
		return r.bufAt, nil
	}
	return 0, err
}

// readLocked reads from the engine at pos. r.mu must be held.
func (r *anacrolixReader) readLocked(b []byte) (int, error) {
	for waited := false; ; waited = true {
		if !r.readyLocked() {
			if r.onWait != nil && !waited {
				r.onWait()
			}
			if now := time.Now(); now.Sub(r.kickedAt) >= kickInterval {
				// A finished task streaming a skipped file may have no
				// peer connected: the engine dials only when prompted.
				r.kickedAt = now
				r.t.kick()
			}
		}
		allowed := r.t.allowedSignal() // before the read: see allowedSignal
		n, err := r.r.Read(b)
		r.pos += int64(n)
		if n > 0 || err == nil || errors.Is(err, io.EOF) {
			return n, err
		}
		if err := r.stopErr(); err != nil {
			return 0, err
		}
		if r.readyLocked() {
			// The data is verified and could not be read: storage.
			return 0, fmt.Errorf("read file %d at %d: %w", r.index, r.pos, err)
		}
		// The engine refused to wait: download is not allowed (paused,
		// queued, halted). Its pieces stay prioritised for when it is.
		if r.onRefused != nil {
			r.onRefused()
		}
		t := time.NewTimer(r.retry)
		select {
		case <-allowed:
		case <-t.C:
		case <-r.ctx.Done():
		case <-r.t.t.Closed():
		}
		t.Stop()
	}
}

// stopErr returns why reading must end, if it must: the reader or its
// context is done, or the torrent is dropped.
func (r *anacrolixReader) stopErr() error {
	select {
	case <-r.t.t.Closed():
		return fmt.Errorf("read file %d: %w", r.index, ErrTorrentClosed)
	default:
	}
	if r.ctx.Err() != nil {
		// ErrReaderClosed when Close cancelled it.
		return fmt.Errorf("read file %d: %w", r.index, context.Cause(r.ctx))
	}
	return nil
}

// readyLocked reports whether the byte at the position is verified (or
// the position is at the end): a read returns without waiting.
func (r *anacrolixReader) readyLocked() bool {
	if r.pos >= r.size {
		return true
	}
	return r.t.t.PieceState(int((r.offset + r.pos) / r.pieceLen)).Complete
}

// Seek sets the position for the next Read (io.Seeker). Seeking does not
// prioritise anything until the next Read.
func (r *anacrolixReader) Seek(offset int64, whence int) (int64, error) {
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
		abs = r.pos - int64(len(r.buf)-r.bufAt) + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, errors.New("seek: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("seek: negative position")
	}
	if start := r.pos - int64(len(r.buf)); abs >= start && abs <= r.pos {
		// Within the bytes read ahead: the engine stays where it is.
		r.bufAt = int(abs - start)
		return abs, nil
	}
	if _, err := r.r.Seek(abs, io.SeekStart); err != nil {
		return 0, err
	}
	r.pos, r.buf, r.bufAt = abs, r.buf[:0], 0
	return abs, nil
}

// Close ends a waiting Read, waits for it to return, and releases the
// reader: its pieces go back to their files' priorities. It is safe to
// call more than once and from another goroutine than Read's.
func (r *anacrolixReader) Close() error {
	r.cancel(ErrReaderClosed)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.r.Close()
}
