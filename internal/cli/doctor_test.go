package cli_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// doctorFindings runs `lodestone doctor --json` with args and returns the
// exit code and the findings by check name (a check may appear more than
// once: the last wins).
func doctorFindings(t *testing.T, args ...string) (int, map[string]api.DoctorFinding, result) {
	t.Helper()
	r := run(t, append([]string{"doctor", "--json"}, args...)...)
	var out struct {
		Findings []api.DoctorFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("doctor --json: %v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	by := map[string]api.DoctorFinding{}
	for _, f := range out.Findings {
		by[f.Check] = f
	}
	return r.code, by, r
}

// want fails unless the finding of check has level and its message and
// fix contain the parts given (fix parts after "fix:").
func want(t *testing.T, fs map[string]api.DoctorFinding, check, level string, parts ...string) {
	t.Helper()
	f, ok := fs[check]
	if !ok {
		t.Errorf("no %s finding in %v", check, fs)
		return
	}
	if f.Level != level {
		t.Errorf("%s: level %s, want %s: %+v", check, f.Level, level, f)
	}
	for _, p := range parts {
		if fix, ok := strings.CutPrefix(p, "fix:"); ok {
			if !strings.Contains(f.Fix, fix) {
				t.Errorf("%s: fix %q lacks %q", check, f.Fix, fix)
			}
		} else if !strings.Contains(f.Message, p) {
			t.Errorf("%s: message %q lacks %q", check, f.Message, p)
		}
	}
}

// A daemon set up as it should be: every check passes or only warns
// (root, a nearly full disk on a build machine), and doctor exits 0.
func TestDoctorHealthy(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) { c.Token = "" }})
	code, fs, r := doctorFindings(t, "--api-addr", d.APIAddr(), "--data-dir", d.Dirs.Data)
	if code != cli.ExitOK {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, r.stdout, r.stderr)
	}
	for _, f := range fs {
		if f.Level == api.DoctorError {
			t.Errorf("error finding on a healthy daemon: %+v", f)
		}
	}
	want(t, fs, "daemon", api.DoctorOK, "answers")
	want(t, fs, "config", api.DoctorOK, "API on "+d.APIAddr())
	want(t, fs, "data_dir", api.DoctorOK, "is writable")
	want(t, fs, "token_file", api.DoctorOK, "mode 0600")
	_, port, _ := net.SplitHostPort(d.PeerAddrs()[0].String())
	want(t, fs, "peer_port", api.DoctorOK, "listens for peers on 127.0.0.1:"+port)
	want(t, fs, "dht", api.DoctorOK, "off")
	want(t, fs, "upnp", api.DoctorOK, "off")
	want(t, fs, "clock", api.DoctorOK)
	want(t, fs, "clock_skew", api.DoctorOK)
	want(t, fs, "proxy", api.DoctorOK, "no proxy")

	// A wrong token: the daemon is there but refuses it, an error that
	// says where to get the right one; the local checks follow.
	code, fs, r = doctorFindings(t, "--api-addr", d.APIAddr(), "--data-dir", d.Dirs.Data, "--token", "wrong-token-0123456789abcdef")
	if code != cli.ExitFailure {
		t.Fatalf("exit %d with a wrong token, want %d\n%s", code, cli.ExitFailure, r.stdout)
	}
	want(t, fs, "daemon", api.DoctorError, "refused the token from --token", "fix:--data-dir")
	want(t, fs, "token_file", api.DoctorOK, "mode 0600")

	// The text form: one line per finding, the fix under it.
	text := run(t, "doctor", "--api-addr", d.APIAddr(), "--data-dir", d.Dirs.Data).ok(t)
	if !strings.Contains(text.stdout, "ok     token_file    token file ") {
		t.Errorf("text output:\n%s", text.stdout)
	}
}

// A broken setup under a running daemon: its token file readable by
// everyone and its download dir unwritable. Each is an error naming the
// fix, and doctor exits 1.
func TestDoctorBroken(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) { c.Token = "" }})
	token := filepath.Join(d.Dirs.Data, daemon.TokenFile)
	if err := os.Chmod(token, 0o644); err != nil {
		t.Fatal(err)
	}
	// Root writes through any mode, so there the download dir is
	// replaced by a file; otherwise its write bit is taken away.
	wantDir := []string{"not writable", "fix:--download-dir"}
	if os.Geteuid() == 0 {
		if err := os.RemoveAll(d.Dirs.Download); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.Dirs.Download, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(d.Dirs.Download) })
		wantDir = []string{"is not a directory", "fix:--download-dir", "fix:remove or rename the file " + d.Dirs.Download}
	} else {
		if err := os.Chmod(d.Dirs.Download, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(d.Dirs.Download, 0o755) })
		wantDir = append(wantDir, "fix:chmod u+w "+d.Dirs.Download)
	}
	code, fs, r := doctorFindings(t, "--api-addr", d.APIAddr(), "--data-dir", d.Dirs.Data)
	if code != cli.ExitFailure {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, cli.ExitFailure, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "doctor: 2 errors") {
		t.Errorf("stderr: %q", r.stderr)
	}
	want(t, fs, "daemon", api.DoctorOK, "answers")
	want(t, fs, "token_file", api.DoctorError, "mode 0644", "fix:chmod 600 "+token)
	want(t, fs, "download_dir", api.DoctorError, wantDir...)
	want(t, fs, "data_dir", api.DoctorOK)
}

// With no daemon running, doctor checks the setup a daemon would start
// with: a peer port another process listens on is an error that says so.
// The same setup with the port free passes.
func TestDoctorNoDaemonPortInUse(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	// An API address where nothing listens.
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := free.Addr().String()
	free.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	busy := other.Addr().String()
	args := []string{"--api-addr", apiAddr, "--data-dir", dirs.Data, "--download-dir", dirs.Download}
	code, fs, r := doctorFindings(t, append(args, "--peer-addr", busy)...)
	if code != cli.ExitFailure {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, cli.ExitFailure, r.stdout, r.stderr)
	}
	want(t, fs, "daemon", api.DoctorWarn, "no daemon answers", "fix:lodestone serve")
	want(t, fs, "peer_port", api.DoctorError, "peer port "+busy+" is in use by another process", "fix:--peer-addr")
	want(t, fs, "config", api.DoctorOK)
	want(t, fs, "download_dir", api.DoctorOK, "will be created")

	other.Close()
	code, fs, r = doctorFindings(t, append(args, "--peer-addr", busy)...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d with the port free, want 0\n%s\n%s", code, r.stdout, r.stderr)
	}
	want(t, fs, "peer_port", api.DoctorOK, "is free")
}

// A daemon whose SOCKS5 proxy does not answer and whose blocklist URL
// could not be fetched: the proxy is an error naming the setting, the
// blocklist a warning with the failure.
func TestDoctorProxyAndBlocklist(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) {
		c.Proxy = "socks5://user:hunter2@" + dead
		c.Blocklists = []string{"http://" + dead + "/list.txt"}
	}})
	code, fs, r := doctorFindings(t, "--api-addr", d.APIAddr(), "--token", daemontest.Token)
	if code != cli.ExitFailure {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, cli.ExitFailure, r.stdout, r.stderr)
	}
	want(t, fs, "proxy", api.DoctorError, "socks5://user:***@"+dead, "does not answer", "fix:--proxy")
	if strings.Contains(r.stdout, "hunter2") {
		t.Errorf("the proxy's password is shown:\n%s", r.stdout)
	}
	want(t, fs, "blocklist", api.DoctorWarn, "the last load failed", dead+"/list.txt")
	want(t, fs, "config", api.DoctorOK)
	want(t, fs, "peer_port", api.DoctorOK, "--proxy-only")
	want(t, fs, "token_file", api.DoctorOK, "given by")
}
