package cli_test

import (
	"encoding/json"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// files lists a multi-file task (golden); set --skip/--normal/--high
// change the priorities task.files reports.
func TestFilesAndPriorities(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	// No peers: nothing is downloaded, so the table is the same every run.
	// (With an explicit selection: see TestFilesDefaultPriority.)
	tr := enginetest.Generate(t, enginetest.MultiFile(32))
	id := tr.InfoHash
	runAt(t, d, "add", "--files", "0,2,3,4", torrentFile(t, tr)).ok(t)
	waitState(t, d, id, api.StateDownloading)

	out := runAt(t, d, "files", id[:8]).ok(t).stdout
	if got := lines(out)[0]; got != "IDX  SIZE      DONE    PRIORITY  PATH" {
		t.Errorf("header %q", got)
	}
	golden(t, "files.golden", out)

	if out := runAt(t, d, "set", id[:8], "--high", "1").ok(t).stdout; out != "set "+id+" priorities: 1 high\n" {
		t.Errorf("set --high printed %q", out)
	}
	if got, want := priorities(taskFiles(t, d, id)), "0=normal 1=high 2=normal 3=normal 4=normal"; got != want {
		t.Errorf("after set --high 1: %s, want %s", got, want)
	}
	if out := runAt(t, d, "set", id, "--skip", "1").ok(t).stdout; out != "set "+id+" priorities: 1 skip\n" {
		t.Errorf("set --skip printed %q", out)
	}
	if got, want := priorities(taskFiles(t, d, id)), "0=normal 1=skip 2=normal 3=normal 4=normal"; got != want {
		t.Errorf("after set --skip 1: %s, want %s", got, want)
	}
	if row := lines(runAt(t, d, "files", id).ok(t).stdout)[2]; row != "1    64.0 KiB  0.0%    skip      multi/dir/b.bin" {
		t.Errorf("files row of the skipped file: %q", row)
	}

	// Several flags and a label at once; files not named keep theirs.
	out = runAt(t, d, "set", id, "--high", "4,0", "--skip", "2", "--label", "x").ok(t).stdout
	if want := "set " + id + " labels: x\nset " + id + " priorities: 0 high, 2 skip, 4 high\n"; out != want {
		t.Errorf("set printed %q, want %q", out, want)
	}
	if got, want := priorities(taskFiles(t, d, id)), "0=high 1=skip 2=skip 3=normal 4=high"; got != want {
		t.Errorf("after set --high 4,0 --skip 2: %s, want %s", got, want)
	}
	runAt(t, d, "set", id, "--normal", "2,0", "--normal", "4").ok(t)
	if got, want := priorities(taskFiles(t, d, id)), "0=normal 1=skip 2=normal 3=normal 4=normal"; got != want {
		t.Errorf("after set --normal 2,0 --normal 4: %s, want %s", got, want)
	}
	runAt(t, d, "set", id, "--skip", "5").fails(t, cli.ExitFailure, "file index 5 out of range", "(invalid_params)")

	var res api.TaskFilesResult
	out = runAt(t, d, "files", "--json", id).ok(t).stdout
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Files) != 5 || res.Files[1].Priority != "skip" {
		t.Errorf("files --json: %v: %s", err, out)
	}

	// A magnet without metadata has no files yet.
	mag := enginetest.Generate(t, enginetest.Content{Name: "nometa.bin", Size: 1000, Seed: 33})
	runAt(t, d, "add", mag.Magnet(nil)).ok(t)
	if out := runAt(t, d, "files", mag.InfoHash).ok(t).stdout; out != "IDX  SIZE  DONE  PRIORITY  PATH\n" {
		t.Errorf("files of a magnet without metadata: %q", out)
	}
	runAt(t, d, "set", mag.InfoHash, "--skip", "0").fails(t, cli.ExitFailure, "(invalid_params)")
}

// A task added without --files downloads every file: task.files should say
// normal for each.
func TestFilesDefaultPriority(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	tr := enginetest.Generate(t, enginetest.MultiFile(36))
	runAt(t, d, "add", torrentFile(t, tr)).ok(t)
	waitState(t, d, tr.InfoHash, api.StateDownloading)
	if got, want := priorities(taskFiles(t, d, tr.InfoHash)), "0=normal 1=normal 2=normal 3=normal 4=normal"; got != want {
		t.Errorf("priorities without --files: %s, want %s", got, want)
	}
}
