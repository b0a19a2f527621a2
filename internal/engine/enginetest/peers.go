package enginetest

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Peers no one here wrote, from Debian's packages (scripts/test installs
// them): libtorrent 2.0 (python3-libtorrent), aria2 1.36 and Transmission
// 3.00, for interop tests. All on 127.0.0.1 with DHT, LSD, UPnP/NAT-PMP
// and uTP off.

// LibtorrentPython is Debian's python, which has python3-libtorrent (a
// python3 on PATH may be another one).
const LibtorrentPython = "/usr/bin/python3"

// LibtorrentScript returns the path of testdata/lt_peer.py, the
// libtorrent peer (see its doc string for its commands).
func LibtorrentScript(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("enginetest: cannot find its own source folder")
	}
	return filepath.Join(filepath.Dir(file), "testdata", "lt_peer.py")
}

// LibtorrentPeer runs lt_peer.py with args until the test ends (its stdin
// stays open until then); its stdout lines come on the channel, and are
// logged.
func LibtorrentPeer(t testing.TB, ctx context.Context, args ...string) <-chan string {
	t.Helper()
	cmd := exec.CommandContext(ctx, LibtorrentPython, append([]string{LibtorrentScript(t)}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start libtorrent peer (is python3-libtorrent installed? scripts/test installs it): %v", err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			t.Logf("libtorrent: %s", sc.Text())
			lines <- sc.Text()
		}
	}()
	return lines
}

// WaitLine waits for a line starting with prefix and returns it.
func WaitLine(t testing.TB, lines <-chan string, prefix string, timeout time.Duration) string {
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

// WriteTorrentFile writes tr's .torrent to a new folder and returns its
// path.
func WriteTorrentFile(t testing.TB, tr *Torrent) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), tr.Name+".torrent")
	if err := os.WriteFile(p, tr.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Aria2Download runs aria2c to download the .torrent at torrentPath into
// dst (peers from its trackers) and fails the test if it does not finish
// within timeout.
func Aria2Download(t testing.TB, torrentPath, dst string, timeout time.Duration) {
	t.Helper()
	aria2, err := exec.LookPath("aria2c")
	if err != nil {
		t.Fatalf("aria2c not found (scripts/test installs Debian's aria2): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, aria2,
		"--dir="+dst, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--disable-ipv6=true",
		"--interface=127.0.0.1", "--listen-port=6881-6999", "--file-allocation=none", "--summary-interval=0",
		"--console-log-level=warn", "--check-certificate=false", "--bt-hash-check-seed=false",
		torrentPath).CombinedOutput()
	t.Logf("aria2c: %s", out)
	if err != nil {
		t.Fatalf("aria2c: %v", err)
	}
}

// StartTransmissionSeeder runs transmission-cli seeding tr from tr.Root
// with encryption (its flag: -et tolerated, -ep preferred, -er required)
// until the test ends, waits until it seeds and returns its port.
// Transmission never dials loopback peers: dial it.
func StartTransmissionSeeder(t testing.TB, tr *Torrent, encryption string) string {
	t.Helper()
	bin, err := exec.LookPath("transmission-cli")
	if err != nil {
		t.Fatalf("transmission-cli not found (scripts/test installs Debian's transmission-cli): %v", err)
	}
	port := strings.TrimPrefix(ClosedPort(t), "127.0.0.1:")
	cfg := t.TempDir()
	settings := `{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
		"port-forwarding-enabled": false, "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
		"peer-port": ` + port + `, "speed-limit-up-enabled": false}`
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-g", cfg, "-w", tr.Root, "-p", port, "-M", "-U", "-D", encryption, WriteTorrentFile(t, tr))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	seeding := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Split(scanCRLF)
		once := false
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !once && strings.Contains(l, "Seeding") {
				t.Logf("transmission: %s", l)
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
	return port
}

// scanCRLF splits on \r or \n: transmission-cli redraws its status line
// with \r.
func scanCRLF(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' || b == '\r' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
