package daemon_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/sdnotify"
)

// TestNotifySystemd: a daemon given systemd's notifier (an abstract
// unixgram socket the test listens on, a 200 ms watchdog) sends READY=1
// with the API's address once it serves, watchdog pings whose status line
// counts the service's tasks, and STOPPING=1 when it is stopped; the
// watchdog's goroutine ends with it (goleak, TestMain).
func TestNotifySystemd(t *testing.T) {
	name := fmt.Sprintf("@lodestone-daemon-notify-%d-%d", os.Getpid(), time.Now().UnixNano())
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 4096)
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := sock.Read(buf)
			if err != nil {
				return
			}
			select {
			case msgs <- string(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() { sock.Close(); <-read })
	env := map[string]string{"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "200000"}
	n, err := sdnotify.New(func(k string) string { return env[k] }, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	await := func(field string) string {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case m := <-msgs:
				if strings.Contains(m, field) {
					return m
				}
			case <-timeout:
				t.Fatalf("no %q from the daemon", field)
			}
		}
	}

	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) { c.Notifier = n }})
	if ready, want := await("READY=1"), "READY=1\nSTATUS=serving the API on ws://"+d.APIAddr()+"/ws\n"; ready != want {
		t.Fatalf("ready: got %q, want %q", ready, want)
	}
	c := d.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Paused: true,
		Data: "magnet:?xt=urn:btih:89abcdef0123456789abcdef0123456789abcdef&dn=notify"}); err != nil {
		t.Fatal(err)
	}
	if ping := await("STATUS=1 tasks ("); !strings.HasPrefix(ping, "WATCHDOG=1\n") {
		t.Fatalf("status line without a watchdog ping: %q", ping)
	}
	d.Stop(t)
	if got := await("STOPPING=1"); got != "STOPPING=1\nSTATUS=stopping\n" {
		t.Fatalf("stopping: got %q", got)
	}
}
