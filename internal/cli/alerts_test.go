package cli_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// A task whose only tracker the daemon refuses (a loopback tracker,
// without --allow-private-trackers) shows a tracker alert: short in ls's
// ALERT column, in full in info. A task without trackers shows none.
func TestAlerts(t *testing.T) {
	t.Parallel()
	tracker := enginetest.StartTracker(t)
	guarded := enginetest.Generate(t, enginetest.Content{Name: "guarded.bin", Size: 5000, Seed: 41, Trackers: []string{tracker.URL}})
	quiet := enginetest.Generate(t, enginetest.Content{Name: "quiet.bin", Size: 5000, Seed: 42})
	d := daemontest.Start(t, daemontest.Options{DenyPrivateTrackers: true})
	runAt(t, d, "add", torrentFile(t, guarded), torrentFile(t, quiet)).ok(t)

	var info string
	deadline := time.Now().Add(60 * time.Second)
	for {
		info = runAt(t, d, "info", guarded.InfoHash).ok(t).stdout
		if strings.Contains(info, "alert: tracker ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("info never showed the tracker alert:\n%s", info)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var alert string
	for _, l := range lines(info) {
		if strings.HasPrefix(l, "alert: tracker ") {
			alert = l
		}
	}
	if !strings.Contains(alert, "/announce: ") || !strings.Contains(alert, "not a public address") {
		t.Errorf("info's alert line: %q", alert)
	}
	t.Logf("info: %s", alert)

	out := runAt(t, d, "ls").ok(t).stdout
	rows := lines(out)
	if len(rows) != 3 || !strings.HasSuffix(rows[0], "  ALERT") {
		t.Fatalf("ls:\n%s", out)
	}
	for _, row := range rows[1:] {
		switch {
		case strings.HasPrefix(row, guarded.InfoHash[:8]):
			if !strings.Contains(row, "  tracker: ") {
				t.Errorf("ls row of the guarded task has no tracker alert: %q", row)
			}
		case strings.HasPrefix(row, quiet.InfoHash[:8]):
			if !strings.HasSuffix(row, "  -") {
				t.Errorf("ls row of the task without trackers: %q", row)
			}
		default:
			t.Errorf("ls row %q", row)
		}
	}
	if info := runAt(t, d, "info", quiet.InfoHash).ok(t).stdout; strings.Contains(info, "alert:") {
		t.Errorf("info of a task without trackers shows an alert:\n%s", info)
	}
}
