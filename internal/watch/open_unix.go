//go:build unix

package watch

import (
	"os"
	"syscall"
)

// openFile opens path for reading without following a symlink put there
// since the scan, and without blocking on a FIFO.
func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}
