package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// logBuffer collects output written from several goroutines: a daemon's
// log records, a browser's output. With log set (daemontest.LogWriter),
// each write also goes there.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	log io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if l.log != nil {
		if _, err := l.log.Write(p); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startLogged runs an in-process daemon on dirs whose log is kept.
func startLogged(t *testing.T, dirs daemontest.Dirs) (*client.Client, *logBuffer) {
	t.Helper()
	logs := &logBuffer{log: daemontest.LogWriter(t)}
	cfg := daemontest.Config(t, dirs, false)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatalf("daemon did not start: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon run: %v", err)
		}
	})
	return daemontest.Dial(t, "ws://"+d.APIAddr()+api.Path), logs
}

// damageAlert replays the event log and returns the first engine.alert of
// level error mentioning what, failing the test if there is none.
func damageAlert(t *testing.T, c *client.Client, what string) api.EngineAlertData {
	t.Helper()
	if _, err := c.Replay(ctxT(t, 10*time.Second), "0"); err != nil {
		t.Fatal(err)
	}
	var a api.EngineAlertData
	waitEvent(t, c, api.EventEngineAlert, 10*time.Second, func(raw json.RawMessage) bool {
		return json.Unmarshal(raw, &a) == nil && a.Level == api.LevelError && strings.Contains(a.Message, what)
	})
	return a
}

// quarantined returns the one file path was moved to, failing otherwise.
func quarantined(t *testing.T, path string, want []byte) string {
	t.Helper()
	m, err := filepath.Glob(path + store.QuarantineSuffix + "*")
	if err != nil || len(m) != 1 {
		t.Fatalf("quarantined copies of %s: %v, %v; want one", path, m, err)
	}
	if got, err := os.ReadFile(m[0]); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s does not hold the damaged bytes (%v)", m[0], err)
	}
	return m[0]
}

// flipPageTypes returns b with the type of every page holding needle
// flipped: the live copy is among them.
func flipPageTypes(b, needle []byte) []byte {
	b = bytes.Clone(b)
	ps := os.Getpagesize()
	for off := 0; ; {
		i := bytes.Index(b[off:], needle)
		if i < 0 {
			return b
		}
		b[(off+i)/ps*ps+8] ^= 0x40
		off += i + 1
	}
}

// A damaged task store does not stop the daemon: it starts on a fresh
// store, logs the damage, publishes an engine.alert of level error and
// keeps the damaged file under lodestone.db.corrupt-<time>.
func TestDamagedStoreStartsFresh(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	tr := enginetest.Generate(t, enginetest.Content{Name: "dmg.bin", Size: 50_000, Seed: 40})
	res := addTorrent(t, d.Client(t), tr)
	d.Stop(t)
	path := filepath.Join(dirs.Data, store.FileName)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		data []byte
	}{
		{"truncated", orig[:os.Getpagesize()*5/2]}, // inside the pages in use
		{"zero-length", nil},
		{"bit-flipped", flipPageTypes(orig, []byte(`"id":"`+res.TaskID))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dirs := daemontest.NewDirs(t)
			if err := os.MkdirAll(dirs.Data, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dirs.Data, store.FileName)
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			c, logs := startLogged(t, dirs)
			t.Logf("started in %v", time.Since(start))
			moved := quarantined(t, path, tc.data)
			a := damageAlert(t, c, "task store")
			if !strings.Contains(a.Message, moved) {
				t.Errorf("alert %q does not say where the file went (%s)", a.Message, moved)
			}
			if !strings.Contains(logs.String(), "level=ERROR msg=\"damaged file moved aside\"") {
				t.Errorf("no error logged about the damaged store")
			}
			// A working daemon on an empty store.
			tasks, err := c.ListTasks(ctxT(t, 10*time.Second))
			if err != nil || len(tasks) != 0 {
				t.Fatalf("tasks after quarantine: %v, %v; want none", tasks, err)
			}
			addTorrent(t, c, tr)
		})
	}
}

// A damaged piece-completion database is moved aside too; the only loss
// is that pieces are hashed again, and a finished task comes back
// complete, with no peer to download from.
func TestDamagedCompletionDBReverifies(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "pc.bin", Size: 3 << 20, PieceLength: 64 << 10, Seed: 41})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	d.Stop(t)
	seeder.Close()
	path := filepath.Join(dirs.Data, "engine", engine.CompletionFileOf(daemontest.Core()))
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("piece completion database: %v", err)
	}
	ps := os.Getpagesize()
	flipped := bytes.Clone(orig)
	for p := 2; p < len(orig)/ps; p++ {
		flipped[p*ps+8] ^= 0x40
	}

	cases := []struct {
		name string
		data []byte
	}{
		{"truncated", orig[:ps*5/2]}, // inside the pages in use
		{"bit-flipped", flipped},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if i > 0 {
				// Back to the state after the download, with a new damage.
				m, err := filepath.Glob(path + store.QuarantineSuffix + "*")
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range m {
					if err := os.Remove(f); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			c, _ := startLogged(t, dirs)
			t.Logf("started in %v", time.Since(start))
			quarantined(t, path, tc.data)
			damageAlert(t, c, "piece-completion database")
			waitTask(t, c, res.TaskID, "complete again by hashing after losing piece completion", 30*time.Second, func(task api.Task) bool {
				return task.Completed == task.Size && task.State == api.StateSeeding
			})
			t.Logf("complete again by hashing %v after start", time.Since(start))
			enginetest.SameFiles(t, tr, dirs.Download)
		})
	}
}

// The quarantine never takes a store in use: a second daemon on the same
// data dir still refuses to start, with a clear error, and moves nothing.
func TestSecondDaemonRefused(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	daemontest.Start(t, daemontest.Options{Dirs: dirs})

	_, err := daemon.New(daemontest.Config(t, dirs, false))
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second daemon: %v, want ErrLocked", err)
	}
	t.Logf("in-process: %v", err)

	// The real command says so and exits non-zero.
	cmd := exec.Command(daemontest.Binary(t), "serve",
		"--api-addr", "127.0.0.1:0", "--peer-addr", "127.0.0.1:0",
		"--data-dir", dirs.Data, "--download-dir", dirs.Download,
		"--dht=false", "--upnp=false", "--utp=false", "--token", daemontest.Token)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "store is in use by another process") {
		t.Fatalf("second lodestone serve: %v, output %q; want a refusal naming the lock", err, out)
	}
	t.Logf("lodestone serve: %s", bytes.TrimSpace(out))
	if m, err := filepath.Glob(filepath.Join(dirs.Data, "*"+store.QuarantineSuffix+"*")); err != nil || len(m) != 0 {
		t.Fatalf("files moved aside: %v (%v)", m, err)
	}
}
