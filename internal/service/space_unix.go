//go:build unix

package service

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sameFilesystem reports whether a and b are on one filesystem (true when
// either cannot be read: the safe answer for keeping a reserve).
func sameFilesystem(a, b string) bool {
	da, oka := deviceOf(a)
	db, okb := deviceOf(b)
	return !oka || !okb || da == db
}

func deviceOf(path string) (uint64, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true
}

// allocatedOf returns the bytes allocated to a file (512-byte blocks).
func allocatedOf(fi fs.FileInfo) (int64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int64(st.Blocks) * 512, true
}

// isSpaceErrno reports whether err wraps ENOSPC or EDQUOT.
func isSpaceErrno(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// freeBytes returns the space available to us on dir's filesystem, or -1.
func freeBytes(dir string) int64 {
	free, _, ok := diskStats(dir)
	if !ok {
		return -1
	}
	return free
}

// diskStats returns the space available to unprivileged writers and the
// size of dir's filesystem.
func diskStats(dir string) (free, total int64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), true
}
