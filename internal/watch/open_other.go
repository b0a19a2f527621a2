//go:build !unix

package watch

import "os"

// openFile opens path for reading; readWhole checks it is a regular file.
func openFile(path string) (*os.File, error) { return os.Open(path) }
