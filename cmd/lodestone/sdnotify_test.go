package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
)

// notifySocket opens an abstract unixgram socket as systemd's notify
// socket is, and returns its $NOTIFY_SOCKET value and the datagrams it
// receives.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	name := fmt.Sprintf("@lodestone-notify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan string, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			select {
			case msgs <- string(buf[:n]):
			default: // the test stopped reading: a ping it does not need
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return name, msgs
}

// serveUnderNotify starts `lodestone serve` (this test binary running
// main) as systemd would start a Type=notify unit with WatchdogSec=:
// $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID set.
func serveUnderNotify(t *testing.T, sock, dataDir, downloadDir string, stdout io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--api-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--download-dir", downloadDir, "--dht=false", "--upnp=false")
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "NOTIFY_SOCKET" && !strings.HasPrefix(k, "WATCHDOG_") && k != "LODESTONE_TOKEN" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// A 400 ms watchdog: pings every 200 ms. WATCHDOG_PID is the child's
	// own pid in systemd; a value is only known once it runs, so it is
	// left unset here, as systemd's documentation allows.
	cmd.Env = append(cmd.Env, runMainEnv+"=1", "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	cmd.Stdout = stdout
	cmd.Stderr = os.Stderr // the test's log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// await returns the first datagram holding field, failing the test when
// the daemon exits or a generous while passes (a hang, not a timing
// assertion).
func await(t *testing.T, msgs <-chan string, field string) string {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, field+"\n") {
				return m
			}
		case <-timeout:
			t.Fatalf("no %s from the daemon", field)
		}
	}
}

// apiURL returns the API URL in READY=1's status line.
func apiURL(t *testing.T, ready string) string {
	t.Helper()
	_, url, ok := strings.Cut(ready, "serving the API on ")
	if !ok {
		t.Fatalf("READY=1 without the API URL in its status: %q", ready)
	}
	return strings.TrimSpace(url)
}

// TestServeNotifiesSystemd runs `lodestone serve` as a Type=notify unit
// with a watchdog, twice on one data dir. READY=1 comes once the API
// answers and the tasks are loaded: the second start's first API call,
// made once, lists the task the first one added. Watchdog pings carry the
// status line (its task count read from the service), and SIGTERM sends
// STOPPING=1 before a clean exit. The token stays out of stdout, which is
// the journal under systemd.
func TestServeNotifiesSystemd(t *testing.T) {
	sock, msgs := notifySocket(t)
	dataDir, downloadDir := t.TempDir(), t.TempDir()
	const magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=notify"
	var added string
	for run := 1; run <= 2; run++ {
		var stdout bytes.Buffer
		cmd := serveUnderNotify(t, sock, dataDir, downloadDir, &stdout)
		ready := await(t, msgs, "READY=1")
		tok, err := os.ReadFile(filepath.Join(dataDir, "token"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := client.Dial(ctx, apiURL(t, ready), strings.TrimSpace(string(tok)))
		if err != nil {
			t.Fatalf("run %d: the API does not answer after READY=1: %v", run, err)
		}
		tasks, err := c.ListTasks(ctx)
		if err != nil {
			t.Fatalf("run %d: task.list after READY=1: %v", run, err)
		}
		if run == 1 {
			if len(tasks) != 0 {
				t.Fatalf("run 1: %d tasks in a new data dir", len(tasks))
			}
			res, err := c.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeMagnet, Data: magnet, Paused: true})
			if err != nil {
				t.Fatal(err)
			}
			added = res.TaskID
		} else if len(tasks) != 1 || tasks[0].TaskID != added {
			t.Fatalf("run 2: READY=1 came before the tasks were loaded: task.list = %+v, want task %s", tasks, added)
		}
		c.Close()
		cancel()
		// The pings report the service's count: 1 task, in both runs.
		if ping := await(t, msgs, "STATUS=1 tasks (0 downloading, 0 seeding), 0 peers, down 0 B/s, up 0 B/s"); !strings.HasPrefix(ping, "WATCHDOG=1\n") {
			t.Fatalf("run %d: status line without a watchdog ping: %q", run, ping)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		await(t, msgs, "STOPPING=1")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("run %d: serve after SIGTERM: %v", run, err)
		}
		// Read after Wait, once the copy of the child's stdout ended.
		if strings.Contains(stdout.String(), strings.TrimSpace(string(tok))) {
			t.Fatalf("run %d: the token is on stdout, which systemd sends to the journal:\n%s", run, stdout.String())
		}
	}
}
