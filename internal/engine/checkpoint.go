package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/lodestone-bt/lodestone/internal/engine/safefs"
)

// CompletionFile is the name of the piece-completion database in
// Config.StateDir (the engine's bolt store picks it).
const CompletionFile = ".torrent.bolt.db"

// CheckpointInterval bounds how long a verified piece stays only in
// memory.
const CheckpointInterval = time.Second

// checkpointing wraps the engine's buffered bolt piece completion so that
// verified pieces are written to it within CheckpointInterval, whatever
// the torrent does next.
//
// Why: the engine's file storage writes completion only when another
// piece of the same torrent completes a second or more after its last
// write. A torrent that finishes, is paused or stalls keeps its last batch
// in memory, and a SIGKILL loses it — measured in the crash-loop test: a
// finished 300 kB task came back at 169 kB, state downloading, and those
// pieces are not even re-hashed (the database says incomplete).
//
// Like the engine's own checkpoint, it first fsyncs the files the pieces
// lie in, so completion never claims data that only a power cut could
// lose. The engine's checkpoints still run; writing a piece twice is
// harmless.
type checkpointing struct {
	storage.PieceCompletion
	cp    storage.PieceCompletionCheckpointer
	log   *slog.Logger
	files *fileBook

	mu      sync.Mutex
	pending map[metainfo.PieceKey]struct{} // verified, maybe not yet written

	stop, done chan struct{}
}

// newCheckpointing returns pc wrapped, or pc itself when it does not
// buffer.
func newCheckpointing(pc storage.PieceCompletion, files *fileBook, log *slog.Logger) storage.PieceCompletion {
	cp, ok := pc.(storage.PieceCompletionCheckpointer)
	if !ok {
		return pc
	}
	c := &checkpointing{
		PieceCompletion: pc, cp: cp, log: log, files: files,
		pending: make(map[metainfo.PieceKey]struct{}),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	go c.run()
	return c
}

func (c *checkpointing) Set(pk metainfo.PieceKey, complete g.Option[bool]) error {
	if err := c.PieceCompletion.Set(pk, complete); err != nil {
		return err
	}
	c.mu.Lock()
	if complete.Ok && complete.Value {
		c.pending[pk] = struct{}{}
	} else {
		delete(c.pending, pk)
	}
	c.mu.Unlock()
	return nil
}

// Checkpoint is the storage's own checkpoint (after it flushed the files).
func (c *checkpointing) Checkpoint(keys []metainfo.PieceKey) error { return c.cp.Checkpoint(keys) }

// Persistent reports that completion survives restarts.
func (c *checkpointing) Persistent() bool { return true }

func (c *checkpointing) run() {
	defer close(c.done)
	t := time.NewTicker(CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.flush()
		}
	}
}

// flush syncs the files under the pending pieces, then writes their
// completion. On failure the pieces stay pending.
func (c *checkpointing) flush() {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	keys := make([]metainfo.PieceKey, 0, len(c.pending))
	for k := range c.pending {
		keys = append(keys, k)
	}
	clear(c.pending)
	c.mu.Unlock()
	err := c.files.sync(keys)
	if err == nil {
		err = c.cp.Checkpoint(keys)
	}
	if err != nil {
		c.log.Warn("write piece completion", "pieces", len(keys), "err", err)
		c.mu.Lock()
		for _, k := range keys {
			c.pending[k] = struct{}{}
		}
		c.mu.Unlock()
	}
}

// Close stops the timer and closes the wrapped store, which writes what
// is still buffered.
func (c *checkpointing) Close() error {
	close(c.stop)
	<-c.done
	return c.PieceCompletion.Close()
}

// fileBook knows, per open torrent, where its files are, so that the
// files under given pieces can be synced. They are opened (read-only, to
// sync) through a safefs.Dir on the torrent's download dir, like its
// writes: a link swapped in for a folder leads nowhere else.
type fileBook struct {
	guard *safefs.Guard // set before use; nil protects nothing

	mu sync.Mutex
	by map[metainfo.Hash]bookEntry
}

type bookEntry struct {
	pieceLength int64
	dir         string
	files       []bookFile // data files, by offset
}

// bookFile is one file of a torrent: where it is below the download dir
// and the bytes of the torrent it holds.
type bookFile struct {
	path     string // relative to the download dir, slash-separated
	from, to int64
}

func newFileBook() *fileBook { return &fileBook{by: make(map[metainfo.Hash]bookEntry)} }

// put records the data files of an opened torrent.
func (b *fileBook) put(ih metainfo.Hash, pieceLength int64, l *layout, dir string) {
	files := make([]bookFile, len(l.paths))
	for i, p := range l.paths {
		files[i] = bookFile{p, l.extents[i].from, l.extents[i].to}
	}
	b.mu.Lock()
	b.by[ih] = bookEntry{pieceLength, dir, files}
	b.mu.Unlock()
}

func (b *fileBook) drop(ih metainfo.Hash) {
	b.mu.Lock()
	delete(b.by, ih)
	b.mu.Unlock()
}

// sync fsyncs every file that holds data of the pieces keys. Files of
// torrents no longer open, and files not there (yet), are skipped.
func (b *fileBook) sync(keys []metainfo.PieceKey) error {
	todo := map[string]map[string]bool{} // dir → files
	b.mu.Lock()
	for _, k := range keys {
		e, ok := b.by[k.InfoHash]
		if !ok {
			continue
		}
		// The piece's bytes, or more for the last piece: no file lies
		// past the torrent's end.
		from := int64(k.Index) * e.pieceLength
		to := from + e.pieceLength
		first := sort.Search(len(e.files), func(i int) bool { return e.files[i].to > from })
		for _, f := range e.files[first:] {
			if f.from >= to {
				break
			}
			if f.to > f.from {
				if todo[e.dir] == nil {
					todo[e.dir] = map[string]bool{}
				}
				todo[e.dir][f.path] = true
			}
		}
	}
	b.mu.Unlock()
	var errs []error
	for dir, files := range todo {
		errs = append(errs, b.syncIn(dir, files))
	}
	return errors.Join(errs...)
}

// syncIn fsyncs files (relative paths) of the download dir dir; files not
// there are skipped.
func (b *fileBook) syncIn(dir string, files map[string]bool) error {
	d, err := safefs.Open(dir, b.guard)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	var errs []error
	for p := range files {
		f, err := d.OpenFile(p, os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("sync %s: %w", p, err))
		}
		f.Close()
	}
	return errors.Join(errs...)
}
