package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Interop with BitTorrent clients no one here wrote, from Debian's
// packages (installed by scripts/test): libtorrent 2.0 (python3-libtorrent),
// aria2 1.36 and Transmission 3.00. All on 127.0.0.1 with DHT, LSD, UPnP/NAT-PMP, PEX and uTP off.

// ltPython is Debian's python, which has python3-libtorrent (a python3 on
// PATH may be another one).
const ltPython = "/usr/bin/python3"

// ltPeer runs testdata/lt_peer.py and returns its stdout lines.
func ltPeer(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	script, err := filepath.Abs("testdata/lt_peer.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, ltPython, append([]string{script}, args...)...)
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
	return cmd, lines
}

// waitLine waits for a line starting with prefix.
func waitLine(t *testing.T, lines <-chan string, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("libtorrent peer ended before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q from libtorrent within %v", prefix, timeout)
		}
	}
}

func writeTorrentFile(t *testing.T, tr *enginetest.Torrent) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), tr.Name+".torrent")
	if err := os.WriteFile(p, tr.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Lodestone downloads a magnet from a libtorrent seeder.
func TestInteropFromLibtorrent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(41))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, lines := ltPeer(t, ctx, "seed", writeTorrentFile(t, tr), tr.Root)
	port := strings.TrimPrefix(waitLine(t, lines, "port ", 30*time.Second), "port ")
	waitLine(t, lines, "seeding", 60*time.Second)

	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	start := time.Now()
	res := addMagnet(t, c, tr.Magnet([]string{"127.0.0.1:" + port}))
	waitEvent(t, c, api.EventTaskFinished, 90*time.Second, forTask(res.TaskID))
	t.Logf("downloaded from libtorrent in %v", time.Since(start))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

// seed puts tr's data where d downloads, adds tr and waits until d has
// verified it and seeds it.
func seed(t *testing.T, d *daemontest.Daemon, tr *enginetest.Torrent) {
	t.Helper()
	src, dst := filepath.Join(tr.Root, tr.Name), filepath.Join(d.Dirs.Download, tr.Name)
	fi, err := os.Stat(src)
	if err == nil && fi.IsDir() {
		err = os.CopyFS(dst, os.DirFS(src))
	} else if err == nil {
		var data []byte
		if data, err = os.ReadFile(src); err == nil {
			err = os.WriteFile(dst, data, 0o644)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	c := d.Client(t)
	res := addTorrent(t, c, tr)
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
}

// Lodestone seeds to a libtorrent leecher.
func TestInteropToLibtorrent(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "to-lt.bin", Size: 3<<20 + 12345, Seed: 42})
	d := daemontest.Start(t, daemontest.Options{})
	seed(t, d, tr)
	dst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	_, lines := ltPeer(t, ctx, "leech", writeTorrentFile(t, tr), dst, peerAddr(t, d))
	waitLine(t, lines, "done", 90*time.Second)
	t.Logf("libtorrent downloaded from lodestone in %v", time.Since(start))
	enginetest.SameFiles(t, tr, dst)
}

// Lodestone seeds to an aria2 leecher, which finds it through a loopback
// tracker.
func TestInteropToAria2(t *testing.T) {
	aria2, err := exec.LookPath("aria2c")
	if err != nil {
		t.Fatalf("aria2c not found (scripts/test installs Debian's aria2): %v", err)
	}
	// The daemon must exist before the torrent: the tracker in it hands
	// out the daemon's peer address.
	d := daemontest.Start(t, daemontest.Options{})
	tracker := enginetest.StartTracker(t, peerAddr(t, d))
	content := enginetest.MultiFile(43)
	content.Trackers = []string{tracker.URL}
	tr := enginetest.Generate(t, content)
	seed(t, d, tr)

	dst := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, aria2,
		"--dir="+dst, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
		"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--disable-ipv6=true",
		"--interface=127.0.0.1", "--listen-port=6881-6999", "--file-allocation=none", "--summary-interval=0",
		"--console-log-level=warn", "--check-certificate=false", "--bt-hash-check-seed=false",
		writeTorrentFile(t, tr))
	out, err := cmd.CombinedOutput()
	t.Logf("aria2c: %s", out)
	if err != nil {
		t.Fatalf("aria2c: %v", err)
	}
	t.Logf("aria2 downloaded from lodestone in %v", time.Since(start))
	enginetest.SameFiles(t, tr, dst)
}

// Lodestone downloads from a Transmission seeder (Debian's transmission-cli
// 3.00). Transmission does not dial loopback peers, so lodestone dials it:
// the magnet names it with x.pe.
func TestInteropFromTransmission(t *testing.T) {
	bin, err := exec.LookPath("transmission-cli")
	if err != nil {
		t.Fatalf("transmission-cli not found (scripts/test installs Debian's transmission-cli): %v", err)
	}
	tr := enginetest.Generate(t, enginetest.MultiFile(44))
	port := strings.TrimPrefix(enginetest.ClosedPort(t), "127.0.0.1:")
	cfg := t.TempDir()
	settings := `{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": false,
		"port-forwarding-enabled": false, "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
		"peer-port": ` + port + `, "encryption": 0, "speed-limit-up-enabled": false}`
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-g", cfg, "-w", tr.Root, "-p", port, "-M", "-U", "-D", "-et", writeTorrentFile(t, tr))
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

	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	start := time.Now()
	res := addMagnet(t, c, tr.Magnet([]string{"127.0.0.1:" + port}))
	waitEvent(t, c, api.EventTaskFinished, 90*time.Second, forTask(res.TaskID))
	t.Logf("downloaded from transmission in %v", time.Since(start))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
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

// Lodestone downloads a single-file torrent made by libtorrent, which is
// a v1+v2 hybrid, and writes the file where libtorrent, aria2 and
// qBittorrent would: download dir/name, not download dir/name/name.
func TestInteropHybridSingleFile(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seedDir := t.TempDir()
	data := make([]byte, 3<<20+12345)
	rand.NewChaCha8([32]byte{5}).Read(data)
	file := filepath.Join(seedDir, "hybrid.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	torrentFile := filepath.Join(t.TempDir(), "hybrid.torrent")
	if out, err := exec.CommandContext(ctx, ltPython, "testdata/lt_peer.py", "make", file, torrentFile).CombinedOutput(); err != nil {
		t.Fatalf("make torrent: %v\n%s", err, out)
	}
	torrentData, err := os.ReadFile(torrentFile)
	if err != nil {
		t.Fatal(err)
	}
	mi := enginetest.Parse(t, torrentData)
	if v1, v2 := mi.Versions(); !v1 || !v2 {
		t.Fatalf("libtorrent made v1 %v, v2 %v: want a hybrid", v1, v2)
	}
	_, lines := ltPeer(t, ctx, "seed", torrentFile, seedDir)
	port := strings.TrimPrefix(waitLine(t, lines, "port ", 30*time.Second), "port ")
	waitLine(t, lines, "seeding", 60*time.Second)

	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, fmt.Sprintf("magnet:?xt=urn:btih:%s&x.pe=127.0.0.1:%s", mi.InfoHash(), port))
	waitEvent(t, c, api.EventTaskFinished, 90*time.Second, forTask(res.TaskID))
	got, err := os.ReadFile(filepath.Join(d.Dirs.Download, "hybrid.bin"))
	if err != nil {
		t.Fatalf("the file is not at download dir/hybrid.bin: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded bytes differ from libtorrent's")
	}
}
