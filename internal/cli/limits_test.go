package cli_test

import (
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// limits shows session.get's limits and sets them with session.set, sizes
// given in human units.
func TestLimits(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	out := runAt(t, d, "limits").ok(t).stdout
	for _, want := range []string{"download_rate_limit: none\n", "upload_rate_limit: none\n", "seed_ratio_limit: none\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("limits lacks %q:\n%s", want, out)
		}
	}
	out = runAt(t, d, "limits", "--down", "1MiB", "--up", "500KiB/s", "--max-downloads", "3", "--max-seeds", "none",
		"--ratio-limit", "1.5", "--seed-time-limit", "2h", "--seed-idle-limit", "90").ok(t).stdout
	want := "download_rate_limit: 1.0 MiB/s (1048576)\nupload_rate_limit: 500.0 KiB/s (512000)\nmax_active_downloads: 3\n" +
		"max_active_seeds: none\nseed_ratio_limit: 1.5\nseed_time_limit: 2h0m0s (7200)\nseed_idle_limit: 1m30s (90)\n"
	if out != want {
		t.Errorf("limits after set:\n%s\nwant:\n%s", out, want)
	}
	s, err := d.Client(t).Settings(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.DownloadRateLimit != 1<<20 || s.UploadRateLimit != 500<<10 || s.MaxActiveDownloads != 3 || s.SeedRatioLimit != 1.5 || s.SeedTimeLimit != 7200 || s.SeedIdleLimit != 90 {
		t.Errorf("session.get after limits: %+v", s)
	}
	// Decimal units, "none", and --json.
	out = runAt(t, d, "limits", "--down", "2MB", "--up", "none", "--json").ok(t).stdout
	if !strings.Contains(out, `"download_rate_limit":2000000`) || !strings.Contains(out, `"upload_rate_limit":0`) {
		t.Errorf("limits --json: %s", out)
	}
	runAt(t, d, "limits", "--down", "1XB").fails(t, cli.ExitUsage, `invalid value "1XB" for flag -down: want a size such as 500KiB`)
	runAt(t, d, "limits", "--max-downloads", "-1").fails(t, cli.ExitUsage, "want a whole number of 0 or more")
	runAt(t, d, "limits", "--ratio-limit", "session").fails(t, cli.ExitUsage, "session is for a task's own limit")
}

// set --down, --up and --sequential change a task's own rate caps and
// piece order (task.set).
func TestSetRatesAndSequential(t *testing.T) {
	t.Parallel()
	tr := enginetest.Generate(t, enginetest.Content{Name: "rates.bin", Size: 50_000, Seed: 43})
	d := daemontest.Start(t, daemontest.Options{})
	id := tr.InfoHash
	runAt(t, d, "add", "--paused", torrentFile(t, tr)).ok(t)
	out := runAt(t, d, "set", id[:8], "--down", "1MiB", "--up", "200KiB", "--sequential").ok(t).stdout
	if want := "set " + id + " rate limits: down 1.0 MiB/s, up 200.0 KiB/s\nset " + id + " sequential: true\n"; out != want {
		t.Errorf("set printed %q, want %q", out, want)
	}
	task, err := d.Client(t).GetTask(t.Context(), id)
	if err != nil || task.DownloadRateLimit != 1<<20 || task.UploadRateLimit != 200<<10 || !task.Sequential {
		t.Errorf("task.get after set: %+v, %v", task, err)
	}
	out = runAt(t, d, "set", id, "--down", "0", "--sequential=false").ok(t).stdout
	if want := "set " + id + " rate limits: down none, up 200.0 KiB/s\nset " + id + " sequential: false\n"; out != want {
		t.Errorf("set printed %q, want %q", out, want)
	}
	runAt(t, d, "set", id, "--up", "fast").fails(t, cli.ExitUsage, `invalid value "fast" for flag -up`)
}
