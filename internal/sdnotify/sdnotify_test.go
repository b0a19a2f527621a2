package sdnotify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/sdnotify"
)

// listen opens a notify socket as systemd does: a unixgram socket at a
// path (in a short temporary directory: a socket path has at most 107
// bytes) or, for abstract, in the abstract namespace. It returns the
// $NOTIFY_SOCKET value and a channel of the datagrams received.
func listen(t *testing.T, abstract bool) (string, <-chan string) {
	t.Helper()
	var name string
	if abstract {
		name = fmt.Sprintf("@lodestone-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		dir, err := os.MkdirTemp("", "sdn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return name, msgs
}

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// next returns the next datagram, failing the test after a generous
// while (a hang, not a timing assertion).
func next(t *testing.T, msgs <-chan string) string {
	t.Helper()
	select {
	case m := <-msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no notification received")
		return ""
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vars     map[string]string
		nilN     bool
		watchdog time.Duration
		err      string
	}{
		{name: "not under systemd", vars: nil, nilN: true},
		{name: "path", vars: map[string]string{"NOTIFY_SOCKET": "/run/systemd/notify"}},
		{name: "abstract", vars: map[string]string{"NOTIFY_SOCKET": "@/org/freedesktop/systemd1/notify"}},
		{name: "relative path", vars: map[string]string{"NOTIFY_SOCKET": "notify"}, err: "not an absolute path"},
		{name: "vsock", vars: map[string]string{"NOTIFY_SOCKET": "vsock:2:1234"}, err: "not an absolute path"},
		{name: "watchdog", vars: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "30000000"}, watchdog: 30 * time.Second},
		{name: "watchdog for us", vars: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "42"}, watchdog: 2 * time.Second},
		{name: "watchdog for another process", vars: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "43"}},
		{name: "bad watchdog", vars: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "soon"}, err: "WATCHDOG_USEC"},
		{name: "zero watchdog", vars: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "0"}, err: "WATCHDOG_USEC"},
		{name: "bad watchdog pid", vars: map[string]string{"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "x"}, err: "WATCHDOG_PID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := sdnotify.New(env(tc.vars), 42)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (n == nil) != tc.nilN {
				t.Fatalf("notifier = %v, want nil: %v", n, tc.nilN)
			}
			if got := n.Watchdog(); got != tc.watchdog {
				t.Errorf("Watchdog() = %v, want %v", got, tc.watchdog)
			}
		})
	}
}

// TestNilNotifier: without $NOTIFY_SOCKET every call is a no-op, so the
// daemon needs no checks.
func TestNilNotifier(t *testing.T) {
	var n *sdnotify.Notifier
	if err := errors.Join(n.Ready("x"), n.Stopping(), n.Status("x"), n.Send("A=1")); err != nil {
		t.Fatal(err)
	}
	n.Supervise(context.Background(), nil, nil) // returns at once
}

// TestSend: the datagrams a real listener receives, on a path and on an
// abstract socket.
func TestSend(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			sock, msgs := listen(t, abstract)
			n, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": sock}), os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Ready("serving 2 tasks\non 127.0.0.1:6810"); err != nil {
				t.Fatal(err)
			}
			if got, want := next(t, msgs), "READY=1\nSTATUS=serving 2 tasks on 127.0.0.1:6810\n"; got != want {
				t.Errorf("ready: got %q, want %q", got, want)
			}
			if err := n.Stopping(); err != nil {
				t.Fatal(err)
			}
			if got, want := next(t, msgs), "STOPPING=1\nSTATUS=stopping\n"; got != want {
				t.Errorf("stopping: got %q, want %q", got, want)
			}
		})
	}
}

// TestSendNoListener: a socket nobody listens on is an error, not a hang.
func TestSendNoListener(t *testing.T) {
	n, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "gone")}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready(""); err == nil {
		t.Fatal("Ready to a missing socket succeeded")
	}
}

// TestSuperviseWatchdog: WATCHDOG=1 is sent only while the check passes;
// a failing check sends its reason as the status instead.
func TestSuperviseWatchdog(t *testing.T) {
	sock, msgs := listen(t, true)
	n, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "100000"}), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var healthy atomic.Bool
	check := func(ctx context.Context) (string, error) {
		if !healthy.Load() {
			return "", errors.New("store locked")
		}
		return "3 tasks", nil
	}
	var errs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Supervise(ctx, check, func(error) { errs.Add(1) })
	}()
	for range 3 {
		if m := next(t, msgs); m != "STATUS=unhealthy: store locked\n" {
			t.Fatalf("while unhealthy: got %q", m)
		}
	}
	healthy.Store(true)
	for m := next(t, msgs); m != "WATCHDOG=1\nSTATUS=3 tasks\n"; m = next(t, msgs) {
		if strings.Contains(m, "WATCHDOG") {
			t.Fatalf("unexpected ping %q", m)
		}
	}
	cancel()
	<-done
	if errs.Load() < 3 {
		t.Errorf("onError called %d times, want at least 3 (one per failed check)", errs.Load())
	}
}

// TestSuperviseHungCheck: a check that never answers stops the pings, and
// Supervise still returns when its context ends.
func TestSuperviseHungCheck(t *testing.T) {
	sock, msgs := listen(t, false)
	n, err := sdnotify.New(env(map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "100000"}), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	check := func(ctx context.Context) (string, error) {
		return sdnotify.Answer(ctx, func() (string, error) { <-release; return "ok", nil })
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Supervise(ctx, check, nil) }()
	for range 2 {
		m := next(t, msgs)
		if strings.Contains(m, "WATCHDOG=1") || !strings.Contains(m, "no answer in time") {
			t.Fatalf("while hung: got %q", m)
		}
	}
	cancel()
	<-done
}
