package cli_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI in-process with args, as main would.
func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out, errb syncbuf.Buffer
	code := cli.Run(ctx, args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// runAt runs command against d with the test token: the connection flags
// go right after the command name.
func runAt(t *testing.T, d *daemontest.Daemon, command string, args ...string) result {
	t.Helper()
	full := append([]string{command, "--api-addr", d.APIAddr(), "--token", daemontest.Token}, args...)
	return run(t, full...)
}

// ok fails the test unless r succeeded.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != cli.ExitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

// fails fails the test unless r exited with code and stderr contains every
// part of want.
func (r result) fails(t *testing.T, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// torrentFile writes tr's .torrent to a temporary file and returns its path.
func torrentFile(t *testing.T, tr *enginetest.Torrent) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), tr.Name+".torrent")
	if err := os.WriteFile(p, tr.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitState polls until task id is in state want.
func waitState(t *testing.T, d *daemontest.Daemon, id string, want api.TaskState) api.Task {
	t.Helper()
	c := d.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		task, err := c.GetTask(ctx, id)
		cancel()
		if err != nil {
			t.Fatalf("task.get %s: %v", id, err)
		}
		if task.State == want {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s in state %s, want %s", id, task.State, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitOutput polls until buf contains s.
func waitOutput(t *testing.T, buf *syncbuf.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(buf.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q:\n%s", s, buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lines splits output into its lines.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// taskFiles returns task.files of id.
func taskFiles(t *testing.T, d *daemontest.Daemon, id string) []api.TaskFile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	files, err := d.Client(t).TaskFiles(ctx, id)
	if err != nil {
		t.Fatalf("task.files %s: %v", id, err)
	}
	return files
}

// priorities renders the priority of each file, in index order.
func priorities(files []api.TaskFile) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%d=%s ", f.Index, f.Priority)
	}
	return strings.TrimSpace(b.String())
}

// downloadDir is d's default download dir as the daemon reports it (with
// symlinks resolved).
func downloadDir(t *testing.T, d *daemontest.Daemon) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(d.Dirs.Download)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
