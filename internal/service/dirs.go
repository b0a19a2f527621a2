package service

import (
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

// ErrUnsafePath: a task's files would be opened through a symbolic link
// planted in its download dir (refused; see engine.SafePaths for names).
var ErrUnsafePath = engine.ErrUnsafePath

// resolveRoots cleans the download roots and resolves their symlinks.
func resolveRoots(roots []string) ([]string, error) {
	var out []string
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("download root %s: %w", r, err)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("download root: %w", err)
		}
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			return nil, fmt.Errorf("download root %s: %w", r, err)
		}
		out = append(out, abs)
	}
	return out, nil
}

// resolveDownloadDir checks that dir (absolute, or relative to base)
// lies inside a download root — after resolving the symlinks of the part
// that exists — and creates it. "" is base.
func (s *Service) resolveDownloadDir(dir, base string) (string, error) {
	if dir == "" {
		return base, nil
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(base, dir)
	}
	dir = filepath.Clean(dir)
	// Resolve the deepest existing ancestor, so a symlink planted inside a
	// root cannot lead out of it.
	existing, rest := dir, ""
	for {
		if _, err := os.Lstat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = parent
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return "", fmt.Errorf("%w: download_dir %s: %w", ErrInvalidParams, dir, err)
	}
	real = filepath.Join(real, rest)
	inRoot := false
	for _, root := range s.roots {
		if real == root || within(root, real) {
			inRoot = true
		}
	}
	if !inRoot {
		return "", fmt.Errorf("%w: download_dir %s is outside the download roots %v", ErrInvalidParams, dir, s.roots)
	}
	if err := os.MkdirAll(real, 0o755); err != nil {
		return "", fmt.Errorf("%w: download_dir %s: %w", ErrInvalidParams, dir, err)
	}
	return real, nil
}

// defaultDirLocked returns the download dir of new tasks. s.mu must be
// held.
func (s *Service) defaultDirLocked() string {
	if s.settings.DownloadDir != "" {
		return s.settings.DownloadDir
	}
	return s.downloadDir
}

// taskDir returns where tk's data lives.
func (s *Service) taskDir(tk *task) string {
	if tk.rec.DownloadDir != "" {
		return tk.rec.DownloadDir
	}
	return s.downloadDir
}

// Move moves a task's data to another download dir (inside the roots) and
// goes on from there, keeping its verified pieces.
func (s *Service) Move(id, dir string) (api.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tk, err := s.lookupLocked(id)
	if err != nil {
		return api.Task{}, err
	}
	to, err := s.resolveDownloadDir(dir, s.defaultDirLocked())
	if err != nil {
		return api.Task{}, err
	}
	from := s.taskDir(tk)
	if to == from {
		return s.view(tk), nil
	}
	if tk.t == nil {
		return api.Task{}, fmt.Errorf("%w: task %s could not be loaded", ErrTaskState, tk.rec.ID)
	}
	files := tk.t.Files()
	// The new engine torrent counts bytes from zero: store the totals.
	s.flushTaskTotalsLocked(tk)
	tk.t.Drop()
	tk.t = nil
	tk.flushedUp, tk.flushedDown = 0, 0
	tk.stats = engine.Stats{}
	tk.down, tk.up = rateMeter{}, rateMeter{}
	moved, merr := moveFiles(files, from, to)
	newDir := to
	if merr != nil {
		// Put back what moved, and go on where the data was.
		if _, err := moveFiles(moved, to, from); err != nil {
			merr = errors.Join(merr, fmt.Errorf("moving back: %w", err))
		}
		newDir = from
	} else if err := s.store.UpdateTask(tk.rec.ID, func(r *store.Task) { r.DownloadDir = s.relDir(to) }); err != nil {
		merr = err
	} else {
		tk.rec.DownloadDir = s.relDir(to)
		removeEmptyParents(files, from)
	}
	spec := engine.Spec{ID: tk.rec.ID, Name: tk.rec.Name, MetaInfo: tk.rec.MetaInfo, Magnet: tk.rec.Magnet, DownloadDir: newDir}
	if err := s.startLocked(tk, spec); err != nil {
		tk.errText = err.Error()
		merr = errors.Join(merr, err)
	}
	s.requeueLocked()
	s.publishAll(s.stateChangeLocked(tk))
	if merr != nil {
		return api.Task{}, fmt.Errorf("move %s: %w", tk.rec.ID, merr)
	}
	return s.view(tk), nil
}

// relDir stores the default download dir as "".
func (s *Service) relDir(dir string) string {
	if dir == s.downloadDir {
		return ""
	}
	return dir
}

// moveFiles moves the relative paths rel from one dir to another,
// renaming where possible and copying across filesystems. It returns the
// paths it moved.
func moveFiles(rel []string, from, to string) ([]string, error) {
	var moved []string
	for _, r := range rel {
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
			if err := copyFile(src, dst); err != nil {
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

func copyFile(src, dst string) (err error) {
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
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Sync()
}
