//go:build unix

package safefs

import (
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, true
}

// walkUp calls visit with the id of dir, then of each parent reached by
// opening ".." relative to the previous one (not by name, so renames and
// links on the way change nothing), up to the filesystem's root or until
// visit returns false. dir stays open; the caller closes it.
func walkUp(dir *os.File, visit func(fileID) bool) error {
	fd, err := unix.Dup(int(dir.Fd()))
	if err != nil {
		return &os.PathError{Op: "dup", Path: dir.Name(), Err: err}
	}
	defer func() { unix.Close(fd) }()
	prev, first := fileID{}, true
	for {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return &os.PathError{Op: "fstat", Path: dir.Name(), Err: err}
		}
		id := fileID{uint64(st.Dev), uint64(st.Ino)}
		if !first && id == prev {
			return nil // "/" is its own parent
		}
		if !visit(id) {
			return nil
		}
		up, err := unix.Openat(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return &os.PathError{Op: "openat", Path: "..", Err: err}
		}
		unix.Close(fd)
		fd, prev, first = up, id, false
	}
}
