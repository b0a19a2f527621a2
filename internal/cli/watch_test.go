package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/cli"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// watch follows a magnet download from a loopback seeder and exits 0 when
// it finishes; a --json watcher sees the same as events.
func TestWatchMagnet(t *testing.T) {
	t.Parallel()
	// Rate-limited so the download takes a few seconds and progress shows.
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20})
	tr := enginetest.Generate(t, enginetest.Content{Name: "watched.bin", Size: 3<<20 + 777, Seed: 10})
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	runAt(t, d, "add", tr.Magnet([]string{seeder.Addr})).ok(t)

	jsonDone := make(chan result, 1)
	go func() { jsonDone <- runAt(t, d, "watch", "--json") }()
	r := runAt(t, d, "watch").ok(t)
	t.Logf("watch output:\n%s", r.stdout)
	enginetest.SameFiles(t, tr, d.Dirs.Download)

	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if last := lines[len(lines)-1]; last != "all 1 watched task(s) finished" {
		t.Errorf("last line %q", last)
	}
	id8 := tr.InfoHash[:8]
	var bars, finished bool
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, id8+"  watched.bin  ") {
			t.Errorf("line not about the task: %q", l)
		}
		bars = bars || strings.Contains(l, "%") && strings.Contains(l, "B/s  eta ")
		finished = finished || strings.HasSuffix(l, "  finished")
	}
	if !bars || !finished {
		t.Errorf("want progress lines and a finish:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("terminal escapes written to a non-terminal:\n%q", r.stdout)
	}

	var jr result
	select {
	case jr = <-jsonDone:
	case <-time.After(30 * time.Second):
		t.Fatal("watch --json did not exit")
	}
	jr.ok(t)
	var sawFinished bool
	for _, l := range strings.Split(strings.TrimSuffix(jr.stdout, "\n"), "\n") {
		var ev api.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("watch --json line is not an event: %v: %q", err, l)
		}
		sawFinished = sawFinished || ev.Name == api.EventTaskFinished || ev.Name == api.EventTaskState && strings.Contains(string(ev.Data), `"to":"seeding"`)
	}
	if !sawFinished {
		t.Errorf("watch --json: no finish among\n%s", jr.stdout)
	}

	// Now nothing is downloading, and a seeding task counts as finished.
	if out := runAt(t, d, "watch").ok(t).stdout; !strings.HasPrefix(out, "nothing to watch") {
		t.Errorf("watch with nothing to do printed %q", out)
	}
	if out := runAt(t, d, "watch", id8).ok(t).stdout; !strings.HasSuffix(out, "  finished\nall 1 watched task(s) finished\n") {
		t.Errorf("watch of a seeding task printed %q", out)
	}
}

// startWatch runs watch in the background, returning its output buffer and
// its result channel.
func startWatch(t *testing.T, d *daemontest.Daemon, args ...string) (*syncbuf.Buffer, <-chan result) {
	t.Helper()
	var out, errb syncbuf.Buffer
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	full := append([]string{"watch", "--api-addr", d.APIAddr(), "--token", daemontest.Token}, args...)
	go func() {
		code := cli.Run(ctx, full, &out, &errb)
		done <- result{code, out.String(), errb.String()}
	}()
	return &out, done
}

func waitResult(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not exit")
		return result{}
	}
}

// watch exits 1 when the connection to the daemon ends.
func TestWatchConnectionLost(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	tr := enginetest.Generate(t, enginetest.Content{Name: "stuck.bin", Size: 100_000, Seed: 11})
	runAt(t, d, "add", torrentFile(t, tr)).ok(t) // no peers: never finishes
	out, done := startWatch(t, d)
	waitOutput(t, out, "stuck.bin")
	d.Stop(t)
	waitResult(t, done).fails(t, cli.ExitFailure, "lodestone: connection to the daemon lost: ")
}

// watch exits 1 when a watched task is removed, and is not fooled by
// changes to other tasks.
func TestWatchRemoved(t *testing.T) {
	t.Parallel()
	d := daemontest.Start(t, daemontest.Options{})
	tr := enginetest.Generate(t, enginetest.Content{Name: "doomed.bin", Size: 100_000, Seed: 12})
	other := enginetest.Generate(t, enginetest.Content{Name: "other.bin", Size: 100_000, Seed: 13})
	runAt(t, d, "add", torrentFile(t, tr), torrentFile(t, other)).ok(t)
	out, done := startWatch(t, d, tr.InfoHash[:10])
	waitOutput(t, out, "doomed.bin")
	runAt(t, d, "rm", other.InfoHash).ok(t)
	runAt(t, d, "pause", tr.InfoHash).ok(t)
	select {
	case r := <-done:
		t.Fatalf("watch exited early: %+v", r)
	case <-time.After(1500 * time.Millisecond):
	}
	runAt(t, d, "rm", tr.InfoHash).ok(t)
	waitResult(t, done).fails(t, cli.ExitFailure, "lodestone: task "+tr.InfoHash+" (doomed.bin) was removed while being watched\n")
}
