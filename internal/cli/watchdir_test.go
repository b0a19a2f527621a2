package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// watchdir add/ls/rm against a real daemon: a folder in the download dir
// is watched, a .torrent dropped in it becomes a task (shown in ls's
// count), its category changes with a second add, a folder outside the
// roots and an unwatched one are refused.
func TestWatchdirCommands(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{WatchInterval: 100 * time.Millisecond})
	dir := filepath.Join(downloadDir(t, d), "incoming")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out := runAt(t, d, "watchdir", "add", dir).ok(t).stdout; out != "watching "+dir+"\n" {
		t.Errorf("watchdir add printed %q", out)
	}

	tr := enginetest.Generate(t, enginetest.Content{Name: "w.bin", Size: 40_000, Seed: 61})
	if err := os.WriteFile(filepath.Join(dir, "w.torrent"), tr.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	c := d.Client(t)
	waitUntil(t, func() bool {
		_, err := c.GetTask(t.Context(), tr.InfoHash)
		return err == nil
	})
	// The header, then the folder: no category, 1 added, 0 invalid, no
	// error.
	waitUntil(t, func() bool {
		got := lines(runAt(t, d, "watchdir", "ls").ok(t).stdout)
		return len(got) == 2 && strings.Join(strings.Fields(got[1]), " ") == dir+" - 1 0 -"
	})

	runAt(t, d, "category", "set", "tv").ok(t)
	if out := runAt(t, d, "watchdir", "add", "--category", "tv", dir).ok(t).stdout; out != "watching "+dir+" (category tv)\n" {
		t.Errorf("watchdir add --category printed %q", out)
	}
	out := runAt(t, d, "watchdir", "ls").ok(t).stdout
	if got := lines(out); len(got) != 2 || !strings.HasPrefix(got[0], "DIR") || !strings.HasPrefix(got[1], dir+"  tv ") {
		t.Errorf("watchdir ls:\n%s", out)
	}
	if out := runAt(t, d, "watchdir", "--json", "ls").ok(t).stdout; !strings.Contains(out, `"category":"tv"`) {
		t.Errorf("watchdir ls --json: %s", out)
	}

	runAt(t, d, "watchdir", "add", t.TempDir()).fails(t, cli.ExitFailure, "(invalid_params)")
	runAt(t, d, "watchdir", "add", "--category", "nope", dir).fails(t, cli.ExitFailure, "(no_such_category)")
	if out := runAt(t, d, "watchdir", "rm", dir).ok(t).stdout; out != "stopped watching "+dir+"\n" {
		t.Errorf("watchdir rm printed %q", out)
	}
	runAt(t, d, "watchdir", "rm", dir).fails(t, cli.ExitFailure, "(no_such_watch)")
	if got := lines(runAt(t, d, "watchdir", "ls").ok(t).stdout); len(got) != 1 {
		t.Errorf("watchdir ls after rm: %q", got)
	}
	runAt(t, d, "watchdir", "ls", "--category", "tv").fails(t, cli.ExitUsage, "--category goes with add")
}
