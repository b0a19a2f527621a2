//go:build !unix

package service

// freeBytes is not implemented here: -1 means unknown.
func freeBytes(string) int64 { return -1 }
