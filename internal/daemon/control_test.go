package daemon_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/version"
)

func TestPauseResume(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20})
	tr := enginetest.Generate(t, enginetest.Content{Name: "pause.bin", Size: 6 << 20, Seed: 30})
	seeder.Seed(t, tr)
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskMetadata, 30*time.Second, forTask(res.TaskID))

	if err := c.PauseTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskState, 10*time.Second, stateTo(res.TaskID, api.StatePaused))
	// While paused, nothing more is verified. Pieces in flight at the
	// pause may still land: wait until the count stops moving first.
	a := settledTask(t, c, res.TaskID, 500*time.Millisecond, 10*time.Second)
	// Letting time pass is the test: the paused task must not move on.
	time.Sleep(1500 * time.Millisecond)
	b := stateOf(t, c, res.TaskID)
	if a.State != api.StatePaused || b.State != api.StatePaused || b.Completed > a.Completed+(256<<10) {
		t.Fatalf("paused task moved on: %+v then %+v", a, b)
	}

	// Paused survives a restart.
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c = d.Client(t)
	if task := stateOf(t, c, res.TaskID); task.State != api.StatePaused {
		t.Fatalf("after restart: state %s, want paused", task.State)
	}
	if err := c.ResumeTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	addMagnet(t, c, tr.Magnet([]string{seeder.Addr})) // the seeder's address again
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, dirs.Download)
}

// settledTask waits until task id's completed bytes have not changed for
// quiet, and returns the task.
func settledTask(t *testing.T, c *client.Client, id string, quiet, timeout time.Duration) api.Task {
	t.Helper()
	var last api.Task
	since := time.Now()
	return waitTask(t, c, id, "completed bytes to settle", timeout, func(task api.Task) bool {
		if task.Completed != last.Completed {
			last, since = task, time.Now()
			return false
		}
		return time.Since(since) >= quiet
	})
}

func TestRemove(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(31))
	other := enginetest.Generate(t, enginetest.Content{Name: "other.bin", Size: 70_000, Seed: 32})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr, other)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	keep := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(keep.TaskID))
	gone := addMagnet(t, c, other.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(gone.TaskID))
	// A file of the user's inside the torrent's folder must survive.
	mine := filepath.Join(d.Dirs.Download, "multi", "dir", "mine.txt")
	if err := os.WriteFile(mine, []byte("not the torrent's"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Without data: the task goes, the files stay.
	if err := c.RemoveTask(ctxT(t, 10*time.Second), gone.TaskID, false); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskRemoved, 10*time.Second, forTask(gone.TaskID))
	if _, err := os.Stat(filepath.Join(d.Dirs.Download, "other.bin")); err != nil {
		t.Errorf("remove without delete_data deleted the data: %v", err)
	}
	// With data: the task's files go, the user's file and folder stay.
	if err := c.RemoveTask(ctxT(t, 10*time.Second), keep.TaskID, true); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, c, api.EventTaskRemoved, 10*time.Second, forTask(keep.TaskID))
	if rd := decode[api.TaskRemovedData](t, ev.Data); !rd.DataDeleted {
		t.Errorf("task.removed %s: want data_deleted", ev.Data)
	}
	for _, p := range []string{"multi/a.bin", "multi/dir/b.bin", "multi/dir/sub/c.txt", "multi/z.bin", "multi/dir/sub"} {
		if _, err := os.Stat(filepath.Join(d.Dirs.Download, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after remove with delete_data (%v)", p, err)
		}
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("the user's own file was deleted: %v", err)
	}
	if tasks := listTasks(t, c); len(tasks) != 0 {
		t.Errorf("tasks left: %+v", tasks)
	}
	var ae *api.Error
	if err := c.RemoveTask(ctxT(t, 5*time.Second), keep.TaskID, false); !errors.As(err, &ae) || ae.Code != api.CodeTaskNotFound {
		t.Errorf("second remove: %v, want task_not_found", err)
	}
	// Removed durably: not back after a restart.
	d.Stop(t)
	d2 := daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	if tasks := listTasks(t, d2.Client(t)); len(tasks) != 0 {
		t.Errorf("removed tasks back after restart: %+v", tasks)
	}
}

// A reconnecting client replays exactly the events it missed, once, in
// order, then gets live ones.
func TestReplayAfterDisconnect(t *testing.T) {
	trs := []*enginetest.Torrent{
		enginetest.Generate(t, enginetest.Content{Name: "r1.bin", Size: 300_000, Seed: 40}),
		enginetest.Generate(t, enginetest.Content{Name: "r2.bin", Size: 200_000, Seed: 41}),
	}
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, trs...)
	d := daemontest.Start(t, daemontest.Options{})
	watcher := d.Client(t) // sees everything live, for comparison
	c := d.Client(t)
	first := addTorrent(t, c, enginetest.Generate(t, enginetest.Content{Name: "r0.bin", Size: 10, Seed: 42}))
	last := waitEvent(t, c, api.EventTaskAdded, 10*time.Second, forTask(first.TaskID))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// While c is away, two tasks run to completion.
	other := d.Client(t)
	var ids []string
	for _, tr := range trs {
		ids = append(ids, addMagnet(t, other, tr.Magnet([]string{seeder.Addr})).TaskID)
	}
	// Everything the watcher sees after `last`, until both tasks finished
	// and turned to seeding, the last events they cause.
	var want []string
	collect := func(what string, timeout time.Duration, done func(api.Event) bool) {
		t.Helper()
		deadline := time.After(timeout)
		for {
			select {
			case ev, ok := <-watcher.Events():
				if !ok {
					t.Fatalf("watcher disconnected: %v", watcher.Err())
				}
				if seq(t, ev.ID) > seq(t, last.ID) {
					want = append(want, ev.ID)
				}
				if done(ev) {
					return
				}
			case <-deadline:
				t.Fatalf("%s: not within %v", what, timeout)
			}
		}
	}
	finished, seeding := map[string]bool{}, map[string]bool{}
	collect("both tasks finished and seeding", 60*time.Second, func(ev api.Event) bool {
		switch ev.Name {
		case api.EventTaskFinished:
			finished[decode[api.TaskFinishedData](t, ev.Data).TaskID] = true
		case api.EventTaskState:
			if sd := decode[api.TaskStateData](t, ev.Data); sd.To == api.StateSeeding {
				seeding[sd.TaskID] = true
			}
		}
		for _, id := range ids {
			if !finished[id] || !seeding[id] {
				return false
			}
		}
		return true
	})

	c2 := d.Client(t)
	res, err := c2.Replay(ctxT(t, 5*time.Second), last.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Complete {
		t.Errorf("replay incomplete: %+v", res)
	}
	seen := map[string]bool{}
	var got []string
	timeout := time.After(5 * time.Second)
	for len(got) < res.Replayed {
		select {
		case ev := <-c2.Events():
			if seen[ev.ID] {
				t.Fatalf("event %s delivered twice", ev.ID)
			}
			seen[ev.ID] = true
			got = append(got, ev.ID)
		case <-timeout:
			t.Fatalf("replayed %d of %d", len(got), res.Replayed)
		}
	}
	// Should anything have been logged after the tasks settled, the
	// watcher sees it too: compare up to the last event replayed.
	if n := len(got); n > 0 {
		end := seq(t, got[n-1])
		if len(want) == 0 || seq(t, want[len(want)-1]) < end {
			collect("the watcher to see the last event replayed", 5*time.Second, func(ev api.Event) bool { return seq(t, ev.ID) >= end })
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("replayed %v, want exactly what was missed: %v", got, want)
	}
	// Then live events follow with no gap.
	tr3 := enginetest.Generate(t, enginetest.Content{Name: "r3.bin", Size: 10, Seed: 43})
	id3 := addTorrent(t, other, tr3).TaskID
	ev := waitEvent(t, c2, api.EventTaskAdded, 5*time.Second, forTask(id3))
	if seen[ev.ID] || seq(t, ev.ID) <= seq(t, got[len(got)-1]) {
		t.Errorf("live event %s not after the replay", ev.ID)
	}
}

func TestSubscribeFilters(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	if err := c.Subscribe(ctxT(t, 5*time.Second), api.EventTaskRemoved); err != nil {
		t.Fatal(err)
	}
	res := addTorrent(t, c, enginetest.Generate(t, enginetest.Content{Name: "f.bin", Size: 10, Seed: 50}))
	if err := c.RemoveTask(ctxT(t, 5*time.Second), res.TaskID, false); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskRemoved, 5*time.Second, nil)
	select {
	case ev := <-c.Events():
		t.Errorf("unsubscribed event delivered: %s", ev.Name)
	default:
	}
	var ae *api.Error
	if err := c.Subscribe(ctxT(t, 5*time.Second), "no.such"); !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
		t.Errorf("unknown event name: %v", err)
	}
}

func TestServerInfo(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	info, err := d.Client(t).ServerInfo(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.APIVersion != api.Version || info.EngineVersion != "1.62.0" || info.Version != version.Get().Version {
		t.Errorf("server.info = %+v", info)
	}
}

// Shutting down closes connections with 1001 and a reason.
func TestShutdownCloseCode(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	d.Stop(t)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("connection still open after shutdown")
	}
	if st := websocket.CloseStatus(c.Err()); st != websocket.StatusGoingAway {
		t.Errorf("close status %v (%v), want 1001 going away", st, c.Err())
	}
}
