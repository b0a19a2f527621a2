package cli_test

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// entries lists the names in the tar at path.
func entries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// The procedure of docs/OPERATIONS.md: lodestone backup -o while the
// daemon runs, lodestone restore into a new data dir (refused into the
// running daemon's), and a daemon started on it has the task.
func TestBackupRestoreCommands(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "b.bin", Size: 70_001, Seed: 5})
	d := daemontest.Start(t, daemontest.Options{})
	file := filepath.Join(t.TempDir(), "b.torrent")
	if err := os.WriteFile(file, tr.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	runAt(t, d, "add", "--paused", file).ok(t)

	dir := t.TempDir()
	plain, withTok := filepath.Join(dir, "plain.tar"), filepath.Join(dir, "tok.tar")
	r := runAt(t, d, "backup", "-o", plain).ok(t)
	if !strings.Contains(r.stderr, "backup of ") || !strings.Contains(r.stderr, " to "+plain) || !strings.Contains(r.stderr, d.Dirs.Download) {
		t.Errorf("backup's report: %q", r.stderr)
	}
	if got := strings.Join(entries(t, plain), " "); got != "lodestone.db manifest.json" {
		t.Errorf("backup holds %s, want the store and the manifest", got)
	}
	runAt(t, d, "backup", "-o", withTok, "--with-token").ok(t)
	if got := strings.Join(entries(t, withTok), " "); got != "lodestone.db token manifest.json" {
		t.Errorf("backup --with-token holds %s", got)
	}
	if fi, err := os.Stat(plain); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v %v, want mode 0600", fi.Mode(), err)
	}

	run(t, "restore", "--data-dir", d.Dirs.Data, plain).fails(t, cli.ExitFailure, "in use by a running daemon")
	run(t, "restore", plain).fails(t, cli.ExitUsage, "no --data-dir given")
	newData := filepath.Join(t.TempDir(), "data")
	r = run(t, "restore", "--data-dir", newData, withTok).ok(t)
	if !strings.Contains(r.stdout, "restored the backup of ") || !strings.Contains(r.stdout, d.Dirs.Download) {
		t.Errorf("restore's report: %q", r.stdout)
	}
	run(t, "restore", "--data-dir", newData, plain).fails(t, cli.ExitFailure, "not empty")
	if tok, err := os.ReadFile(filepath.Join(newData, "token")); err != nil || strings.TrimSpace(string(tok)) != daemontest.Token {
		t.Errorf("restored token: %q %v", tok, err)
	}

	d.Stop(t)
	b := daemontest.Start(t, daemontest.Options{Dirs: daemontest.Dirs{Data: newData, Download: d.Dirs.Download}})
	if out := runAt(t, b, "ls").ok(t).stdout; !strings.Contains(out, "b.bin") {
		t.Errorf("ls on the restored daemon:\n%s", out)
	}
}
