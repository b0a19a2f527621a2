package service

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/lodestone-bt/lodestone/internal/engine"
)

// ErrUnsafePath: a task's files would be opened through a symbolic link
// planted in its download dir (refused; see engine.SafePaths for names).
var ErrUnsafePath = engine.ErrUnsafePath

// resolveRoots cleans the download roots and resolves their symlinks. It
// refuses a root that contains stateDir (the daemon's data dir) or lies
// inside it, compared after resolving symlinks: a torrent's files there
// could overwrite the daemon's state (issue 15, item 2). "" checks
// nothing.
func resolveRoots(roots []string, stateDir string) ([]string, error) {
	state := ""
	if stateDir != "" {
		var err error
		if state, err = filepath.Abs(stateDir); err != nil {
			return nil, fmt.Errorf("data dir %s: %w", stateDir, err)
		}
		if real, err := filepath.EvalSymlinks(state); err == nil {
			state = real
		}
	}
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
		if state != "" && (abs == state || within(abs, state) || within(state, abs)) {
			return nil, fmt.Errorf("download root %s (%s) and the data dir %s must not contain one another: a torrent could overwrite the daemon's state", r, abs, state)
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
	real, err := s.inRoots(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(real, 0o755); err != nil {
		return "", fmt.Errorf("%w: download_dir %s: %w", ErrInvalidParams, dir, err)
	}
	return real, nil
}

// inRoots returns the absolute dir with the symlinks of the part that
// exists resolved, checking that it is a download root or lies inside
// one; else an error wrapping ErrInvalidParams. It creates nothing.
func (s *Service) inRoots(dir string) (string, error) {
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

// taskDir returns where tk's data lives: the absolute dir on record. ""
// (records older than issue 15, pinned at start by pinDirs) is the
// default download dir.
func (s *Service) taskDir(tk *task) string {
	if tk.rec.DownloadDir != "" {
		return tk.rec.DownloadDir
	}
	return s.downloadDir
}
