//go:build !unix

package connguard

import (
	"syscall"
	"time"
)

// fileLimit is unknown here.
func fileLimit() (uint64, bool) { return 0, false }

// outOfFiles recognises no error here: accept errors go to http.Server.
func outOfFiles(error) bool { return false }

// waitPending cannot tell here: it reports a connection pending.
func waitPending(syscall.RawConn, time.Duration) bool { return true }
