//go:build unix

package main

import (
	"syscall"
	"testing"
)

// serve raises the open-file limit to the hard one (issue 15, item 9).
func TestRaiseFileLimit(t *testing.T) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	orig := l
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Error(err)
		}
	})
	if l.Max < 512 {
		t.Fatalf("hard limit %d: too low to test", l.Max)
	}
	l.Cur = 256
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	before, after, err := raiseFileLimit()
	if err != nil || before != 256 || after != l.Max {
		t.Fatalf("raiseFileLimit: %d → %d, %v; want 256 → %d", before, after, err, l.Max)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur != l.Max {
		t.Fatalf("soft limit %d after, want the hard one %d (%v)", l.Cur, l.Max, err)
	}
}
