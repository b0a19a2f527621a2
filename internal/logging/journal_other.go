//go:build !unix

package logging

import "os"

// StderrIsJournal is false: the systemd journal is Linux's.
func StderrIsJournal(getenv func(string) string) bool { return false }

// IsJournal is false: the systemd journal is Linux's.
func IsJournal(f *os.File, journalStream string) bool { return false }
