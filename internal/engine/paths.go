package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/lodestone-bt/lodestone/internal/engine/safefs"
	"github.com/lodestone-bt/lodestone/internal/engine/safepath"
)

// SanitizeName makes one path component safe: see safepath.Name.
func SanitizeName(s string) string { return safepath.Name(s) }

// SafePaths returns the path of each file of info, in the engine's file
// order, relative to the download dir and slash-separated; a pad file gets
// "". See safepath.Paths, whose rules the native core shares.
func SafePaths(info *metainfo.Info) []string { return safepath.Paths(info) }

// ErrUnsafePath is returned (wrapped) when a task's files cannot be opened
// safely: a symlink where a folder or file of the task would be.
var ErrUnsafePath = errors.New("unsafe download path")

// checkNoSymlinks refuses to open files under dir when any existing part
// of their paths below dir is a symbolic link: a link planted in the
// download dir (say "Name" -> /etc) would otherwise send writes outside it.
// The dir itself may be a link: the user chose it.
func checkNoSymlinks(dir string, paths []string) error {
	seen := map[string]bool{}
	for _, p := range paths {
		comps := strings.Split(p, "/")
		cur := dir
		for _, c := range comps {
			cur = filepath.Join(cur, c)
			if seen[cur] {
				continue
			}
			seen[cur] = true
			fi, err := os.Lstat(cur)
			if errors.Is(err, fs.ErrNotExist) {
				break // nothing below exists yet
			}
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUnsafePath, err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				return fmt.Errorf("%w: %s is a symbolic link", ErrUnsafePath, cur)
			}
		}
	}
	return nil
}

// protectGuard returns the guard of cfg's protected dirs: Protect and
// StateDir (which must exist).
func protectGuard(cfg Config) (*safefs.Guard, error) {
	g, err := safefs.NewGuard(append([]string{cfg.StateDir}, cfg.Protect...)...)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return g, nil
}
