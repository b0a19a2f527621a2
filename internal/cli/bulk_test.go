package cli_test

import (
	"slices"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// pause, resume, set and rm act on the tasks --all, --label (set:
// --with-label), --state and --category select, in one bulk call each,
// printing a line per task, oldest first; selectors beside ids and bad
// selects are refused.
func TestBulkSelect(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	a := enginetest.Generate(t, enginetest.Content{Name: "a.bin", Size: 90_000, Seed: 41})
	b := enginetest.Generate(t, enginetest.Content{Name: "b.bin", Size: 90_001, Seed: 42})
	c := enginetest.Generate(t, enginetest.Content{Name: "c.bin", Size: 90_002, Seed: 43})
	runAt(t, d, "add", torrentFile(t, a), "--label", "x").ok(t)
	runAt(t, d, "add", torrentFile(t, b)).ok(t)
	runAt(t, d, "add", torrentFile(t, c), "--label", "x").ok(t)
	for _, tr := range []*enginetest.Torrent{a, b, c} {
		waitState(t, d, tr.InfoHash, api.StateDownloading)
	}

	r := runAt(t, d, "pause", "--label", "x").ok(t)
	if want := "paused " + a.InfoHash + " a.bin\npaused " + c.InfoHash + " c.bin\n"; r.stdout != want {
		t.Errorf("pause --label x printed %q, want %q", r.stdout, want)
	}
	waitState(t, d, a.InfoHash, api.StatePaused)
	waitState(t, d, c.InfoHash, api.StatePaused)

	r = runAt(t, d, "set", "--state", "paused", "--label", "held").ok(t)
	if want := "set " + a.InfoHash + " a.bin\nset " + c.InfoHash + " c.bin\n"; r.stdout != want {
		t.Errorf("set --state paused printed %q, want %q", r.stdout, want)
	}
	cl := d.Client(t)
	for tr, want := range map[*enginetest.Torrent][]string{a: {"held"}, b: {}, c: {"held"}} {
		if task, err := cl.GetTask(t.Context(), tr.InfoHash); err != nil || !slices.Equal(task.Labels, want) {
			t.Errorf("labels of %s: %q, %v; want %q", tr.Name, task.Labels, err, want)
		}
	}

	r = runAt(t, d, "resume", "--all").ok(t)
	if got := lines(r.stdout); len(got) != 3 || got[1] != "resumed "+b.InfoHash+" b.bin" {
		t.Errorf("resume --all printed %q", r.stdout)
	}
	waitState(t, d, a.InfoHash, api.StateDownloading)

	runAt(t, d, "pause", "--all", a.InfoHash).fails(t, cli.ExitUsage, "not both")
	runAt(t, d, "rm", "--state", "asleep").fails(t, cli.ExitFailure, "invalid_params")
	if out := runAt(t, d, "pause", "--json", "--label", "none").ok(t).stdout; out != `{"results":[]}`+"\n" {
		t.Errorf("pause --json of no task printed %q", out)
	}

	r = runAt(t, d, "rm", "--label", "held", "--delete-data").ok(t)
	if want := "removed " + a.InfoHash + " a.bin (data deleted)\nremoved " + c.InfoHash + " c.bin (data deleted)\n"; r.stdout != want {
		t.Errorf("rm --label held printed %q, want %q", r.stdout, want)
	}
	if tasks, err := cl.ListTasks(t.Context()); err != nil || len(tasks) != 1 || tasks[0].TaskID != b.InfoHash {
		t.Errorf("tasks after rm --label held: %+v, %v; want only b", tasks, err)
	}
}
