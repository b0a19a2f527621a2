package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"context"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// serveConfig is a test daemon's configuration file: loopback, DHT,
// UPnP and uTP off, then extra.
func serveConfig(dirs daemontest.Dirs, extra string) string {
	s := fmt.Sprintf(`api_addr = "127.0.0.1:0"
peer_addr = "127.0.0.1:0"
data_dir = %q
download_dir = %q
dht = false
upnp = false
utp = false
token = %q
`, dirs.Data, dirs.Download, daemontest.Token)
	if core := daemontest.Core(); core != "" {
		s += fmt.Sprintf("engine = %q\n", core)
	}
	return s + extra
}

// waitFor polls cond until it holds or a minute has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// A real `lodestone serve` reloads its file on SIGHUP (issue 19): a rate
// limit changes without a restart (session.get shows it on the same
// connection) and the log names it; a change that needs a restart is
// named; a broken file changes nothing. Its stderr is given as the
// journal ($JOURNAL_STREAM), so its lines carry a priority and no time
// stamp of their own.
func TestReloadOnSIGHUP(t *testing.T) {
	bin := daemontest.Binary(t)
	dirs := daemontest.NewDirs(t)
	tmp := t.TempDir()
	path := filepath.Join(tmp, "config.toml")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(serveConfig(dirs, "\n[session]\ndownload_rate_limit = 1000\nupload_rate_limit = 555\n"))
	logPath := filepath.Join(tmp, "stderr.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(logFile.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("JOURNAL_STREAM=%d:%d", st.Dev, st.Ino),
		"LODESTONE_SESSION_UPLOAD_RATE_LIMIT=777") // beats the file's
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		done <- nil
	})
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "API:"); ok {
				urlc <- strings.TrimSpace(rest)
			}
		}
	}()
	var url string
	select {
	case url = <-urlc:
	case err := <-done:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("lodestone exited: %v\n%s", err, b)
	case <-time.After(time.Minute):
		t.Fatal("lodestone did not start within a minute")
	}
	c := daemontest.Dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	set, err := c.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if set.DownloadRateLimit != 1000 || set.UploadRateLimit != 777 {
		t.Fatalf("at start: download %d (file: 1000), upload %d (env: 777)", set.DownloadRateLimit, set.UploadRateLimit)
	}
	logText := func() string {
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// A broken file: nothing changes, and the log says where.
	write(serveConfig(dirs, "\n[session]\ndownload_rate_limit = 3000\nmax_active_seed = 2\n"))
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the refused reload in the log", func() bool { return strings.Contains(logText(), "configuration not reloaded") })
	if l := logText(); !strings.Contains(l, path+`:`) || !strings.Contains(l, `unknown key \"session.max_active_seed\"`) {
		t.Errorf("the refused reload's log does not name the file, line and key:\n%s", l)
	}
	if set, err := c.Settings(ctx); err != nil || set.DownloadRateLimit != 1000 {
		t.Fatalf("after a broken file: %d, %v", set.DownloadRateLimit, err)
	}

	write(serveConfig(dirs, "\n[session]\ndownload_rate_limit = 2000\nupload_rate_limit = 666\n\n[log_levels]\napi = \"debug\"\n") + "")
	// upnp changes too: a restart is needed for it.
	b, _ := os.ReadFile(path)
	write(strings.Replace(string(b), "upnp = false", "upnp = true", 1))
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "session.get to show the new rate", func() bool {
		set, err := c.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return set.DownloadRateLimit == 2000
	})
	waitFor(t, "the reload in the log", func() bool { return strings.Contains(logText(), "configuration reloaded") })
	l := logText()
	for _, want := range []string{
		`msg="setting changed by the configuration" key=session.download_rate_limit old=1000 new=2000`,
		`msg="configuration change needs a restart" key=upnp old=false new=true`,
		`msg="configuration changed" key=log_levels`,
		`needs_restart=[upnp]`,
	} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(l, `msg="setting changed by the configuration" key=session.upload_rate_limit`) {
		t.Error("upload_rate_limit, given by the environment, was changed by the file")
	}
	if set, err := c.Settings(ctx); err != nil || set.UploadRateLimit != 777 {
		t.Errorf("upload rate after reload: %d, %v", set.UploadRateLimit, err)
	}
	// The journal's format, on every line.
	for _, line := range strings.Split(strings.TrimSpace(l), "\n") {
		if !strings.HasPrefix(line, "<") || strings.Contains(line, "time=") {
			t.Errorf("not a journal line: %q", line)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", l)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		t.Error("no exit within a minute of SIGTERM")
	}
}

// A bad file fails the start, naming the file, the line and the key.
func TestServeRefusesBadFile(t *testing.T) {
	bin := daemontest.Binary(t)
	dirs := daemontest.NewDirs(t)
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(serveConfig(dirs, "write_buffer_mib = \"lots\"\n[session]\nseed_ratio_limit = -1\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "serve", "--config", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("serve with a bad file: %v\n%s", err, out)
	}
	n := strings.Count(serveConfig(dirs, ""), "\n")
	for _, want := range []string{
		fmt.Sprintf("%s:%d: key write_buffer_mib: want an integer, not a string", path, n+1),
		fmt.Sprintf("%s:%d: key session.seed_ratio_limit: -1 is negative", path, n+3),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve's error lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dirs.Data); err == nil {
		t.Error("the data dir was made: the daemon started")
	}
	if _, err := exec.Command(bin, "serve", "--config", path+".missing").CombinedOutput(); err == nil {
		t.Error("serve with a missing --config file started")
	}
}
