package cli_test

import (
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// trackers lists a task's trackers, and add and rm change them.
func TestTrackers(t *testing.T) {
	t.Parallel()
	tr := enginetest.Generate(t, enginetest.Content{Name: "tr.bin", Size: 100_000, Seed: 40})
	d := daemontest.Start(t, daemontest.Options{})
	id := tr.InfoHash
	runAt(t, d, "add", "--paused", torrentFile(t, tr)).ok(t)

	out := runAt(t, d, "trackers", id[:8]).ok(t).stdout
	if !strings.HasPrefix(out, "URL ") || !strings.Contains(out, "STATUS") {
		t.Errorf("trackers printed:\n%s", out)
	}
	before := len(lines(out))
	a, b := "http://127.0.0.1:1/announce", "udp://127.0.0.1:2/announce"
	out = runAt(t, d, "trackers", "add", id, a, b).ok(t).stdout
	if !strings.Contains(out, a+" ") || !strings.Contains(out, b+" ") || len(lines(out)) != before+2 {
		t.Errorf("trackers add printed:\n%s", out)
	}
	out = runAt(t, d, "trackers", "rm", id[:10], a).ok(t).stdout
	if strings.Contains(out, a) || !strings.Contains(out, b) {
		t.Errorf("trackers rm printed:\n%s", out)
	}
	out = runAt(t, d, "trackers", "--json", id).ok(t).stdout
	if !strings.Contains(out, `"url":"`+b+`"`) || strings.Contains(out, a) {
		t.Errorf("trackers --json printed %s", out)
	}
	runAt(t, d, "trackers", "add", id).fails(t, cli.ExitUsage, "add takes a task id and one or more tracker URLs")
	runAt(t, d, "trackers").fails(t, cli.ExitUsage, "no task id given")
	runAt(t, d, "trackers", "ffff").fails(t, cli.ExitFailure, `no task id starts with "ffff"`)
}
