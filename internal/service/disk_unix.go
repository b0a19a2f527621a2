//go:build unix

package service

import "golang.org/x/sys/unix"

// freeBytes returns the space available to us on dir's filesystem, or -1.
func freeBytes(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
