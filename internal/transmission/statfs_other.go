//go:build !unix

package transmission

// statfs is not known on this system.
func statfs(string) (free, total int64, ok bool) { return 0, 0, false }
