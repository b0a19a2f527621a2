package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/client"
)

// unitsDir holds the systemd units that run this binary.
const unitsDir = "../../contrib/systemd"

// maxExposure is the system unit's `systemd-analyze security` score as
// docs/OPERATIONS.md reports it: a change that loosens the sandbox fails
// here until the docs say why.
const maxExposure = 1.3

// needSystemdAnalyze returns systemd-analyze's path; without it the test
// fails in CI (scripts/test installs Debian's systemd) and skips elsewhere.
func needSystemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found (scripts/test installs Debian's systemd package)")
		}
		t.Skip("systemd-analyze not found: apt-get install systemd")
	}
	return path
}

// unitCopy writes unit (a file of contrib/systemd) into a new directory as
// lodestone.service, its ExecStart binary replaced by exe: verify checks
// that the binary exists and is executable, and the installed path
// (/usr/local/bin/lodestone) does not here. It returns the copy's path.
func unitCopy(t *testing.T, unit, from, exe string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(unitsDir, unit))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "ExecStart="+from+" serve") {
		t.Fatalf("%s: no ExecStart=%s serve", unit, from)
	}
	p := filepath.Join(t.TempDir(), "lodestone.service")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), from, exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// analyze runs systemd-analyze with args and returns its combined output.
// systemd-analyze verify exits 0 on unknown keys and bad values, only
// printing them: the caller treats any output as a failure.
func analyze(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(needSystemdAnalyze(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSystemdUnitsVerify runs `systemd-analyze verify` on both units: every
// key known, every value parsed, the binary found. It works without
// systemd as PID 1.
func TestSystemdUnitsVerify(t *testing.T) {
	needSystemdAnalyze(t)
	exe, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Run("system", func(t *testing.T) {
		unit := unitCopy(t, "lodestone.service", "/usr/local/bin/lodestone", exe)
		if out, err := analyze(t, nil, "verify", unit); err != nil || out != "" {
			t.Fatalf("systemd-analyze verify lodestone.service: %v\n%s", err, out)
		}
	})
	t.Run("user", func(t *testing.T) {
		// %h is $HOME: the binary goes where the unit looks for it.
		home := t.TempDir()
		bin := filepath.Join(home, ".local", "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(exe, filepath.Join(bin, "lodestone")); err != nil {
			t.Fatal(err)
		}
		unit := unitCopy(t, "lodestone-user.service", "%h/.local/bin/lodestone", "%h/.local/bin/lodestone")
		// --user needs a runtime directory, as a login session has.
		runtime := t.TempDir()
		env := []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + runtime}
		if out, err := analyze(t, env, "--user", "verify", unit); err != nil || out != "" {
			t.Fatalf("systemd-analyze --user verify lodestone-user.service: %v\n%s", err, out)
		}
	})
}

// TestSystemdUnitsVerifyCatches: the check above is not blind. A misspelt
// key, which verify only warns about, fails it.
func TestSystemdUnitsVerifyCatches(t *testing.T) {
	needSystemdAnalyze(t)
	exe, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	unit := unitCopy(t, "lodestone.service", "/usr/local/bin/lodestone", exe)
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unit, []byte(strings.Replace(string(b), "ProtectClock=", "ProtectClok=", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := analyze(t, nil, "verify", unit)
	if err == nil && !strings.Contains(out, "ProtectClok") {
		t.Fatalf("systemd-analyze verify passed a misspelt key silently: %v\n%s", err, out)
	}
}

// TestSystemdUnitExposure runs `systemd-analyze security --offline=yes`
// on the system unit and holds its exposure score at most maxExposure.
func TestSystemdUnitExposure(t *testing.T) {
	needSystemdAnalyze(t)
	exe, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	unit := unitCopy(t, "lodestone.service", "/usr/local/bin/lodestone", exe)
	out, err := analyze(t, nil, "security", "--offline=yes", "--no-pager", unit)
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for lodestone\.service: ([0-9.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exposure %.1f", score)
	if score > maxExposure {
		t.Fatalf("exposure %.1f, above %.1f: docs/OPERATIONS.md must say why\n%s", score, maxExposure, out)
	}
}

// TestSystemdSysusers creates the system unit's user from
// lodestone.sysusers with systemd-sysusers, in an empty root: a system
// user (uid below 1000) and group, no login shell, its home the state dir.
func TestSystemdSysusers(t *testing.T) {
	needSystemdAnalyze(t) // the same package carries systemd-sysusers
	sysusers, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := filepath.Abs(filepath.Join(unitsDir, "lodestone.sysusers"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sysusers, "--root="+root, conf).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(strings.TrimSpace(string(passwd)), ":")
	if len(f) != 7 || f[0] != "lodestone" || f[5] != "/var/lib/lodestone" || !strings.HasSuffix(f[6], "/nologin") {
		t.Fatalf("passwd: %q, want user lodestone, home /var/lib/lodestone, shell nologin", passwd)
	}
	if uid, err := strconv.Atoi(f[2]); err != nil || uid <= 0 || uid >= 1000 {
		t.Fatalf("uid %q: not a system user's", f[2])
	}
	group, err := os.ReadFile(filepath.Join(root, "etc", "group"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(group), "lodestone:x:"+f[3]+":") {
		t.Fatalf("group: %q, want group lodestone with gid %s", group, f[3])
	}
}

// TestSystemUnitLayout starts `lodestone serve` as the system unit does:
// its ExecStart= arguments and its Environment=, with /var/lib and
// /etc/lodestone moved into a temporary directory, the StateDirectory=
// directories made, and the config file `lodestone config init` writes.
// The daemon must reach READY=1, keep its token in the data dir the docs
// name (a download dir inside the data dir, say, is refused at start),
// and live through the SIGHUP of ExecReload= to a clean exit at SIGTERM.
func TestSystemUnitLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(unitsDir, "lodestone.service"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	varLib, etc := filepath.Join(root, "var", "lib"), filepath.Join(root, "etc", "lodestone")
	var args, env []string
	for _, line := range strings.Split(string(b), "\n") {
		key, value, _ := strings.Cut(line, "=")
		switch key {
		case "ExecStart":
			f := strings.Fields(value)
			if len(f) < 2 || f[1] != "serve" {
				t.Fatalf("ExecStart=%s: want lodestone serve", value)
			}
			for _, a := range f[1:] {
				args = append(args, strings.ReplaceAll(a, "/etc/lodestone", etc))
			}
		case "Environment":
			for _, kv := range strings.Fields(value) {
				env = append(env, strings.ReplaceAll(kv, "/var/lib", varLib))
			}
		case "StateDirectory":
			for _, dir := range strings.Fields(value) {
				if err := os.MkdirAll(filepath.Join(varLib, dir), 0o750); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if args == nil || env == nil {
		t.Fatal("no ExecStart= or Environment= in lodestone.service")
	}
	// The config file as the docs make it: `lodestone config init`.
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	initCmd := exec.Command(os.Args[0], "config", "init", filepath.Join(etc, "config.toml"))
	initCmd.Env = append(os.Environ(), runMainEnv+"=1")
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("lodestone config init: %v\n%s", err, out)
	}
	sock, msgs := notifySocket(t)
	// Loopback only, on ports of the test's choosing.
	args = append(args, "--api-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0", "--dht=false", "--upnp=false")
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "XDG_") && k != "NOTIFY_SOCKET" && !strings.HasPrefix(k, "WATCHDOG_") && k != "LODESTONE_TOKEN" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Env = append(cmd.Env, runMainEnv+"=1", "NOTIFY_SOCKET="+sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	var ready string
	select {
	case ready = <-msgs:
		if !strings.HasPrefix(ready, "READY=1\n") {
			t.Fatalf("first notification %q, want READY=1", ready)
		}
	case err := <-exited:
		exited <- err
		t.Fatalf("serve with the unit's settings exited before READY=1: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no READY=1")
	}
	tok, err := os.ReadFile(filepath.Join(varLib, "lodestone", "token"))
	if err != nil {
		t.Fatalf("the token is not in /var/lib/lodestone: %v", err)
	}
	// ExecReload=: SIGHUP reloads; the daemon answers after it, and its
	// exit below is clean, not SIGHUP's.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, apiURL(t, ready), strings.TrimSpace(string(tok)))
	if err != nil {
		t.Fatalf("the API after SIGHUP: %v", err)
	}
	if _, err := c.ServerInfo(ctx); err != nil {
		t.Fatalf("server.info after SIGHUP: %v", err)
	}
	c.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	exited <- nil // for the cleanup
}
