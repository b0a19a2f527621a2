//go:build !linux

package native

import "os"

// directFlag is 0 where direct I/O is not offered: writes go through the
// page cache.
const directFlag = 0

func preallocate(*os.File, int64) {}
