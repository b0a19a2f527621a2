// Package daemontest runs Lodestone daemons on loopback for black-box
// tests: in-process, or as a real `lodestone serve` process that a test can
// SIGKILL. Every daemon binds 127.0.0.1 only, with DHT, UPnP and (unless
// asked) uTP off.
package daemontest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/schema/validate"
)

// Token is the API token test daemons use.
const Token = "test-token-0123456789abc"

// Dirs are a daemon's directories; reuse them to restart "the same" daemon.
type Dirs struct {
	Data, Download string
}

// NewDirs makes fresh directories under t.TempDir().
func NewDirs(t testing.TB) Dirs {
	base := t.TempDir()
	return Dirs{Data: filepath.Join(base, "data"), Download: filepath.Join(base, "downloads")}
}

// Options tune a test daemon.
type Options struct {
	Dirs Dirs // zero: NewDirs
	UTP  bool
	// AllowPrivateURLs lets task.add type url fetch from loopback.
	AllowPrivateURLs bool
	// DenyPrivateTrackers keeps the default of a real daemon: no
	// announces to loopback trackers (test daemons allow them).
	DenyPrivateTrackers bool
	// AuthBackoff overrides the first backoff after wrong tokens.
	AuthBackoff time.Duration
	// CapLoopbackPerAddress caps each 127.0.0.x like a remote address
	// (unauthenticated connections), so tests can stand it in for one.
	CapLoopbackPerAddress bool
	// Engine overrides Core() (benchmarks comparing the cores).
	Engine string
	// Logger replaces the daemon's log (nil: t.Log, from level Info).
	Logger *slog.Logger
	// WatchRoots and WatchInterval set the Config fields of watch
	// folders (--watch-root; the time between scans).
	WatchRoots    []string
	WatchInterval time.Duration
	// Configure, when set, edits the configuration last (fields no other
	// option sets, such as the webhook retry timings).
	Configure func(*daemon.Config)
}

// Daemon is an in-process daemon.
type Daemon struct {
	*daemon.Daemon
	Dirs Dirs
	URL  string // ws://127.0.0.1:port/ws (no token)

	stop context.CancelFunc
	done chan error
	once sync.Once
}

// Core is the engine core the tests run on: $LODESTONE_TEST_ENGINE, or
// the default ("").
func Core() string { return os.Getenv("LODESTONE_TEST_ENGINE") }

// Config returns the test configuration for dirs.
func Config(t testing.TB, dirs Dirs, utp bool) daemon.Config {
	return daemon.Config{
		APIAddr:     "127.0.0.1:0",
		PeerAddr:    "127.0.0.1:0",
		DataDir:     dirs.Data,
		DownloadDir: dirs.Download,
		UTP:         utp,
		Token:       Token,
		// Test swarms and trackers are on 127.0.0.1.
		AllowPrivateTrackers: true,
		// LODESTONE_TEST_ENGINE runs the suite on another core.
		Engine: Core(),
		Logger: slog.New(slog.NewTextHandler(LogWriter(t), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

// Start runs a daemon until the test ends (or Stop).
func Start(t testing.TB, opts Options) *Daemon {
	t.Helper()
	return StartAll(t, opts)[0]
}

// StartAll starts daemons at once and runs them until the test ends:
// nodes of a cluster, whose embedded NATS servers wait for each other
// before New returns.
func StartAll(t testing.TB, opts ...Options) []*Daemon {
	t.Helper()
	cfgs := make([]daemon.Config, len(opts))
	for i := range opts {
		if opts[i].Dirs == (Dirs{}) {
			opts[i].Dirs = NewDirs(t)
		}
		cfgs[i] = configOf(t, opts[i])
	}
	ds := make([]*daemon.Daemon, len(opts))
	errs := make([]error, len(opts))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ds[i], errs[i] = daemon.New(cfgs[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, d := range ds {
				if d != nil {
					d.Close()
				}
			}
			t.Fatalf("start daemon %d: %v", i, err)
		}
	}
	out := make([]*Daemon, len(ds))
	for i, d := range ds {
		ctx, cancel := context.WithCancel(context.Background())
		td := &Daemon{Daemon: d, Dirs: opts[i].Dirs, URL: "ws://" + d.APIAddr() + "/ws", stop: cancel, done: make(chan error, 1)}
		go func() { td.done <- d.Run(ctx) }()
		t.Cleanup(func() { td.Stop(t) })
		out[i] = td
	}
	return out
}

// configOf is the configuration opts ask for.
func configOf(t testing.TB, opts Options) daemon.Config {
	cfg := Config(t, opts.Dirs, opts.UTP)
	cfg.AllowPrivateURLs = opts.AllowPrivateURLs
	cfg.AllowPrivateTrackers = !opts.DenyPrivateTrackers
	cfg.AuthBackoff = opts.AuthBackoff
	cfg.CapLoopbackPerAddress = opts.CapLoopbackPerAddress
	if opts.Engine != "" {
		cfg.Engine = opts.Engine
	}
	if opts.Logger != nil {
		cfg.Logger = opts.Logger
	}
	cfg.WatchRoots, cfg.WatchInterval = opts.WatchRoots, opts.WatchInterval
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	return cfg
}

// Stop shuts the daemon down cleanly and waits for it.
func (d *Daemon) Stop(t testing.TB) {
	d.once.Do(func() {
		d.stop()
		select {
		case err := <-d.done:
			if err != nil {
				t.Errorf("daemon run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("daemon did not stop within 30s")
		}
	})
}

// Client connects to d with the test token, closing it when the test ends.
func (d *Daemon) Client(t testing.TB) *client.Client {
	return Dial(t, d.URL)
}

// Dial connects a client to url with the test token. Every frame the
// client sends and receives is validated against the API's schema
// (ValidateFrames).
func Dial(t testing.TB, url string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialOptions(ctx, url, Token, client.Options{FrameHook: ValidateFrames(t)})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close client of %s: %v", url, err)
		}
	})
	return c
}

// LogWriter returns a writer that sends each write to t.Log, without its
// trailing newline, until t's cleanups run; then it drops them. t.Log
// panics once a test has ended, and something may still write then (a
// process's output being copied, a goroutine on its way out, which the
// leak check reports): the writer stops first instead.
//
// For a *testing.F the logs are dropped: a daemon started for a fuzz
// target logs while the target runs, where f.Log panics.
func LogWriter(t testing.TB) io.Writer {
	if _, fuzz := t.(*testing.F); fuzz {
		return io.Discard
	}
	w := &logWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.ended = true
		w.mu.Unlock()
	})
	return w
}

type logWriter struct {
	t testing.TB

	// mu guards ended, and is held across t.Log so that a write cannot
	// be under way when the test ends.
	mu    sync.Mutex
	ended bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.ended {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds cmd/lodestone once per test process and returns its path;
// or returns $LODESTONE_TEST_BINARY, a binary built beforehand (scripts/test
// builds it once for the two passes of this package's tests, with -race
// as they would, rather than each linking its own).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("LODESTONE_TEST_BINARY"); p != "" {
			if _, err := os.Stat(p); err != nil {
				buildErr = fmt.Errorf("LODESTONE_TEST_BINARY: %w", err)
			}
			buildPath = p
			return
		}
		dir, err := os.MkdirTemp("", "lodestone-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "lodestone")
		args := []string{"build", "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "github.com/lodestone-bt/lodestone/cmd/lodestone")...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Process is a `lodestone serve` child process.
type Process struct {
	Dirs Dirs
	URL  string
	cmd  *exec.Cmd
	done chan error
}

// StartProcess runs `lodestone serve` on dirs (loopback, DHT and UPnP off)
// and waits until it serves. The process is killed when the test ends.
func StartProcess(t testing.TB, dirs Dirs) *Process {
	t.Helper()
	return StartProcessWith(t, dirs, ProcessOptions{})
}

// ProcessOptions add to what StartProcess gives `lodestone serve`.
type ProcessOptions struct {
	// Args are further flags, e.g. --download-root.
	Args []string
	// Env are further environment variables, KEY=value.
	Env []string
}

// StartProcessWith is StartProcess with more flags and environment.
func StartProcessWith(t testing.TB, dirs Dirs, opts ProcessOptions) *Process {
	t.Helper()
	p, urlc := launch(t, dirs, opts)
	p.await(t, urlc)
	return p
}

// StartProcesses starts a process per dirs[i] with opts[i] at once, then
// waits until each serves: the nodes of a cluster, whose embedded NATS
// servers wait for each other before their API listens.
func StartProcesses(t testing.TB, dirs []Dirs, opts []ProcessOptions) []*Process {
	t.Helper()
	ps := make([]*Process, len(dirs))
	urls := make([]chan string, len(dirs))
	for i := range dirs {
		ps[i], urls[i] = launch(t, dirs[i], opts[i])
	}
	for i, p := range ps {
		p.await(t, urls[i])
	}
	return ps
}

// launch starts `lodestone serve` on dirs; the returned channel gets the
// API URL once it serves.
func launch(t testing.TB, dirs Dirs, opts ProcessOptions) (*Process, chan string) {
	t.Helper()
	cmd := exec.Command(Binary(t), "serve",
		"--api-addr", "127.0.0.1:0",
		"--peer-addr", "127.0.0.1:0",
		"--data-dir", dirs.Data,
		"--download-dir", dirs.Download,
		"--dht=false", "--upnp=false", "--utp=false", "--allow-private-trackers",
		"--token", Token,
		// No configuration file: a ~/.config or /etc one on the test
		// machine must not change the daemon under test.
		"--config", os.DevNull,
	)
	if core := Core(); core != "" {
		cmd.Args = append(cmd.Args, "--engine", core)
	}
	cmd.Args = append(cmd.Args, opts.Args...)
	// The daemon file goes to a runtime dir of the test's, not the
	// user's: a SIGKILLed daemon would leave it there (api.DaemonFile).
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.Stderr = LogWriter(t)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lodestone: %v", err)
	}
	p := &Process{Dirs: dirs, cmd: cmd, done: make(chan error, 1)}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if rest, ok := strings.CutPrefix(line, "API:"); ok {
				urlc <- strings.TrimSpace(rest)
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.Kill(t) })
	return p, urlc
}

// await waits until p serves (its URL comes on urlc).
func (p *Process) await(t testing.TB, urlc chan string) {
	t.Helper()
	select {
	case p.URL = <-urlc:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("lodestone exited before serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("lodestone did not start within 60s")
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill(t testing.TB) {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
}

// Terminate sends SIGTERM and returns how long the process took to exit;
// it fails the test if the exit was not clean.
func (p *Process) Terminate(t testing.TB) time.Duration {
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.wait(t)
	if err != nil {
		t.Errorf("lodestone exit after SIGTERM: %v", err)
	}
	return time.Since(start)
}

func (p *Process) wait(t testing.TB) error {
	select {
	case err := <-p.done:
		p.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
			return fmt.Errorf("killed by %v", ee.ProcessState.Sys().(syscall.WaitStatus).Signal())
		}
		return err
	case <-time.After(30 * time.Second):
		t.Errorf("lodestone did not exit within 30s")
		return errors.New("timeout")
	}
}

var (
	validatorOnce sync.Once
	validator     *validate.Validator
	validatorErr  error
)

// ValidateFrames returns a client.Options.FrameHook that validates one
// connection's frames against the API's schema (docs/asyncapi.json):
// requests by their method, responses by the method of the request they
// answer, events by their name. A frame the schema does not describe fails
// t, with the frame and why. A request the schema refuses fails t only if
// the daemon accepts it: tests send invalid params on purpose, to check the
// refusal. Frames WriteRaw sends are not validated, but their answers are.
// Benchmarks get no hook (nil): they measure the daemon, not the
// validator.
func ValidateFrames(t testing.TB) func(dir string, frame []byte) {
	t.Helper()
	if _, bench := t.(*testing.B); bench {
		return nil
	}
	validatorOnce.Do(func() { validator, validatorErr = validate.New() })
	if validatorErr != nil {
		t.Fatalf("API schema: %v", validatorErr)
	}
	conn := validator.Conn()
	// Frames may still arrive while the test's cleanups run (before the
	// client is closed), never after: ended stops reports once t is done.
	var mu sync.Mutex
	ended := false
	t.Cleanup(func() {
		mu.Lock()
		ended = true
		mu.Unlock()
	})
	return func(dir string, frame []byte) {
		var err error
		switch dir {
		case client.FrameSent:
			conn.Sent(frame)
		case client.FrameSentRaw:
			conn.SentRaw(frame)
		case client.FrameReceived:
			err = conn.Received(frame)
		}
		if err == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !ended {
			t.Errorf("a frame %s does not match the API schema (docs/asyncapi.json):\n%s\n%v", dir, abbreviate(frame), err)
		}
	}
}

// abbreviate keeps a long frame's start and end.
func abbreviate(frame []byte) string {
	const keep = 1500
	if len(frame) <= 2*keep {
		return string(frame)
	}
	return fmt.Sprintf("%s … (%d bytes) … %s", frame[:keep], len(frame)-2*keep, frame[len(frame)-keep:])
}
