// Package safefs opens a task's files below its download dir so that no
// path, symbolic link or mount can send a read or write elsewhere. Both
// cores (the engine's storage and internal/engine/native) open every data
// file through it.
//
// A Dir holds an os.Root on the download dir, opened once: every later
// open resolves its path relative to that directory handle, component by
// component, and the kernel refuses a symbolic link that would leave it.
// A link swapped in for a task's folder at any time after the Dir was
// opened therefore cannot lead a write outside (issue 15, item 4); one
// that stays inside the dir is followed, as os.Root does.
//
// A Guard names directories no file may be opened in, whatever the paths
// say: the daemon's data dir (its store, token and piece-completion
// database; issue 15, item 2). They are compared by device and inode, not
// by name, so neither a symlink nor a bind mount of the data dir inside
// a download dir gets past it.
package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrProtected is returned (wrapped) when a dir or file would be opened
// inside a protected directory, or a download dir contains one.
var ErrProtected = errors.New("inside the daemon's data dir")

// ErrNotRegular is returned (wrapped) when the file at a task's path is
// not a regular file (a FIFO, a device, a socket, a directory).
var ErrNotRegular = errors.New("not a regular file")

// fileID identifies a directory whatever its name: device and inode.
type fileID struct{ dev, ino uint64 }

// Guard is a set of protected directories. The zero value and nil
// protect nothing. It is read-only after NewGuard, safe for concurrent
// use.
type Guard struct {
	dirs []string
	ids  map[fileID]string // id → the dir's name, for errors
}

// NewGuard returns a Guard protecting dirs, which must exist.
func NewGuard(dirs ...string) (*Guard, error) {
	g := &Guard{ids: make(map[fileID]string)}
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil {
			return nil, fmt.Errorf("protected dir: %w", err)
		}
		id, ok := idOf(fi)
		if !ok {
			return nil, fmt.Errorf("protected dir %s: no device and inode on this system", d)
		}
		g.dirs = append(g.dirs, d)
		g.ids[id] = d
	}
	return g, nil
}

func (g *Guard) protects(id fileID) (string, bool) {
	if g == nil {
		return "", false
	}
	d, ok := g.ids[id]
	return d, ok
}

// Dir is a download dir held open. Its methods are safe for concurrent
// use; Close it when done.
type Dir struct {
	root  *os.Root
	id    fileID
	guard *Guard
}

// Open holds dir open as the root of every later open. It refuses
// (ErrProtected) a dir that is a protected dir, lies inside one, or
// contains one. g may be nil.
func Open(dir string, g *Guard) (*Dir, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open download dir: %w", err)
	}
	d := &Dir{root: root, guard: g}
	if err := d.check(); err != nil {
		root.Close()
		return nil, err
	}
	return d, nil
}

// check refuses a root that is, lies in, or contains a protected dir.
func (d *Dir) check() error {
	top, err := d.root.Open(".")
	if err != nil {
		return fmt.Errorf("open download dir: %w", err)
	}
	defer top.Close()
	fi, err := top.Stat()
	if err != nil {
		return fmt.Errorf("open download dir: %w", err)
	}
	var ok bool
	if d.id, ok = idOf(fi); !ok || d.guard == nil || len(d.guard.ids) == 0 {
		return nil
	}
	// The root and its ancestors, by walking "..": a protected one means
	// the root lies inside it.
	var refused error
	if err := walkUp(top, func(id fileID) bool {
		if p, hit := d.guard.protects(id); hit {
			refused = fmt.Errorf("%w: download dir %s lies in %s", ErrProtected, d.root.Name(), p)
			return false
		}
		return true
	}); err != nil {
		return fmt.Errorf("check download dir: %w", err)
	}
	if refused != nil {
		return refused
	}
	// Each protected dir's ancestors: the root among them means it
	// contains the protected dir.
	for _, p := range d.guard.dirs {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("check download dir: %w", err)
		}
		var inside bool
		werr := walkUp(f, func(id fileID) bool {
			inside = id == d.id
			return !inside
		})
		f.Close()
		if werr != nil {
			return fmt.Errorf("check download dir: %w", werr)
		}
		if inside {
			return fmt.Errorf("%w: download dir %s contains %s", ErrProtected, d.root.Name(), p)
		}
	}
	return nil
}

// Name returns the path the dir was opened with.
func (d *Dir) Name() string { return d.root.Name() }

// OpenFile opens the file at rel (relative to the dir, either separator)
// with flag and perm, creating its folders first when flag has
// os.O_CREATE. It refuses a path whose folders lead out of the dir (an
// error from os.Root), or through a protected dir (ErrProtected), and a
// file that is not regular (ErrNotRegular).
func (d *Dir) OpenFile(rel string, flag int, perm fs.FileMode) (*os.File, error) {
	rel = filepath.FromSlash(rel)
	parent := filepath.Dir(rel)
	if flag&os.O_CREATE != 0 && parent != "." {
		// The folders that exist are checked before any is made, so
		// that none is made inside a protected dir.
		have := parent
		for have != "." {
			if _, err := d.root.Stat(have); err == nil {
				break
			}
			have = filepath.Dir(have)
		}
		if have != parent {
			if err := d.checkFolder(have); err != nil {
				return nil, err
			}
			if err := d.root.MkdirAll(parent, 0o755); err != nil {
				return nil, err
			}
		}
	}
	if err := d.checkFolder(parent); err != nil {
		return nil, err
	}
	f, err := d.root.OpenFile(rel, flag, perm)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: %s is %v", ErrNotRegular, f.Name(), fi.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkFolder walks from the folder rel up to the dir, refusing it if a
// protected dir is on the way (a bind mount, or a link that stays inside
// the root to a protected dir the root contains) or the walk never meets
// the dir.
func (d *Dir) checkFolder(rel string) error {
	if d.guard == nil || len(d.guard.ids) == 0 {
		return nil
	}
	f, err := d.root.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	var refused error
	met := false
	err = walkUp(f, func(id fileID) bool {
		if p, hit := d.guard.protects(id); hit {
			refused = fmt.Errorf("%w: %s leads into %s", ErrProtected, filepath.Join(d.root.Name(), rel), p)
			return false
		}
		met = id == d.id
		return !met
	})
	switch {
	case err != nil:
		return err
	case refused != nil:
		return refused
	case !met:
		return fmt.Errorf("%w: %s is not below %s", ErrProtected, filepath.Join(d.root.Name(), rel), d.root.Name())
	}
	return nil
}

// Stat returns the FileInfo of the file at rel, following links that
// stay inside the dir.
func (d *Dir) Stat(rel string) (fs.FileInfo, error) { return d.root.Stat(filepath.FromSlash(rel)) }

// Close releases the dir. Files opened through it stay open.
func (d *Dir) Close() error { return d.root.Close() }
