package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// served is a `lodestone serve` process started by serveProcess.
type served struct {
	cmd     *exec.Cmd
	url     string // the API URL it printed
	dataDir string
	done    chan error
}

// serveProcess runs the real binary's `lodestone serve` on loopback with
// data dir dataDir, the runtime dir runtime ($XDG_RUNTIME_DIR), the extra
// environment env (LODESTONE_TOKEN is unset unless given there) and the
// extra flags args; it waits until the daemon serves.
func serveProcess(t *testing.T, dataDir, runtime string, env []string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(daemontest.Binary(t), append([]string{"serve",
		"--api-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--download-dir", filepath.Join(filepath.Dir(dataDir), "dl"),
		"--dht=false", "--upnp=false", "--utp=false"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, cli.TokenEnv+"=") && !strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+runtime)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = daemontest.LogWriter(t)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, dataDir: dataDir, done: make(chan error, 1)}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "API:"); ok {
				urlc <- strings.TrimSpace(rest)
			}
		}
	}()
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { s.cmd.Process.Signal(syscall.SIGKILL); <-s.done; s.done <- nil })
	select {
	case s.url = <-urlc:
	case err := <-s.done:
		t.Fatalf("lodestone serve exited: %v", err)
	case <-time.After(90 * time.Second):
		t.Fatal("lodestone serve did not start")
	}
	return s
}

// stop ends the daemon with SIGTERM (a clean exit) and waits for it.
func (s *served) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-s.done; err != nil {
		t.Errorf("lodestone serve after SIGTERM: %v", err)
	}
	s.done <- nil
}

// runEnv runs the CLI in-process with only the environment given (HOME
// set to an empty dir unless given), as a user's shell would.
func runEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	if _, ok := env["HOME"]; !ok {
		env["HOME"] = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb syncbuf.Buffer
	code := cli.Main(ctx, args, cli.Options{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }})
	return result{code, out.String(), errb.String()}
}

// The CLI finds a running daemon and its token however the daemon got
// it, with no LODESTONE_TOKEN and no --api-addr: through the runtime dir,
// or --data-dir; or it says exactly what to set.
func TestLocateDaemon(t *testing.T) {
	t.Parallel()
	const secret = "a-secret-token-0123456789"
	tokenFile := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		// given: the token was given as a value, so the CLI must be told.
		given bool
	}{
		{name: "generated"},
		{name: "token file", args: []string{"--token-file", tokenFile}},
		{name: "token flag", args: []string{"--token", secret}, given: true},
		{name: "token env", env: []string{cli.TokenEnv + "=" + secret}, given: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			data, runtime := filepath.Join(base, "data"), filepath.Join(base, "run")
			s := serveProcess(t, data, runtime, tt.env, tt.args...)

			// The daemon file, in the data dir and the runtime dir.
			b, err := os.ReadFile(filepath.Join(data, api.DaemonFileName))
			if err != nil {
				t.Fatal(err)
			}
			var df api.DaemonFile
			if err := json.Unmarshal(b, &df); err != nil || df.APIURL != s.url || df.PID != s.cmd.Process.Pid {
				t.Errorf("daemon.json %s (%v), want api_url %s pid %d", b, err, s.url, s.cmd.Process.Pid)
			}
			if fi, err := os.Stat(filepath.Join(data, api.DaemonFileName)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("daemon.json mode: %v, %v", fi.Mode(), err)
			}
			if tt.given && (df.TokenFile != "" || strings.Contains(string(b), secret)) {
				t.Errorf("a token given as a value reached the daemon file: %s", b)
			}
			if _, err := os.Stat(filepath.Join(data, "token")); tt.given && err == nil {
				t.Errorf("a token given as a value was written to the data dir")
			}

			viaRuntime := map[string]string{"XDG_RUNTIME_DIR": runtime}
			viaDataDir := map[string]string{}
			for _, via := range []struct {
				name string
				env  map[string]string
				args []string
			}{
				{"runtime dir", viaRuntime, []string{"stats"}},
				{"data dir", viaDataDir, []string{"stats", "--data-dir", data}},
			} {
				r := runEnv(t, via.env, via.args...)
				if tt.given {
					r.fails(t, cli.ExitFailure, "lodestone: the daemon at "+s.url+": this daemon was started with --token/LODESTONE_TOKEN; set LODESTONE_TOKEN to that value or pass --token\n")
					// Following the advice works.
					via.env[cli.TokenEnv] = secret
					r = runEnv(t, via.env, via.args...)
				}
				if r.code != 0 || !strings.Contains(r.stdout, "tasks: 0") {
					t.Errorf("via the %s: exit %d\nstdout: %s\nstderr: %s", via.name, r.code, r.stdout, r.stderr)
				}
			}

			// A clean exit removes the daemon files; the CLI then finds
			// no daemon and says how to point it at one.
			s.stop(t)
			for _, p := range []string{filepath.Join(data, api.DaemonFileName), filepath.Join(runtime, "lodestone", "daemon-*.json")} {
				if m, _ := filepath.Glob(p); len(m) > 0 {
					t.Errorf("after a clean exit %v remain", m)
				}
			}
			r := runEnv(t, map[string]string{"XDG_RUNTIME_DIR": runtime}, "stats")
			if r.code == 0 || strings.Contains(r.stderr, s.url) {
				t.Errorf("after the daemon stopped: exit %d, stderr %s", r.code, r.stderr)
			}
		})
	}
}

// Two running daemons: the CLI does not guess, it lists them; --data-dir
// or --api-addr picks one. A daemon file left by a killed daemon is
// ignored.
func TestLocateSeveralDaemons(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	runtime := filepath.Join(base, "run")
	a := serveProcess(t, filepath.Join(base, "a", "data"), runtime, nil)
	b := serveProcess(t, filepath.Join(base, "b", "data"), runtime, nil)
	env := map[string]string{"XDG_RUNTIME_DIR": runtime}
	runEnv(t, env, "stats").fails(t, cli.ExitUsage, "2 daemons are running: ", a.url, b.url, "choose one with --data-dir or --api-addr")
	runEnv(t, env, "stats", "--data-dir", a.dataDir).ok(t)
	runEnv(t, env, "stats", "--api-addr", strings.TrimSuffix(strings.TrimPrefix(b.url, "ws://"), "/ws")).ok(t)

	// SIGKILL leaves a's files behind; its pid is gone, so b is the one.
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	a.done <- nil
	if _, err := os.Stat(filepath.Join(a.dataDir, api.DaemonFileName)); err != nil {
		t.Fatalf("a killed daemon's file: %v", err)
	}
	r := runEnv(t, env, "stats").ok(t)
	if !strings.Contains(r.stdout, "tasks: 0") {
		t.Errorf("stats: %s", r.stdout)
	}
	runEnv(t, env, "stats", "--data-dir", a.dataDir).fails(t, cli.ExitFailure, "cannot reach the daemon at ws://127.0.0.1:6810/ws")
}
