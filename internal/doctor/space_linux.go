package doctor

import "syscall"

// space returns the bytes free to an unprivileged user and the size of
// the filesystem holding path.
func space(path string) (free, total uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, false
	}
	return st.Bavail * uint64(st.Bsize), st.Blocks * uint64(st.Bsize), true
}
