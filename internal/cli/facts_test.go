package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// queue moves a task in the queue order, set gives it seeding limits,
// reannounce reaches its tracker; bad arguments are usage errors.
func TestQueueLimitsReannounce(t *testing.T) {
	t.Parallel()
	tracker := enginetest.StartTracker(t)
	d := daemontest.Start(t, daemontest.Options{})
	a := enginetest.Generate(t, enginetest.Content{Name: "qa.bin", Size: 100_000, Seed: 41, Trackers: []string{tracker.URL}})
	b := enginetest.Generate(t, enginetest.Content{Name: "qb.bin", Size: 100_000, Seed: 42})
	runAt(t, d, "add", torrentFile(t, a), torrentFile(t, b)).ok(t)

	if out := runAt(t, d, "queue", b.InfoHash[:8], "top").ok(t).stdout; out != "queued "+b.InfoHash+" qb.bin at 0\n" {
		t.Errorf("queue top printed %q", out)
	}
	if out := runAt(t, d, "info", a.InfoHash).ok(t).stdout; !strings.Contains(out, "\nqueue_position: 1\n") {
		t.Errorf("info after the move:\n%s", out)
	}
	runAt(t, d, "queue", a.InfoHash, "sideways").fails(t, cli.ExitUsage, `move "sideways": want top, up, down or bottom`)
	runAt(t, d, "queue", a.InfoHash).fails(t, cli.ExitUsage, "no move given")

	out := runAt(t, d, "set", a.InfoHash, "--ratio-limit", "1.5", "--seed-time-limit", "2h", "--seed-idle-limit", "none").ok(t).stdout
	if want := "set " + a.InfoHash + " seeding limits: ratio 1.5, time 2h0m0s, idle none\n"; out != want {
		t.Errorf("set limits printed %q, want %q", out, want)
	}
	out = runAt(t, d, "set", a.InfoHash, "--seed-time-limit", "session", "--seed-idle-limit", "90").ok(t).stdout
	if want := "set " + a.InfoHash + " seeding limits: ratio 1.5, time session, idle 1m30s\n"; out != want {
		t.Errorf("set limits printed %q, want %q", out, want)
	}
	runAt(t, d, "set", a.InfoHash, "--ratio-limit", "-1").fails(t, cli.ExitUsage, "want a ratio of 0 or more, none or session")
	runAt(t, d, "set", a.InfoHash, "--seed-time-limit", "1.5").fails(t, cli.ExitUsage, "want whole seconds or a duration")

	waitUntil(t, func() bool { return tracker.Announces() >= 1 })
	first := tracker.Announces()
	if out := runAt(t, d, "reannounce", a.InfoHash[:8]).ok(t).stdout; out != "reannounced "+a.InfoHash+" qa.bin\n" {
		t.Errorf("reannounce printed %q", out)
	}
	waitUntil(t, func() bool { return tracker.Announces() > first })
	runAt(t, d, "pause", a.InfoHash).ok(t)
	runAt(t, d, "reannounce", a.InfoHash).fails(t, cli.ExitFailure, "(task_state)")
}

// waitUntil polls cond until it holds, failing the test after 30 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
