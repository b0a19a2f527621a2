// Package buildtest checks the release builds that scripts/build makes, as
// a user gets them: the linux/arm64 binary (cgo, uTP through libutp) runs
// under Debian's qemu-user-static, and the CGO_ENABLED=0 binary is static
// and runs without uTP; both print their stamped version and serve the API
// on loopback. It also checks scripts/install, and scripts/container's
// image run by podman.
package buildtest

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/version"
)

// root is the repository, from this package's directory.
const root = "../.."

// stamp is the version the tests' builds are stamped with.
const stamp = "v0.0.0-buildtest"

// needTools returns the first of each group of commands found on PATH.
// A missing one fails the test in CI (CI=true), where scripts/test
// installs them, and skips it elsewhere.
func needTools(t *testing.T, groups ...[]string) []string {
	t.Helper()
	var found []string
	for _, g := range groups {
		p := ""
		for _, name := range g {
			if path, err := exec.LookPath(name); err == nil {
				p = path
				break
			}
		}
		if p == "" {
			msg := "needs " + strings.Join(g, " or ") + " (scripts/test installs it)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		found = append(found, p)
	}
	return found
}

// build runs scripts/build for targets into a new directory and returns it.
func build(t *testing.T, targets ...string) string {
	t.Helper()
	return buildInto(t, t.TempDir(), targets...)
}

// nocgo is the CGO_ENABLED=0 amd64 build, made once for the tests that
// need a binary of this machine (in TestMain's directory).
var nocgo struct {
	once sync.Once
	dir  string // set by TestMain
	bin  string
	ok   bool
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "buildtest-")
	if err != nil {
		panic(err)
	}
	nocgo.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nocgoBinary builds lodestone-linux-amd64-nocgo once and returns its path.
func nocgoBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("scripts/build cross-compiles from linux/amd64")
	}
	nocgo.once.Do(func() {
		buildInto(t, nocgo.dir, "amd64-nocgo")
		nocgo.bin = filepath.Join(nocgo.dir, "lodestone-linux-amd64-nocgo")
		nocgo.ok = !t.Failed()
	})
	if !nocgo.ok {
		t.Fatal("the amd64-nocgo build failed (see the first test that built it)")
	}
	return nocgo.bin
}

// buildInto runs scripts/build for targets with DIST=dist.
func buildInto(t *testing.T, dist string, targets ...string) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("scripts/build cross-compiles from linux/amd64")
	}
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "build")}, targets...)...)
	cmd.Env = append(os.Environ(), "DIST="+dist, "VERSION="+stamp)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build %v: %v\n%s", targets, err, out)
	}
	t.Logf("scripts/build %v took %v:\n%s", targets, time.Since(start).Round(time.Second), out)
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range targets {
		if !strings.Contains(string(sums), "  lodestone-linux-"+target+"\n") {
			t.Errorf("SHA256SUMS lacks lodestone-linux-%s:\n%s", target, sums)
		}
	}
	return dist
}

// versionOf runs `<argv> version --json`.
func versionOf(t *testing.T, argv []string) version.Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], append(argv[1:], "version", "--json")...).Output()
	if err != nil {
		t.Fatalf("%v version --json: %v", argv, err)
	}
	var info version.Info
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("version --json printed %q: %v", out, err)
	}
	return info
}

// checkVersion checks what every build must report.
func checkVersion(t *testing.T, info version.Info, platform string, utp bool) {
	t.Helper()
	if info.Version != stamp || info.Commit == "" || info.Platform != platform || info.UTP != utp || info.GoVersion != runtime.Version() {
		t.Errorf("version = %+v; want version %s, a commit, platform %s, utp %v, %s", info, stamp, platform, utp, runtime.Version())
	}
	var engines []string
	for _, e := range info.Engines {
		engines = append(engines, e.Name+" "+e.Version)
	}
	if want := "native " + stamp + ",anacrolix v" + engine.Version; strings.Join(engines, ",") != want {
		t.Errorf("engines = %q, want %q", strings.Join(engines, ","), want)
	}
}

// token is the API token the tests' daemons are given.
const token = "buildtest-token-0123456789abcdef"

// serve starts `<argv> serve` on loopback with temporary dirs, DHT and
// UPnP off, asks it server.info over the WebSocket API, stops it with
// SIGTERM and returns what it logged.
func serve(t *testing.T, argv []string) string {
	t.Helper()
	dir := t.TempDir()
	return serveIn(t, argv, filepath.Join(dir, "data"), filepath.Join(dir, "downloads"))
}

// serveIn is serve with the data and download dirs given.
func serveIn(t *testing.T, argv []string, dataDir, downloadDir string) string {
	t.Helper()
	args := append(argv[1:], "serve", "--dht=false", "--upnp=false",
		"--api-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0",
		"--data-dir", dataDir, "--download-dir", downloadDir)
	cmd := exec.Command(argv[0], args...)
	cmd.Env = append(os.Environ(), "LODESTONE_TOKEN="+token)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// serve prints "  API:    ws://127.0.0.1:PORT/ws" once listening.
	// stdout is read to its end before Wait, which closes it.
	urls := make(chan string, 1)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "API:"); ok {
				select {
				case urls <- strings.TrimSpace(rest):
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	var url string
	select {
	case url = <-urls:
	case err := <-exited:
		waited = true
		t.Fatalf("serve exited before listening: %v\n%s", err, stderr.String())
	case <-time.After(3 * time.Minute): // qemu starts it in seconds; CI may be loaded
		t.Fatalf("serve printed no API address in 3 minutes\n%s", stderr.String())
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, url, token)
	if err != nil {
		t.Fatalf("dial %s: %v\n%s", url, err, stderr.String())
	}
	info, err := c.ServerInfo(ctx)
	c.Close()
	if err != nil {
		t.Fatalf("server.info: %v", err)
	}
	if info.Version != stamp || info.EngineVersion != engine.Version {
		t.Errorf("server.info = %+v, want version %s, engine %s", info, stamp, engine.Version)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not exit within 2 minutes of SIGTERM\n%s", stderr.String())
	}
	return stderr.String()
}

// TestArm64UnderQEMU builds the linux/arm64 release binary with Debian's
// cross compiler and runs it under qemu-user, as on an ARM NAS: its
// version, and a daemon answering server.info over loopback with uTP
// (libutp, C++ through cgo) on.
func TestArm64UnderQEMU(t *testing.T) {
	tools := needTools(t, []string{"aarch64-linux-gnu-gcc"}, []string{"aarch64-linux-gnu-g++"}, []string{"qemu-aarch64-static", "qemu-aarch64"})
	dist := build(t, "arm64")
	bin := filepath.Join(dist, "lodestone-linux-arm64")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	machine := f.Machine
	f.Close()
	if machine != elf.EM_AARCH64 {
		t.Fatalf("%s is for %v, not arm64", bin, machine)
	}
	// binfmt_misc may not be registered (CI runs in a container): call
	// qemu directly, with the arm64 glibc's sysroot.
	argv := []string{tools[2], "-L", "/usr/aarch64-linux-gnu", bin}
	checkVersion(t, versionOf(t, argv), "linux/arm64", true)
	logs := serve(t, argv)
	if strings.Contains(logs, "uTP is not compiled in") {
		t.Errorf("the cgo build says uTP is not compiled in:\n%s", logs)
	}
}

// TestNoCgoBuild builds the CGO_ENABLED=0 binary: one static file (no
// ELF interpreter), that reports no uTP, warns once that uTP is not
// compiled in when asked for it (--utp is on by default), and serves.
func TestNoCgoBuild(t *testing.T) {
	bin := nocgoBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: it is not static", bin)
		}
	}
	f.Close()
	checkVersion(t, versionOf(t, []string{bin}), "linux/amd64", false)
	logs := serve(t, []string{bin})
	if n := strings.Count(logs, "uTP is not compiled in"); n != 1 {
		t.Errorf("the warning that uTP is not compiled in was logged %d times, want once:\n%s", n, logs)
	}
}

// syncBuffer is a bytes.Buffer safe for the process's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
