//go:build unix

package connguard

import (
	"errors"
	"syscall"
)

// fileLimit returns the soft limit of open files.
func fileLimit() (uint64, bool) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, false
	}
	return uint64(l.Cur), true
}

// outOfFiles reports whether err is the process's or the system's
// open-file limit.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}
