package native

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// directFlag opens a file for direct I/O: writes go from our buffer to
// the device, without a copy into the page cache.
const directFlag = syscall.O_DIRECT

// preallocate reserves a new file's blocks (unwritten extents, no zeros
// written) so that pieces written out of order do not fragment it. A
// filesystem without fallocate leaves the file as it is.
func preallocate(f *os.File, n int64) {
	if n <= 0 {
		return
	}
	if st, err := f.Stat(); err != nil || st.Size() >= n {
		return
	}
	_ = unix.Fallocate(int(f.Fd()), 0, 0, n)
}
