//go:build !unix

package service

import "io/fs"

// sameFilesystem cannot tell here: assume so, which keeps the reserve.
func sameFilesystem(a, b string) bool { return true }

// allocatedOf is not known here: the file's length counts.
func allocatedOf(fs.FileInfo) (int64, bool) { return 0, false }

// isSpaceErrno: only the message is checked here (isSpaceError).
func isSpaceErrno(error) bool { return false }

// freeBytes is not implemented here: -1 means unknown.
func freeBytes(string) int64 { return -1 }

func diskStats(string) (free, total int64, ok bool) { return 0, 0, false }
