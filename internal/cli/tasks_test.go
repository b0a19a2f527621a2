package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// add by file and by magnet, then ls (golden), its filters and --json.
func TestAddAndLs(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	// No peers anywhere: the tasks stay at 0 B/s with 0 peers, so the
	// table is the same on every run.
	file := enginetest.Generate(t, enginetest.Content{Name: "golden file.bin", Size: 3<<20 + 12_345, Seed: 1})
	mag := enginetest.Generate(t, enginetest.Content{Name: "magnet.bin", Size: 70_000, Seed: 2})

	r := runAt(t, d, "add", torrentFile(t, file), "--label", "linux", "--label", "iso").ok(t)
	if want := "added " + file.InfoHash + " golden file.bin\n"; r.stdout != want {
		t.Errorf("add file printed %q, want %q", r.stdout, want)
	}
	r = runAt(t, d, "add", mag.Magnet(nil)).ok(t)
	if want := "added " + mag.InfoHash + " magnet.bin\n"; r.stdout != want {
		t.Errorf("add magnet printed %q, want %q", r.stdout, want)
	}
	waitState(t, d, file.InfoHash, api.StateDownloading)

	golden(t, "ls.golden", runAt(t, d, "ls").ok(t).stdout)

	// Filters go to the daemon.
	if got := lines(runAt(t, d, "ls", "--state", "metadata").ok(t).stdout); len(got) != 2 || !strings.HasPrefix(got[1], mag.InfoHash[:8]+"  magnet.bin") {
		t.Errorf("ls --state metadata:\n%s", strings.Join(got, "\n"))
	}
	if got := lines(runAt(t, d, "ls", "--label", "iso").ok(t).stdout); len(got) != 2 || !strings.HasPrefix(got[1], file.InfoHash[:8]+"  golden file.bin") {
		t.Errorf("ls --label iso:\n%s", strings.Join(got, "\n"))
	}
	if got := lines(runAt(t, d, "ls", "--state", "seeding").ok(t).stdout); len(got) != 1 || !strings.HasPrefix(got[0], "ID  ") {
		t.Errorf("ls --state seeding: want the header only:\n%s", strings.Join(got, "\n"))
	}
	runAt(t, d, "ls", "--state", "sleeping").fails(t, cli.ExitFailure, `unknown state "sleeping" (invalid_params)`)

	// --json: the task.list result, every field of every task.
	var list api.TaskListResult
	out := runAt(t, d, "ls", "--json").ok(t).stdout
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("ls --json is not JSON: %v\n%s", err, out)
	}
	if len(list.Tasks) != 2 || list.Tasks[0].TaskID != file.InfoHash || list.Tasks[0].AddedAt == "" ||
		fmt.Sprint(list.Tasks[0].Labels) != "[linux iso]" || list.Tasks[1].TaskID != mag.InfoHash {
		t.Errorf("ls --json: %+v", list.Tasks)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("ls --json: want one object on one line:\n%s", out)
	}

	// add --json prints the task.add result; adding again is no error.
	var added api.TaskAddResult
	out = runAt(t, d, "add", "--json", torrentFile(t, file)).ok(t).stdout
	if err := json.Unmarshal([]byte(out), &added); err != nil || added.TaskID != file.InfoHash || added.Size != 3<<20+12_345 {
		t.Errorf("add --json: %v: %s", err, out)
	}
}

func TestInfo(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	tr := enginetest.Generate(t, enginetest.Content{Name: "info.bin", Size: 1 << 20, Seed: 3})
	runAt(t, d, "add", torrentFile(t, tr), "--label", "x").ok(t)
	waitState(t, d, tr.InfoHash, api.StateDownloading)

	// A unique prefix, in upper case, names the task.
	out := runAt(t, d, "info", strings.ToUpper(tr.InfoHash[:5])).ok(t).stdout
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(got) != len(api.TaskFieldNames) {
		t.Errorf("info printed %d lines, want one per task field (%d):\n%s", len(got), len(api.TaskFieldNames), out)
	}
	for i, f := range api.TaskFieldNames {
		if i < len(got) && !strings.HasPrefix(got[i], f+": ") {
			t.Errorf("line %d is %q, want field %s", i+1, got[i], f)
		}
	}
	for _, want := range []string{
		"task_id: " + tr.InfoHash,
		"name: info.bin",
		"size: 1.0 MiB (1048576)",
		"completed: 0 B (0)",
		"state: downloading",
		"error: -",
		"finished_at: -",
		"download_rate: 0 B/s (0)",
		"peers: 0",
		"eta_seconds: - (-1)",
		"pieces: 32",
		"piece_size: 32.0 KiB (32768)",
		"labels: x",
		"download_dir: " + downloadDir(t, d),
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}

	var task api.Task
	out = runAt(t, d, "info", "--json", tr.InfoHash).ok(t).stdout
	if err := json.Unmarshal([]byte(out), &task); err != nil || task.TaskID != tr.InfoHash || task.Pieces != 32 {
		t.Errorf("info --json: %v: %s", err, out)
	}

	unknown := "0000000000"
	if strings.HasPrefix(tr.InfoHash, unknown[:1]) {
		unknown = "ffffffffff"
	}
	runAt(t, d, "info", unknown).fails(t, cli.ExitFailure,
		fmt.Sprintf("lodestone: no task id starts with %q (task_not_found)\n", unknown))
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	a := enginetest.Generate(t, enginetest.Content{Name: "a.bin", Size: 100_000, Seed: 4})
	b := enginetest.Generate(t, enginetest.Content{Name: "b.bin", Size: 100_000, Seed: 5})
	runAt(t, d, "add", torrentFile(t, a), torrentFile(t, b)).ok(t)

	r := runAt(t, d, "pause", a.InfoHash[:8], b.InfoHash).ok(t)
	if want := "paused " + a.InfoHash + " a.bin\npaused " + b.InfoHash + " b.bin\n"; r.stdout != want {
		t.Errorf("pause printed %q, want %q", r.stdout, want)
	}
	waitState(t, d, a.InfoHash, api.StatePaused)
	waitState(t, d, b.InfoHash, api.StatePaused)

	r = runAt(t, d, "resume", a.InfoHash[:8]).ok(t)
	if want := "resumed " + a.InfoHash + " a.bin\n"; r.stdout != want {
		t.Errorf("resume printed %q, want %q", r.stdout, want)
	}
	waitState(t, d, a.InfoHash, api.StateDownloading)
	waitState(t, d, b.InfoHash, api.StatePaused)

	if out := runAt(t, d, "resume", "--json", b.InfoHash).ok(t).stdout; out != "{}\n" {
		t.Errorf("resume --json printed %q, want the result {}", out)
	}
	waitState(t, d, b.InfoHash, api.StateDownloading)

	// One bad id and nothing is paused.
	runAt(t, d, "pause", a.InfoHash, "ffffffffffffffff").fails(t, cli.ExitFailure, "(task_not_found)")
	if task, err := d.Client(t).GetTask(t.Context(), a.InfoHash); err != nil || task.State != api.StateDownloading {
		t.Errorf("after a failed pause: %s, %v; want it still downloading", task.State, err)
	}
}

func TestSetLabels(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	tr := enginetest.Generate(t, enginetest.Content{Name: "set.bin", Size: 1000, Seed: 6})
	runAt(t, d, "add", torrentFile(t, tr), "--label", "old").ok(t)
	id := tr.InfoHash

	if out := runAt(t, d, "set", id[:6], "--label", "b", "--label", "a", "--label", "b").ok(t).stdout; out != "set "+id+" labels: b,a\n" {
		t.Errorf("set printed %q", out)
	}
	var task api.Task
	out := runAt(t, d, "set", "--json", "--label", "c", id).ok(t).stdout
	if err := json.Unmarshal([]byte(out), &task); err != nil || fmt.Sprint(task.Labels) != "[c]" {
		t.Errorf("set --json: %v: %s", err, out)
	}
	if out := runAt(t, d, "set", id, "--label", "").ok(t).stdout; out != "set "+id+" labels: (none)\n" {
		t.Errorf("set --label '' printed %q", out)
	}
	if got, _ := d.Client(t).GetTask(t.Context(), id); len(got.Labels) != 0 {
		t.Errorf("labels not cleared: %v", got.Labels)
	}
	runAt(t, d, "set", id, "--label", strings.Repeat("x", 65)).fails(t, cli.ExitFailure, "(invalid_params)")
}

func TestRemove(t *testing.T) {
	t.Parallel()
	tr := enginetest.Generate(t, enginetest.Content{
		Name: "rm",
		Files: []enginetest.File{
			{Path: "a.bin", Size: 100_003},
			{Path: "dir/sub/c.txt", Size: 7},
		},
		Seed: 7,
	})
	keep := enginetest.Generate(t, enginetest.Content{Name: "keep.bin", Size: 50_000, Seed: 8})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr, keep)
	d := daemontest.Start(t, daemontest.Options{})
	runAt(t, d, "add", tr.Magnet([]string{seeder.Addr}), keep.Magnet([]string{seeder.Addr})).ok(t)
	runAt(t, d, "watch", tr.InfoHash[:8], keep.InfoHash[:8]).ok(t)
	enginetest.SameFiles(t, tr, d.Dirs.Download)

	// Without --delete-data the files stay.
	if out := runAt(t, d, "rm", "--json", keep.InfoHash[:8]).ok(t).stdout; out != "{}\n" {
		t.Errorf("rm --json printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(d.Dirs.Download, "keep.bin")); err != nil {
		t.Errorf("rm without --delete-data deleted the data: %v", err)
	}
	// With it the task's files go.
	r := runAt(t, d, "rm", tr.InfoHash[:8], "--delete-data").ok(t)
	if want := "removed " + tr.InfoHash + " rm (data deleted)\n"; r.stdout != want {
		t.Errorf("rm printed %q, want %q", r.stdout, want)
	}
	if _, err := os.Stat(filepath.Join(d.Dirs.Download, "rm")); !os.IsNotExist(err) {
		t.Errorf("rm --delete-data left the files: %v", err)
	}
	if out := runAt(t, d, "ls").ok(t).stdout; strings.Count(out, "\n") != 1 {
		t.Errorf("tasks left after rm:\n%s", out)
	}
	runAt(t, d, "rm", tr.InfoHash).fails(t, cli.ExitFailure, "(task_not_found)")
}

func TestStats(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	tr := enginetest.Generate(t, enginetest.Content{Name: "stats.bin", Size: 1000, Seed: 9})
	runAt(t, d, "add", torrentFile(t, tr)).ok(t)
	runAt(t, d, "pause", tr.InfoHash).ok(t)
	waitState(t, d, tr.InfoHash, api.StatePaused)

	out := runAt(t, d, "stats").ok(t).stdout
	got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	keys := []string{"download_rate", "upload_rate", "downloaded", "uploaded", "tasks",
		"tasks.metadata", "tasks.checking", "tasks.downloading", "tasks.seeding", "tasks.paused", "tasks.error",
		"tasks.queued", "tasks.finished", "free_disk"}
	if len(got) != len(keys) {
		t.Fatalf("stats printed %d lines, want %d:\n%s", len(got), len(keys), out)
	}
	for i, k := range keys {
		if !strings.HasPrefix(got[i], k+": ") {
			t.Errorf("line %d is %q, want key %s", i+1, got[i], k)
		}
	}
	for _, want := range []string{"download_rate: 0 B/s (0)\n", "tasks: 1\n", "tasks.paused: 1\n", "tasks.downloading: 0\n", "tasks.finished: 0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}

	var st api.SessionStats
	out = runAt(t, d, "stats", "--json").ok(t).stdout
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Tasks != 1 || st.TasksByState[api.StatePaused] != 1 || st.FreeDiskBytes <= 0 {
		t.Errorf("stats --json: %v: %s", err, out)
	}
}

func TestBadToken(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	r := run(t, "ls", "--api-addr", d.APIAddr(), "--token", "wrong")
	r.fails(t, cli.ExitFailure, "lodestone: the daemon at "+d.URL+" refused the token from --token (HTTP 401)", "(unauthorized)\n")
	if r.stdout != "" {
		t.Errorf("stdout: %q", r.stdout)
	}
}

// The token comes from --token, else $LODESTONE_TOKEN, else the data dir's
// token file; --api-addr also takes the full URL.
func TestTokenSources(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	xdg := t.TempDir()
	dataDir := filepath.Join(xdg, "lodestone")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataDir, "token"), []byte(daemontest.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(cli.TokenEnv, "")
	run(t, "ls", "--api-addr", d.URL, "--data-dir", dataDir).ok(t)
	t.Setenv("XDG_DATA_HOME", xdg)
	run(t, "ls", "--api-addr", d.APIAddr()).ok(t)
	t.Setenv(cli.TokenEnv, daemontest.Token)
	run(t, "ls", "--api-addr", d.APIAddr(), "--data-dir", t.TempDir()).ok(t)
	// --token wins over the environment.
	run(t, "ls", "--api-addr", d.APIAddr(), "--token", "wrong").fails(t, cli.ExitFailure, "(unauthorized)")
}
