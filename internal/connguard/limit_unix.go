//go:build unix

package connguard

import (
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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

// waitPending waits up to timeout for a connection to be pending on the
// listening socket rc, and reports whether one is (true when rc is nil:
// unknown). The wait holds an OS thread: it runs only while the process
// is out of file descriptors. (A listener's RawConn has no Read that
// would wait in the runtime's poller.)
func waitPending(rc syscall.RawConn, timeout time.Duration) bool {
	if rc == nil {
		return true
	}
	pending := false
	err := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(timeout.Milliseconds()))
		pending = err == nil && n > 0
	})
	return err == nil && pending
}
