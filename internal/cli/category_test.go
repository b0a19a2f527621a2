package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// category set/ls/rm, add --category and set --category, against a real
// daemon.
func TestCategoryCommands(t *testing.T) {
	t.Parallel()
	tr := enginetest.Generate(t, enginetest.Content{Name: "cat.bin", Size: 50_000, Seed: 36})
	d := daemontest.Start(t, daemontest.Options{})
	base := downloadDir(t, d)
	id := tr.InfoHash

	r := runAt(t, d, "category", "set", "--complete-path", "done", "tv/hd", "tv").ok(t)
	if want := "category tv/hd " + filepath.Join(base, "tv") + "\n"; r.stdout != want {
		t.Errorf("category set printed %q, want %q", r.stdout, want)
	}
	runAt(t, d, "category", "set", "films").ok(t)
	runAt(t, d, "category", "set", "bad", "/").fails(t, cli.ExitFailure, "outside the download roots", "(invalid_params)")
	out := runAt(t, d, "category", "ls").ok(t).stdout
	want := []string{
		"NAME   SAVE PATH" + strings.Repeat(" ", len(filepath.Join(base, "tv"))-len("SAVE PATH")) + "  COMPLETE PATH",
		"films  -" + strings.Repeat(" ", len(filepath.Join(base, "tv"))-1) + "  -",
		"tv/hd  " + filepath.Join(base, "tv") + "  " + filepath.Join(base, "done"),
	}
	if got := lines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("category ls:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}

	runAt(t, d, "add", "--category", "nope", "--paused", torrentFile(t, tr)).fails(t, cli.ExitFailure, `no such category: "nope"`, "(no_such_category)")
	runAt(t, d, "add", "--category", "tv/hd", "--paused", torrentFile(t, tr)).ok(t)
	if out := runAt(t, d, "info", id).ok(t).stdout; !strings.Contains(out, "\ncategory: tv/hd\n") || !strings.Contains(out, "\ndownload_dir: "+filepath.Join(base, "tv")+"\n") {
		t.Errorf("info after add --category:\n%s", out)
	}
	r = runAt(t, d, "set", "--category", "films", id).ok(t)
	if want := "set " + id + " category: films (" + base + ")\n"; r.stdout != want {
		t.Errorf("set --category printed %q, want %q", r.stdout, want)
	}
	r = runAt(t, d, "set", "--category", "", id).ok(t)
	if want := "set " + id + " category: (none) (" + base + ")\n"; r.stdout != want {
		t.Errorf("set --category '' printed %q, want %q", r.stdout, want)
	}
	r = runAt(t, d, "category", "rm", "films").ok(t)
	if r.stdout != "removed category films\n" {
		t.Errorf("category rm printed %q", r.stdout)
	}
	runAt(t, d, "category", "rm", "films").fails(t, cli.ExitFailure, "(no_such_category)")
	if out := runAt(t, d, "category", "--json", "ls").ok(t).stdout; !strings.Contains(out, `"name":"tv/hd"`) || strings.Contains(out, "films") {
		t.Errorf("category ls --json: %s", out)
	}
}
