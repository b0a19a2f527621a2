// Package dantetest runs Debian's dante-server (danted), a real SOCKS5
// proxy, on loopback for tests: user/password authentication, CONNECT and
// UDP ASSOCIATE allowed, every connection logged to a file the test reads.
//
// dante checks passwords against the system's (getpwnam/getspnam). So
// that no test writes the machine's /etc/passwd, danted runs in a mount
// namespace of its own (unshare --mount, which needs root: CI's, or the
// user namespace's of `unshare --map-root-user`) where copies of
// /etc/passwd and /etc/shadow with the test user added are bind-mounted
// over the real ones.
package dantetest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Path is where Debian installs danted.
const Path = "/usr/sbin/danted"

// User and Password are the proxy's credentials. passwordHash is
// Password's SHA-512 crypt (openssl passwd -6 -salt lodestone s3cret).
const (
	User         = "lsproxy"
	Password     = "s3cret"
	passwordHash = "$6$lodestone$KIZ6VdK0wvHiTFtHyo.831C5za1uGwcQpRCLg1F0rfp0lPyMoeRitwkDm0abP2eZSYVJ7.Bvu7EYmjtlUi4XS/"
)

// Server is a running danted.
type Server struct {
	// Addr is where it listens (127.0.0.1:port, or Options.Host's); its
	// outgoing connections leave from that address too.
	Addr string
	// LogPath is its log file.
	LogPath string
	dir     string // config, passwd, shadow and hosts
	netns   string // Options.Netns
	cmd     *exec.Cmd
	done    chan struct{} // closed when cmd has exited
}

// Require fails the test in CI when danted is missing, and skips it
// elsewhere, saying why.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the SOCKS5 tests need dante-server (scripts/test installs it): %v", err)
		}
		t.Skipf("skipping: no danted (apt-get install dante-server): %v", err)
	}
}

// Options tune StartWith.
type Options struct {
	// NoUDP refuses UDP ASSOCIATE (CONNECT only), as proxies that do not
	// relay UDP do.
	NoUDP bool
	// Netns, if set, is the network namespace danted runs in (a path, as
	// nsenter --net takes it); Host the address it listens on and
	// connects from (127.0.0.1 when ""), and Clients the network its
	// clients may come from (127.0.0.0/8 when "").
	Netns, Host, Clients string
	// Hosts, if set, are lines added to /etc/hosts as danted alone sees
	// it (a copy bind-mounted in its mount namespace): names that only
	// the proxy can resolve.
	Hosts string
}

// Start runs danted on a free port of 127.0.0.1 until the test ends (or
// Stop), and returns once it accepts connections. In another network
// namespace (Options.Netns) the port is 1080.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	host, clients := opts.Host, opts.Clients
	if host == "" {
		host = "127.0.0.1"
	}
	if clients == "" {
		clients = "127.0.0.0/8"
	}
	port := "1080"
	if opts.Netns == "" {
		port = freePort(t)
	}
	s := &Server{Addr: net.JoinHostPort(host, port), LogPath: filepath.Join(dir, "danted.log"), netns: opts.Netns}
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	shadow, err := os.ReadFile("/etc/shadow")
	if err != nil {
		t.Fatal(err)
	}
	passwd = append(passwd, User+":x:65534:65534::/nonexistent:/usr/sbin/nologin\n"...)
	shadow = append(shadow, User+":"+passwordHash+":19000:0:99999:7:::\n"...)
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	hosts = append(hosts, "\n"+opts.Hosts+"\n"...)
	commands := "connect udpassociate udpreply"
	if opts.NoUDP {
		commands = "connect"
	}
	conf := fmt.Sprintf(`logoutput: %s
internal: %s port = %s
external: %s
socksmethod: username
clientmethod: none
user.privileged: root
user.unprivileged: root
client pass {
  from: %s to: 0.0.0.0/0
  log: connect disconnect error
}
socks pass {
  from: %s to: 0.0.0.0/0
  command: %s
  log: connect disconnect error iooperation
}
`, s.LogPath, host, port, host, clients, clients, commands)
	for name, data := range map[string][]byte{"passwd": passwd, "shadow": shadow, "hosts": hosts, "danted.conf": []byte(conf)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The passwd and hosts copies must be readable by everyone, as the
	// real ones are.
	for _, name := range []string{"passwd", "hosts"} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.dir = dir
	s.run(t)
	return s
}

// Restart starts the stopped danted again, on the same address.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	select {
	case <-s.done:
	default:
		t.Fatal("dantetest: Restart of a running danted")
	}
	s.run(t)
}

// run starts danted from the files in s.dir and waits until it accepts
// connections.
func (s *Server) run(t testing.TB) {
	t.Helper()
	s.done = make(chan struct{})
	script := `mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/shadow" /etc/shadow && mount --bind "$1/hosts" /etc/hosts && exec ` + Path + ` -f "$1/danted.conf" -N 1`
	args := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", s.dir}
	if s.netns != "" {
		args = append([]string{"nsenter", "--net=" + s.netns}, args...)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	// Its own process group: Stop ends danted's children too.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start danted: %v", err)
	}
	cmd, done := s.cmd, s.done
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(s.Stop)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("danted exited: %v; log:\n%s", cmd.ProcessState, s.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// URL is the proxy's URL with credentials (socks5://user:pass@host:port).
func (s *Server) URL() string {
	return "socks5://" + url.UserPassword(User, Password).String() + "@" + s.Addr
}

// Stop ends danted and waits for it. It is idempotent.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	// danted's children can outlive the process waited for, still
	// holding the listening socket (CI: a dial after Stop connected and
	// was reset). None may be left: a stopped proxy refuses connections.
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	if s.netns != "" {
		return // its address is not reachable from here to check
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
	}
}

// Log returns danted's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.LogPath)
	return string(b)
}

// Connects returns the destinations (host.port, dante's notation) of the
// TCP connections the proxy made for its clients, in order.
func (s *Server) Connects() []string {
	return s.lines("tcp/connect [: ")
}

// UDPAssociates returns the log lines of the UDP associations set up.
func (s *Server) UDPAssociates() []string {
	return s.lines("udp/udpassociate [: ")
}

// lines returns the last field of each log line containing marker.
func (s *Server) lines(marker string) []string {
	var out []string
	for _, l := range strings.Split(s.Log(), "\n") {
		if !strings.Contains(l, marker) {
			continue
		}
		f := strings.Fields(l)
		out = append(out, f[len(f)-1])
	}
	return out
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
