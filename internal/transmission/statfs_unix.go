//go:build unix

package transmission

import sys "golang.org/x/sys/unix"

// statfs returns the space available to unprivileged writers and the size
// of dir's filesystem.
func statfs(dir string) (free, total int64, ok bool) {
	var st sys.Statfs_t
	if err := sys.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), true
}
