package native

import (
	"bufio"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Interop of the native core with BitTorrent clients no one here wrote,
// from Debian's packages (scripts/test installs them): libtorrent 2.0
// (python3-libtorrent), aria2 1.36 and Transmission 3.00, both ways, on
// 127.0.0.1 with DHT, LSD, UPnP/NAT-PMP and uTP off.

// ltScript is the daemon's libtorrent peer script, shared rather than
// copied.
const ltScript = "../../daemon/testdata/lt_peer.py"

// ltPeer runs lt_peer.py with args; its stdout lines come on the channel.
func ltPeer(t *testing.T, ctx context.Context, args ...string) <-chan string {
	t.Helper()
	script, err := filepath.Abs(ltScript)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", append([]string{script}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start libtorrent peer (scripts/test installs python3-libtorrent): %v", err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

func waitLine(t *testing.T, lines <-chan string, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("peer process ended before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q within %v", prefix, timeout)
		}
	}
}

func torrentFile(t *testing.T, tr *enginetest.Torrent) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), tr.Name+".torrent")
	if err := os.WriteFile(p, tr.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The native core downloads magnets from libtorrent: a multi-file v1
// torrent, and a hybrid v1+v2 one made by libtorrent with its pad files.
func TestInteropFromLibtorrent(t *testing.T) {
	for _, kind := range []string{"v1", "hybrid"} {
		t.Run(kind, func(t *testing.T) {
			tr := enginetest.Generate(t, enginetest.MultiFile(91))
			if kind == "hybrid" {
				made := filepath.Join(t.TempDir(), "multi.torrent")
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				script, _ := filepath.Abs(ltScript)
				if out, err := exec.CommandContext(ctx, "/usr/bin/python3", script, "make", filepath.Join(tr.Root, tr.Name), made, "hybrid", "16384").CombinedOutput(); err != nil {
					t.Fatalf("libtorrent make: %v: %s", err, out)
				}
				data, err := os.ReadFile(made)
				if err != nil {
					t.Fatal(err)
				}
				tr.MetaInfo = data
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			lines := ltPeer(t, ctx, "seed", torrentFile(t, tr), tr.Root)
			port := strings.TrimPrefix(waitLine(t, lines, "port ", 30*time.Second), "port ")
			waitLine(t, lines, "seeding", 60*time.Second)
			dl := magnet(t, tr, []netip.AddrPort{addrOf(t, "127.0.0.1:"+port)}, nil)
			enginetest.SameFiles(t, tr, dl)
		})
	}
}

// The native core seeds to a libtorrent leecher.
func TestInteropToLibtorrent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "to-lt.bin", Size: 3<<20 + 12345, Seed: 92})
	sc, _ := seedFrom(t, tr, Config{})
	dst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lines := ltPeer(t, ctx, "leech", torrentFile(t, tr), dst, sc.Addr().String())
	waitLine(t, lines, "done", 90*time.Second)
	enginetest.SameFiles(t, tr, dst)
}

// The native core seeds to an aria2 leecher, which finds it through a
// loopback tracker and opens with an encrypted handshake.
func TestInteropToAria2(t *testing.T) {
	aria2, err := exec.LookPath("aria2c")
	if err != nil {
		t.Fatalf("aria2c not found (scripts/test installs Debian's aria2): %v", err)
	}
	c := newClient(t, Config{})
	tracker := enginetest.StartTracker(t, c.Addr().String())
	content := enginetest.MultiFile(93)
	content.Trackers = []string{tracker.URL}
	tr := enginetest.Generate(t, content)
	m, err := ParseTorrent(tr.MetaInfo, tr.Root)
	if err != nil {
		t.Fatal(err)
	}
	m.Trackers = nil // the tracker is aria2's way to us
	seed(t, c, m)
	dst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, aria2,
		"--dir="+dst, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--disable-ipv6=true",
		"--interface=127.0.0.1", "--listen-port=6881-6999", "--file-allocation=none", "--summary-interval=0",
		"--console-log-level=warn", "--check-certificate=false", "--bt-hash-check-seed=false",
		torrentFile(t, tr)).CombinedOutput()
	if err != nil {
		t.Fatalf("aria2c: %v: %s", err, out)
	}
	enginetest.SameFiles(t, tr, dst)
}

// The native core downloads a magnet from a Transmission seeder, which it
// dials (Transmission does not dial loopback peers): one that prefers
// plain connections, and one that requires encryption (the native core
// falls back to an MSE handshake when the plain one is hung up on).
func TestInteropFromTransmission(t *testing.T) {
	bin, err := exec.LookPath("transmission-cli")
	if err != nil {
		t.Fatalf("transmission-cli not found (scripts/test installs Debian's transmission-cli): %v", err)
	}
	for _, enc := range []string{"-et", "-er"} { // encryption tolerated, required
		t.Run(map[string]string{"-et": "plain", "-er": "encryption required"}[enc], func(t *testing.T) {
			t.Parallel()
			fromTransmission(t, bin, enc)
		})
	}
}

func fromTransmission(t *testing.T, bin, encryption string) {
	tr := enginetest.Generate(t, enginetest.MultiFile(94))
	port := strings.TrimPrefix(enginetest.ClosedPort(t), "127.0.0.1:")
	cfg := t.TempDir()
	settings := `{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
		"port-forwarding-enabled": false, "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
		"peer-port": ` + port + `, "speed-limit-up-enabled": false}`
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-g", cfg, "-w", tr.Root, "-p", port, "-M", "-U", "-D", encryption, torrentFile(t, tr))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	seeding := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
			for i, b := range data {
				if b == '\r' || b == '\n' {
					return i + 1, data[:i], nil
				}
			}
			if atEOF && len(data) > 0 {
				return len(data), data, nil
			}
			return 0, nil, nil
		})
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "Seeding") {
				once = true
				close(seeding)
			}
		}
	}()
	select {
	case <-seeding:
	case <-time.After(60 * time.Second):
		t.Fatal("transmission did not start seeding within 60 s")
	}
	dl := magnet(t, tr, []netip.AddrPort{addrOf(t, "127.0.0.1:"+port)}, nil)
	enginetest.SameFiles(t, tr, dl)
}
