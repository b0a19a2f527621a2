package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// peers shows the seeder a task is downloading from.
func TestPeers(t *testing.T) {
	t.Parallel()
	// Rate-limited so the download lasts while peers is run.
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20})
	tr := enginetest.Generate(t, enginetest.Content{Name: "peers.bin", Size: 8<<20 + 99, Seed: 34})
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	id := tr.InfoHash
	runAt(t, d, "peers", id).fails(t, cli.ExitFailure, "(task_not_found)")
	runAt(t, d, "add", tr.Magnet([]string{seeder.Addr})).ok(t)
	waitState(t, d, id, api.StateDownloading)

	var row string
	for deadline := time.Now().Add(30 * time.Second); row == ""; {
		out := runAt(t, d, "peers", id[:8]).ok(t).stdout
		ls := lines(out)
		if got := strings.Join(strings.Fields(ls[0]), " "); got != "ADDRESS CLIENT SOURCE NETWORK DOWN UP DONE" {
			t.Fatalf("header %q", ls[0])
		}
		for _, l := range ls[1:] {
			// The seeder has every piece once its bitfield arrived.
			if strings.HasPrefix(l, seeder.Addr+"  ") && strings.HasSuffix(l, "  100.0%") {
				row = l
			}
		}
		if row == "" && time.Now().After(deadline) {
			t.Fatalf("the seeder %s never showed:\n%s", seeder.Addr, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("peer row: %q", row)
	if !strings.Contains(row, "  direct  tcp") || !strings.Contains(row, "B/s") {
		t.Errorf("peer row %q: want source direct (magnet x.pe), network tcp and rates", row)
	}
	if task, err := d.Client(t).GetTask(t.Context(), id); err != nil || task.State != api.StateDownloading {
		t.Errorf("task %s, %v; want it still downloading", task.State, err)
	}

	var res api.TaskPeersResult
	out := runAt(t, d, "peers", "--json", id).ok(t).stdout
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("peers --json: %v: %s", err, out)
	}
	var found bool
	for _, p := range res.Peers {
		found = found || p.Address == seeder.Addr && p.Source == "direct"
	}
	if !found {
		t.Errorf("peers --json lacks the seeder: %s", out)
	}
}
