//go:build unix

package logging

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// StderrIsJournal reports whether standard error is connected to the
// systemd journal: $JOURNAL_STREAM (as getenv returns it) names its
// device and inode, "DEV:INODE", as systemd documents.
func StderrIsJournal(getenv func(string) string) bool {
	return IsJournal(os.Stderr, getenv("JOURNAL_STREAM"))
}

// IsJournal reports whether f is the stream journalStream
// ($JOURNAL_STREAM's value) names.
func IsJournal(f *os.File, journalStream string) bool {
	dev, ino, ok := strings.Cut(journalStream, ":")
	if !ok || f == nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return fmt.Sprint(st.Dev) == dev && fmt.Sprint(st.Ino) == ino
}
