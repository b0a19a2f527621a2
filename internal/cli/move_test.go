package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// move moves a downloaded task's files into a subdir of the download dir
// and back.
func TestMove(t *testing.T) {
	t.Parallel()
	tr := enginetest.Generate(t, enginetest.MultiFile(35))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	id := tr.InfoHash
	runAt(t, d, "add", tr.Magnet([]string{seeder.Addr})).ok(t)
	runAt(t, d, "watch", id).ok(t)
	base := downloadDir(t, d)
	enginetest.SameFiles(t, tr, base)

	done := filepath.Join(base, "done")
	r := runAt(t, d, "move", id[:8], "done").ok(t)
	if want := "moved " + id + " multi to " + done + "\n"; r.stdout != want {
		t.Errorf("move printed %q, want %q", r.stdout, want)
	}
	enginetest.SameFiles(t, tr, done)
	if _, err := os.Stat(filepath.Join(base, "multi")); !os.IsNotExist(err) {
		t.Errorf("files left in the old dir: %v", err)
	}
	if out := runAt(t, d, "info", id).ok(t).stdout; !strings.Contains(out, "\ndownload_dir: "+done+"\n") {
		t.Errorf("info after move:\n%s", out)
	}
	waitState(t, d, id, api.StateSeeding)

	// Outside the download roots: refused, nothing moves.
	runAt(t, d, "move", id, t.TempDir()).fails(t, cli.ExitFailure, "outside the download roots", "(invalid_params)")
	enginetest.SameFiles(t, tr, done)

	// "." is the download dir itself; --json prints the moved task.
	var task api.Task
	out := runAt(t, d, "move", "--json", id, ".").ok(t).stdout
	if err := json.Unmarshal([]byte(out), &task); err != nil || task.DownloadDir != base {
		t.Errorf("move --json: %v: %s", err, out)
	}
	enginetest.SameFiles(t, tr, base)
}
