//go:build unix

package main

import "syscall"

// raiseFileLimit raises the soft limit of open files to the hard one: a
// daemon holds a socket per peer and client and a file per open torrent
// file, and the usual soft limit (1,024) runs out long before the hard
// one. It returns the limits before and after.
func raiseFileLimit() (before, after uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	before = l.Cur
	if l.Cur >= l.Max {
		return before, before, nil
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return before, before, err
	}
	return before, l.Cur, nil
}
