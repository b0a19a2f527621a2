package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Move moves a task's data to another download dir (inside the roots) and
// goes on from there, keeping its verified pieces. The task shows busy
// "moving" meanwhile and transfers nothing; the copy (across filesystems
// it can take minutes) runs without Service.mu, so requests about other
// tasks are not delayed. A failed move puts back what it moved and goes
// on where the data was. Closing the service stops a move between files,
// as a failure. The move is journaled (journal.go): a crash in the middle
// of it is finished or undone at the next start.
func (s *Service) Move(id, dir string) (api.Task, error) {
	tk, exit, err := s.beginOp(id)
	if err != nil {
		return api.Task{}, err
	}
	defer exit()
	s.mu.Lock()
	base := s.defaultDirLocked()
	s.mu.Unlock()
	to, err := s.resolveDownloadDir(dir, base)
	if err != nil {
		return api.Task{}, err
	}
	return s.moveTask(tk, to)
}

// moveTask is Move's work once to is resolved: tk's op lock must be held
// (task.set moving a task into a category calls it too). When the dir
// changed, it publishes task.changed naming download_dir.
func (s *Service) moveTask(tk *task, to string) (api.Task, error) {
	x := s.lock()
	from := s.taskDir(tk)
	if to == from {
		defer x.unlock()
		return tk.view(from, s.clock(), s.node), nil
	}
	if tk.t == nil {
		x.unlock()
		return api.Task{}, fmt.Errorf("%w: task %s could not be loaded", ErrTaskState, tk.rec.ID)
	}
	// The new engine torrent counts bytes from zero: fold this session's
	// into the record.
	t := tk.t
	up, down := tk.uploaded(), tk.downloaded()
	tk.rec.Uploaded, tk.rec.Downloaded = up, down
	tk.flushedUp, tk.flushedDown = 0, 0
	// What is on disk stays what it was; the byte counters and peers
	// belong to the torrent being closed.
	tk.stats = engine.Stats{HasInfo: tk.stats.HasInfo, Name: tk.stats.Name, Size: tk.stats.Size,
		Completed: tk.stats.Completed, Pieces: tk.stats.Pieces, PieceSize: tk.stats.PieceSize}
	tk.down, tk.up = rateMeter{}, rateMeter{}
	s.account(tk)
	tk.t = nil
	tk.busy = api.BusyMoving
	s.requeueLocked(x)
	x.apply(tk)
	x.unlock()

	merr := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.Uploaded, r.Downloaded = up, down })
	files := t.Files()
	t.Drop()
	newDir := from
	if merr == nil {
		if merr = s.moveData(tk.rec.ID, files, from, to); merr == nil {
			newDir = to
		}
	}
	spec := engine.Spec{ID: tk.rec.ID, Name: tk.rec.Name, MetaInfo: tk.rec.MetaInfo, Magnet: tk.rec.Magnet, DownloadDir: newDir}
	l, lerr := s.prepare(spec, &tk.rec, newDir)

	x = s.lock()
	defer x.unlock()
	tk.busy = ""
	if newDir == to {
		tk.rec.DownloadDir = to
	}
	if lerr != nil {
		tk.halt = halt{kind: haltLoad, text: lerr.Error()}
		merr = errors.Join(merr, lerr)
	} else {
		s.install(tk, l)
	}
	s.requeueLocked(x)
	x.apply(tk)
	if newDir == to {
		x.changed(tk, "download_dir")
	}
	if merr != nil {
		return api.Task{}, fmt.Errorf("move %s: %w", tk.rec.ID, merr)
	}
	return tk.view(s.taskDir(tk), s.clock(), s.node), nil
}

// moveData moves the task id's files (paths relative to the download
// dir) from one dir to another and records the task's new dir, or puts
// back what it moved and returns why not. It refuses, before touching
// anything, when a file would replace one already in to. The move is
// written to the journal first, and its end is written with the record's
// new dir in one transaction: a crash at any point leaves an entry that
// the next start finishes or undoes (heal).
func (s *Service) moveData(id string, files []string, from, to string) error {
	var present []string
	for _, r := range files {
		if _, err := os.Lstat(filepath.Join(from, r)); errors.Is(err, fs.ErrNotExist) {
			continue // not downloaded (yet)
		}
		if _, err := os.Lstat(filepath.Join(to, r)); err == nil {
			return fmt.Errorf("%w: %s already exists", ErrPathConflict, filepath.Join(to, r))
		}
		present = append(present, r)
	}
	e := store.JournalEntry{Op: store.JournalMove, TaskID: id, From: from, To: to, Files: present, Started: time.Now()}
	if err := s.store.PutJournal(e); err != nil {
		return err
	}
	err := moveFiles(s.ctx, present, from, to, false, s.stallHook(store.JournalMove))
	if err == nil {
		if err = s.moveRecord(id, files, to, store.JournalMove); err == nil {
			removeEmptyParents(present, from)
			return nil
		}
	}
	// Put back what moved, and go on where the data was. Should that
	// fail too, the entry stays and the next start finishes the move.
	if berr := moveFiles(context.Background(), present, to, from, true, nil); berr != nil {
		return errors.Join(err, fmt.Errorf("moving back: %w", berr))
	}
	removeEmptyParents(present, to)
	if cerr := s.store.ClearJournal(store.JournalMove, id); cerr != nil {
		s.log.Warn("clear the journal of a move put back", "task_id", id, "err", cerr)
	}
	return err
}

// moveFiles moves the files rel (paths relative to from and to) from one
// dir to another. Each file is renamed or, across filesystems, copied to
// a temporary part beside its destination (partPath), synced and renamed
// into place, its dir synced, and only then removed from from: whenever
// the process dies, every file is whole in from or in to, and a part is
// all there is to clean up. A file in neither dir is skipped. The dirs of
// plain renames are synced before it returns, so that after a power cut
// too the files are where the caller then records them.
//
// resume is for finishing or undoing a journaled move: a file found in
// both dirs was renamed into to before the source could be removed, so
// the source is removed. Otherwise such a file is an error (moveData
// checked that none was there). after, when not nil, is called with the
// number of files moved after each one (the test hook of stallAfter). It
// stops between files once ctx ends.
func moveFiles(ctx context.Context, rel []string, from, to string, resume bool, after func(n int)) error {
	// The dirs of plain renames, synced at the end so the renames are on
	// disk before the caller records the move as done.
	renamed := map[string]bool{}
	for i, r := range rel {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("move stopped: %w", err)
		}
		src, dst := filepath.Join(from, r), filepath.Join(to, r)
		ren, err := moveFile(ctx, src, dst, resume)
		if err != nil {
			return err
		}
		if ren {
			renamed[filepath.Dir(src)], renamed[filepath.Dir(dst)] = true, true
		}
		if after != nil {
			after(i + 1)
		}
	}
	for d := range renamed {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// moveFile moves one file as moveFiles says; renamed reports a plain
// rename, whose dirs are still to be synced.
func moveFile(ctx context.Context, src, dst string, resume bool) (renamed bool, err error) {
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return false, nil // moved already, or never there
	}
	if _, err := os.Lstat(dst); err == nil {
		if !resume {
			return false, fmt.Errorf("%s already exists", dst)
		}
		// Renamed into place, synced first: the copy is whole.
		return false, os.Remove(src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	if err := os.Rename(src, dst); err == nil {
		return true, nil
	}
	part := partPath(dst)
	if err := copyFile(ctx, src, part); err != nil {
		return false, err
	}
	if err := os.Rename(part, dst); err != nil {
		os.Remove(part)
		return false, err
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return false, err
	}
	return false, os.Remove(src)
}

// partSuffix ends the name of a file being copied by a move.
const partSuffix = ".lodestone-part"

// partPath returns the temporary name a move copies dst to before it
// renames it into place: ".NAME.lodestone-part" beside it, or, when that
// name would be too long for the filesystem, one made of a hash of NAME.
func partPath(dst string) string {
	dir, name := filepath.Split(dst)
	part := "." + name + partSuffix
	if len(part) > 255 {
		sum := sha256.Sum256([]byte(name))
		part = "." + hex.EncodeToString(sum[:16]) + partSuffix
	}
	return filepath.Join(dir, part)
}

// copyFile copies src to a new file dst, replacing a stale one, and
// syncs it; a failed or stopped copy leaves no dst.
func copyFile(ctx context.Context, src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	if _, err := io.Copy(out, ctxReader{ctx, in}); err != nil {
		return err
	}
	return out.Sync()
}

// syncDir syncs a directory, so that a rename in it survives a power cut
// before the next step (removing the source) does.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ctxReader ends reads once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, fmt.Errorf("copy stopped: %w", err)
	}
	return c.r.Read(p)
}
