package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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
// as a failure.
func (s *Service) Move(id, dir string) (api.Task, error) {
	tk, exit, err := s.beginOp(id)
	if err != nil {
		return api.Task{}, err
	}
	defer exit()
	s.mu.Lock()
	from, base := s.taskDir(tk), s.defaultDirLocked()
	s.mu.Unlock()
	to, err := s.resolveDownloadDir(dir, base)
	if err != nil {
		return api.Task{}, err
	}
	x := s.lock()
	if to == from {
		defer x.unlock()
		return tk.view(from), nil
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
		moved, err := moveFiles(s.ctx, files, from, to)
		if err != nil {
			// Put back what moved, and go on where the data was.
			if _, berr := moveFiles(context.Background(), moved, to, from); berr != nil {
				err = errors.Join(err, fmt.Errorf("moving back: %w", berr))
			}
			merr = err
		} else if err := s.moveRecord(tk.rec.ID, files, to); err != nil {
			// The record still names the old dir: put the data back.
			if _, berr := moveFiles(context.Background(), moved, to, from); berr != nil {
				err = errors.Join(err, fmt.Errorf("moving back: %w", berr))
			}
			merr = err
		} else {
			newDir = to
			removeEmptyParents(files, from)
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
	if merr != nil {
		return api.Task{}, fmt.Errorf("move %s: %w", tk.rec.ID, merr)
	}
	return tk.view(s.taskDir(tk)), nil
}

// moveFiles moves the relative paths rel from one dir to another,
// renaming where possible and copying across filesystems. It stops
// between files once ctx ends. It returns the paths it moved.
func moveFiles(ctx context.Context, rel []string, from, to string) ([]string, error) {
	var moved []string
	for _, r := range rel {
		if err := ctx.Err(); err != nil {
			return moved, fmt.Errorf("move stopped: %w", err)
		}
		src, dst := filepath.Join(from, r), filepath.Join(to, r)
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			continue // not downloaded (yet)
		}
		if _, err := os.Lstat(dst); err == nil {
			return moved, fmt.Errorf("%s already exists", dst)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return moved, err
		}
		if err := os.Rename(src, dst); err != nil {
			if err := copyFile(ctx, src, dst); err != nil {
				return moved, err
			}
			if err := os.Remove(src); err != nil {
				return moved, err
			}
		}
		moved = append(moved, r)
	}
	return moved, nil
}

// copyFile copies src to a new file dst and syncs it; a failed or
// stopped copy leaves no dst.
func copyFile(ctx context.Context, src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
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
