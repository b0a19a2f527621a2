//go:build linux

package connguard

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// useAllFiles lowers this process's open-file limit to a little above the
// descriptors open now and opens /dev/null until none is left, then
// closes free of them. The limit and the files are restored when the test
// ends.
func useAllFiles(t *testing.T, free int) {
	t.Helper()
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, n)
		}
	}
	lim := orig
	lim.Cur = uint64(highest + 32)
	var files []*os.File
	t.Cleanup(func() {
		for _, f := range files {
			f.Close()
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Error(err)
		}
	})
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		if len(files) > 1000 {
			t.Fatal("the lowered limit does not hold")
		}
	}
	for range free {
		files[len(files)-1].Close()
		files = files[:len(files)-1]
	}
}

// With no file descriptor left, a new connection is accepted by closing
// the unauthenticated connection idle the longest, and the failed accept
// is logged (issue 15, item 9).
func TestOutOfFilesClosesIdle(t *testing.T) {
	var log syncbuf.Buffer
	addr, g := serve(t, Config{UnauthIdle: time.Minute, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	old := dial(t, "127.0.0.1", addr)
	old.mustGet(t, false)
	waitIdle(t, g, 1)
	newer := dial(t, "127.0.0.1", addr)
	newer.mustGet(t, false)
	waitIdle(t, g, 2)
	// One left: for the client's side of the next connection.
	useAllFiles(t, 1)
	c := dial(t, "127.0.0.1", addr)
	if err := c.get("/", false); err != nil {
		t.Fatalf("the new connection: %v; log: %s", err, log.String())
	}
	waitClosed(t, old)
	newer.mustGet(t, false)
	out := log.String()
	if !strings.Contains(out, "out of file descriptors") || !strings.Contains(out, "closed_unauthenticated=true") {
		t.Fatalf("log: %s", out)
	}
	if !strings.Contains(out, "accepting API connections again") {
		t.Fatalf("no line saying accepting works again; log: %s", out)
	}
}
