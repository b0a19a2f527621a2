//go:build linux

package daemon_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The kill switch of --bind-interface (issue 18), with real kernel
// interfaces. The test runs in a network namespace of its own (it runs
// itself again under `unshare --net`), so that every packet counted is
// its own. There the daemon has two veth pairs to a second namespace,
// where a libtorrent seeder listens on 198.18.0.2:
//
//	bt0  198.18.0.1/24  <->  bt0p  198.18.0.2/24   (the bound interface)
//	alt0 198.19.0.1/24  <->  alt0p 198.19.0.2/24   (another way there)
//
// and a route to 198.18.0.0/24 through alt0 with a worse metric: when bt0
// is down, the routing table sends 198.18.0.2's packets through alt0, so
// only the binding to the device keeps them in. IPv6 is off in the
// namespace, so that alt0 sends nothing of its own (router solicitations).

// bindInnerEnv marks the run inside the test's own namespace.
const bindInnerEnv = "LODESTONE_BIND_TEST_INNER"

// needBindTools skips the test (fails it in CI) without root or a tool.
func needBindTools(t *testing.T) {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("bind-interface test cannot run: %s (scripts/test installs iproute2, nftables, util-linux and python3-libtorrent, and runs as root)", why)
		}
		t.Skipf("bind-interface test skipped: %s (run it as root in a namespace: unshare --net --map-root-user)", why)
	}
	if os.Geteuid() != 0 {
		missing("not root")
	}
	for _, tool := range []string{"ip", "nft", "unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool + " not found")
		}
	}
	if err := exec.Command(enginetest.LibtorrentPython, "-c", "import libtorrent").Run(); err != nil {
		missing("python3-libtorrent not installed")
	}
}

func TestBindInterfaceKillSwitch(t *testing.T) {
	needBindTools(t)
	if runInOwnNetns(t, "TestBindInterfaceKillSwitch") {
		return
	}
	peerNS := bindNets(t)

	// 8 MiB at 1 MiB/s: the interface goes down in the middle.
	tr := enginetest.Generate(t, enginetest.Content{Name: "bind.bin", Size: 8 << 20, PieceLength: 64 << 10, Seed: 18})
	seeder := startBindSeeder(t, peerNS, enginetest.WriteTorrentFile(t, tr), tr.Root, 1<<20)

	d := daemontest.Start(t, daemontest.Options{Configure: func(c *daemon.Config) {
		c.BindInterface = "bt0"
		// Debug: the peer connections' ends are logged.
		c.Logger = slog.New(slog.NewTextHandler(daemontest.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{"198.18.0.2:" + seeder.port}))
	waitTask(t, c, res.TaskID, "a quarter downloaded", 90*time.Second, func(tk api.Task) bool { return tk.Size > 0 && tk.Completed >= tk.Size/4 })

	netRun(t, "ip", "link", "set", "bt0", "down")
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, func(raw json.RawMessage) bool {
		var a api.EngineAlertData
		return json.Unmarshal(raw, &a) == nil && a.Level == api.LevelError && strings.Contains(a.Message, "network down") && strings.Contains(a.Message, "bt0")
	})
	down := waitTask(t, c, res.TaskID, "network down shown", 30*time.Second, func(tk api.Task) bool { return tk.Network == api.NetworkDown })
	if down.Completed >= down.Size {
		t.Fatalf("the download finished before the interface went down: %+v", down)
	}
	// The other way is there: a socket not bound to bt0 would take it.
	if out := netRun(t, "ip", "route", "get", "198.18.0.2"); !strings.Contains(out, "dev alt0") {
		t.Fatalf("no route through alt0 while bt0 is down, the test proves nothing: %s", out)
	}
	// The engine has a peer it would dial, and its connection dies: a
	// few seconds of that (past the seeder's peer_timeout, so that it has
	// closed its end too), then the interface comes back on another
	// address.
	time.Sleep(6 * time.Second)
	assertNoLeak(t, "while bt0 was down")
	netRun(t, "ip", "addr", "flush", "dev", "bt0")
	netRun(t, "ip", "addr", "add", "198.18.0.3/24", "dev", "bt0")
	netRun(t, "ip", "link", "set", "bt0", "up")

	waitEvent(t, c, api.EventTaskFinished, 120*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
	if tk := stateOf(t, c, res.TaskID); tk.Network != "" {
		t.Errorf("task still shows network %q after the interface came back", tk.Network)
	}
	assertNoLeak(t, "over the whole download")
	ips := seeder.peers()
	if !slices.Contains(ips, "198.18.0.1") || !slices.Contains(ips, "198.18.0.3") {
		t.Errorf("seeder saw peers %v: want 198.18.0.1, then 198.18.0.3", ips)
	}
	for _, ip := range ips {
		if ip != "198.18.0.1" && ip != "198.18.0.3" {
			t.Errorf("seeder saw a connection from %s: only bt0's addresses may connect", ip)
		}
	}
	if !t.Failed() {
		t.Logf("seeder saw %v; alt0 sent 0 packets; nftables counted 0 packets of 198.18.0.0/15 by another interface", ips)
	}
}

// runInOwnNetns runs the test named name again under `unshare --net`
// (and more, further unshare flags), in a network namespace of its own,
// and reports true when this is the outer run (which has then checked
// the inner one passed): the caller returns. In the inner run it reports
// false.
func runInOwnNetns(t *testing.T, name string, more ...string) bool {
	t.Helper()
	if os.Getenv(bindInnerEnv) != "" {
		return false
	}
	args := append(append([]string{"--net"}, more...), "--", os.Args[0], "-test.run", "^"+name+"$", "-test.v", "-test.count=1", "-test.timeout=4m")
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), bindInnerEnv+"=1") // LODESTONE_TEST_ENGINE passes on
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace of its own:\n%s", out)
	if err != nil {
		t.Fatalf("the test in its namespace failed: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+name) {
		t.Fatal("the test in its namespace did not pass")
	}
	return true
}

// bindNets builds the namespaces described above (bt0, alt0, the route
// through alt0, the nftables counters) and returns the peer namespace.
func bindNets(t *testing.T) (peerNS string) {
	t.Helper()
	netRun(t, "ip", "link", "set", "lo", "up")
	for _, k := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/disable_ipv6", []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	peerNS = newNetns(t)
	netRun(t, "ip", "link", "add", "bt0", "type", "veth", "peer", "name", "bt0p", "netns", peerNS)
	netRun(t, "ip", "link", "add", "alt0", "type", "veth", "peer", "name", "alt0p", "netns", peerNS)
	netRun(t, "ip", "addr", "add", "198.18.0.1/24", "dev", "bt0")
	netRun(t, "ip", "link", "set", "bt0", "up")
	netRun(t, "ip", "addr", "add", "198.19.0.1/24", "dev", "alt0")
	netRun(t, "ip", "link", "set", "alt0", "up")
	netRun(t, "ip", "route", "add", "198.18.0.0/24", "via", "198.19.0.2", "dev", "alt0", "metric", "100")
	netRun(t, "nsenter", "--net="+peerNS, "sh", "-ec", `
		echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
		ip link set lo up
		ip addr add 198.18.0.2/24 dev bt0p
		ip link set bt0p up
		ip addr add 198.19.0.2/24 dev alt0p
		ip link set alt0p up`)
	// Every packet to or from a 198.18.0.0/15 address that leaves by
	// another interface than bt0 (lo, alt0) is counted.
	netRun(t, "nft", "-f", "-", `table ip leak {
		chain out {
			type filter hook output priority 0;
			oifname != "bt0" ip daddr 198.18.0.0/15 counter
			oifname != "bt0" ip saddr 198.18.0.0/15 counter
		}
	}`)
	return peerNS
}

// assertNoLeak fails the test unless alt0 never sent a packet and no
// packet of 198.18.0.0/15 left by another interface than bt0.
func assertNoLeak(t *testing.T, when string) {
	t.Helper()
	if n := txPackets(t, "alt0"); n != 0 {
		t.Errorf("%s: alt0 sent %d packets", when, n)
	}
	out := netRun(t, "nft", "list", "table", "ip", "leak")
	for _, m := range regexp.MustCompile(`counter packets (\d+)`).FindAllStringSubmatch(out, -1) {
		if m[1] != "0" {
			t.Errorf("%s: packets of 198.18.0.0/15 left by another interface than bt0:\n%s", when, out)
			break
		}
	}
}

// txPackets reads an interface's transmitted packets from /proc/net/dev.
func txPackets(t *testing.T, iface string) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		f := strings.Fields(rest)
		n, err := strconv.ParseInt(f[9], 10, 64) // receive: 8 fields; then bytes, packets
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Fatalf("no interface %s in /proc/net/dev", iface)
	return 0
}

// netRun runs a command, failing the test if it fails; it returns stdout.
// An argument "-" after "-f" is fed the last argument on stdin.
func netRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if name == "nft" && len(args) == 3 && args[0] == "-f" && args[1] == "-" {
		cmd = exec.Command(name, "-f", "-")
		cmd.Stdin = strings.NewReader(args[2])
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %v: %v: %s", name, args, err, ee.Stderr)
		}
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// newNetns starts a process in a new network namespace for the test's
// life and returns the path of that namespace.
func newNetns(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("unshare", "--net", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ns := filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "ns", "net")
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	waitUntilAPI(t, "unshare --net", 10*time.Second, func() bool {
		l, err := os.Readlink(ns)
		return err == nil && l != self
	})
	return ns
}

// bindSeeder is testdata/bind_seeder.py in another namespace.
type bindSeeder struct {
	port string
	mu   sync.Mutex
	ips  []string
}

func (s *bindSeeder) peers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ips)
}

// startBindSeeder runs the seeder in the namespace ns, on 198.18.0.2,
// uploading at most rate bytes/s, and waits until it seeds.
func startBindSeeder(t *testing.T, ns, torrentFile, root string, rate int) *bindSeeder {
	t.Helper()
	cmd := exec.Command("nsenter", "--net="+ns, enginetest.LibtorrentPython, filepath.Join("testdata", "bind_seeder.py"),
		torrentFile, root, "198.18.0.2:0", strconv.Itoa(rate))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &bindSeeder{}
	lines := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			if ip, ok := strings.CutPrefix(l, "peer "); ok {
				s.mu.Lock()
				s.ips = append(s.ips, ip)
				s.mu.Unlock()
			}
			select {
			case lines <- l:
			default:
			}
		}
	}()
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); <-done; cmd.Wait() })
	s.port = strings.TrimPrefix(enginetest.WaitLine(t, lines, "port ", 30*time.Second), "port ")
	enginetest.WaitLine(t, lines, "seeding", 60*time.Second)
	return s
}

// The bind flags are checked at start: a bad address; beside a proxy
// they are accepted (the connections to the proxy are bound too).
func TestBindConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*daemon.Config)
		want string
	}{
		{"bad address", func(c *daemon.Config) { c.BindAddress = "not-an-ip" }, "bind-address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
			tc.edit(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
	cfg.BindInterface, cfg.BindAddress = "lo", "127.0.0.1"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("bind-interface lo with bind-address 127.0.0.1: %v", err)
	}
	cfg.Proxy = "socks5://127.0.0.1:1080"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("bind-interface with a proxy: %v", err)
	}
}
