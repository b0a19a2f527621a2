package daemon_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// queueOrder returns the ids of c's tasks by queue position, failing the
// test unless the positions are 0 to n-1.
func queueOrder(t *testing.T, c *client.Client) []string {
	t.Helper()
	tasks := listTasks(t, c)
	order := make([]string, len(tasks))
	for _, tk := range tasks {
		if tk.QueuePosition < 0 || tk.QueuePosition >= len(tasks) || order[tk.QueuePosition] != "" {
			t.Fatalf("queue positions are not 0 to %d: %+v", len(tasks)-1, tasks)
		}
		order[tk.QueuePosition] = tk.TaskID
	}
	return order
}

func sameOrder(got, want []string) bool { return fmt.Sprint(got) == fmt.Sprint(want) }

// TestQueueMoveOrdersDownloads: task.queue_move reorders the queue,
// publishes task.queue, survives a restart, and the download slot
// (max_active_downloads 1) follows it: the tasks download in the moved
// order from a real seeder.
func TestQueueMoveOrdersDownloads(t *testing.T) {
	var trs []*enginetest.Torrent
	for i := range 3 {
		trs = append(trs, enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("order-%d.bin", i), Size: 1 << 20, Seed: uint64(700 + i)}))
	}
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{MaxActiveDownloads: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range trs {
		ids = append(ids, addTorrent(t, c, tr).TaskID)
	}
	if got := queueOrder(t, c); !sameOrder(got, ids) {
		t.Fatalf("queue order %v, want the add order %v", got, ids)
	}
	moved, err := c.QueueMoveTask(ctxT(t, 5*time.Second), ids[2], api.QueueTop)
	if err != nil || moved.QueuePosition != 0 {
		t.Fatalf("move to the top: %+v, %v", moved, err)
	}
	ev := waitEvent(t, c, api.EventTaskQueue, 10*time.Second, forTask(ids[2]))
	if q := decode[api.TaskQueueData](t, ev.Data); q.From != 2 || q.To != 0 {
		t.Errorf("task.queue %+v, want from 2 to 0", q)
	}
	if _, err := c.QueueMoveTask(ctxT(t, 5*time.Second), ids[0], api.QueueDown); err != nil {
		t.Fatal(err)
	}
	want := []string{ids[2], ids[1], ids[0]}
	if got := queueOrder(t, c); !sameOrder(got, want) {
		t.Fatalf("queue order %v, want %v", got, want)
	}
	var ae *api.Error
	if _, err := c.QueueMoveTask(ctxT(t, 5*time.Second), ids[0], "first"); !asCode(err, &ae, api.CodeInvalidParams) {
		t.Errorf("move to %q: %v, want invalid_params", "first", err)
	}

	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	c = d.Client(t)
	if got := queueOrder(t, c); !sameOrder(got, want) {
		t.Fatalf("queue order after a restart %v, want %v", got, want)
	}
	waitTask(t, c, want[0], "the top task downloading after a restart", 30*time.Second, func(tk api.Task) bool { return tk.State == api.StateDownloading })
	for _, id := range want[1:] {
		if got := stateOf(t, c, id); got.State != api.StateQueued {
			t.Errorf("task %s after a restart: %s, want queued", id, got.State)
		}
	}
	// Now the data: one download at a time, in the queue order.
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, trs...)
	for _, tr := range trs {
		addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	}
	var order []string
	deadline := time.After(90 * time.Second)
	for len(order) < len(want) {
		select {
		case ev := <-c.Events():
			if ev.Name == api.EventTaskFinished {
				order = append(order, decode[api.TaskFinishedData](t, ev.Data).TaskID)
			}
		case <-deadline:
			t.Fatalf("finished only %v", order)
		}
	}
	if !sameOrder(order, want) {
		t.Errorf("finish order %v, want the queue order %v", order, want)
	}
}

// TestPerTaskSeedRatioLimit: in a real swarm, a task's own ratio limit
// stops its seeding, and -1 keeps another seeding past the session's
// limit.
func TestPerTaskSeedRatioLimit(t *testing.T) {
	own := enginetest.Generate(t, enginetest.Content{Name: "own-ratio.bin", Size: 1 << 20, Seed: 710})
	none := enginetest.Generate(t, enginetest.Content{Name: "no-ratio.bin", Size: 1 << 20, Seed: 711})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, own, none)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	resOwn, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: own.Magnet([]string{seeder.Addr}), SeedRatioLimit: ptr(0.5)})
	if err != nil {
		t.Fatal(err)
	}
	resNone := addMagnet(t, c, none.Magnet([]string{seeder.Addr}))
	set, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: resNone.TaskID, SeedRatioLimit: ptr(float64(api.SeedLimitNone))})
	if err != nil || set.SeedRatioLimit != api.SeedLimitNone {
		t.Fatalf("task.set seed_ratio_limit -1: %v, %v", set.SeedRatioLimit, err)
	}
	var ae *api.Error
	if _, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: resNone.TaskID, SeedRatioLimit: ptr(-0.25)}); !asCode(err, &ae, api.CodeInvalidParams) {
		t.Errorf("seed_ratio_limit -0.25: %v, want invalid_params", err)
	}
	waitAll(t, c, 60*time.Second, match{api.EventTaskFinished, forTask(resOwn.TaskID)}, match{api.EventTaskFinished, forTask(resNone.TaskID)})
	// A leecher takes both from the daemon alone (the seeder gone),
	// pushing both ratios to 1, past the session's 0.5.
	seeder.Close()
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{SeedRatioLimit: ptr(0.5)}); err != nil {
		t.Fatal(err)
	}
	leech := daemontest.Start(t, daemontest.Options{})
	lc := leech.Client(t)
	l1 := addMagnet(t, lc, own.Magnet([]string{peerAddr(t, d)}))
	l2 := addMagnet(t, lc, none.Magnet([]string{peerAddr(t, d)}))
	waitAll(t, lc, 60*time.Second, match{api.EventTaskFinished, forTask(l1.TaskID)}, match{api.EventTaskFinished, forTask(l2.TaskID)})
	waitEvent(t, c, api.EventTaskState, 30*time.Second, stateTo(resOwn.TaskID, api.StateFinished))
	if tk := stateOf(t, c, resOwn.TaskID); tk.Ratio < 0.5 || tk.SeedRatioLimit != 0.5 {
		t.Errorf("own-limit task finished at ratio %v, limit %v", tk.Ratio, tk.SeedRatioLimit)
	}
	// The poll that shows a ratio past 0.5 is the one that checked it.
	tk := waitTask(t, c, resNone.TaskID, "ratio past the session's limit", 30*time.Second, func(tk api.Task) bool { return tk.Ratio >= 0.5 })
	if tk.State != api.StateSeeding {
		t.Errorf("the task with no limit at ratio %v: %s, want seeding", tk.Ratio, tk.State)
	}
}

// TestTaskClocksKeptOverRestart: seconds_downloading, seconds_seeding and
// active_at of a real download are stored and read back after a restart.
func TestTaskClocksKeptOverRestart(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "clock.bin", Size: 3 << 20, Seed: 720})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	before := waitTask(t, c, res.TaskID, "a second of seeding", 30*time.Second, func(tk api.Task) bool { return tk.SecondsSeeding >= 1 })
	if before.SecondsDownloading < 1 || before.ActiveAt == "" {
		t.Fatalf("after a 3 s download: seconds_downloading %d, active_at %q", before.SecondsDownloading, before.ActiveAt)
	}
	if at, err := time.Parse(time.RFC3339, before.ActiveAt); err != nil || at.Before(time.Now().Add(-time.Minute)) {
		t.Errorf("active_at %q: %v", before.ActiveAt, err)
	}
	seeder.Close()
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	after := stateOf(t, d.Client(t), res.TaskID)
	if after.SecondsDownloading != before.SecondsDownloading || after.SecondsSeeding < before.SecondsSeeding || after.ActiveAt != before.ActiveAt {
		t.Errorf("after a restart: downloading %d seeding %d active %q; before: %d %d %q",
			after.SecondsDownloading, after.SecondsSeeding, after.ActiveAt,
			before.SecondsDownloading, before.SecondsSeeding, before.ActiveAt)
	}
}

// TestPrivateFlag: private is the info dictionary's flag.
func TestPrivateFlag(t *testing.T) {
	pub := enginetest.Generate(t, enginetest.Content{Name: "public.bin", Size: 100_000, Seed: 730})
	tr := enginetest.Generate(t, enginetest.Content{Name: "private.bin", Size: 100_000, Seed: 731})
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	public := addTorrent(t, c, pub)
	priv, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Paused: true,
		Data: base64.StdEncoding.EncodeToString(enginetest.Parse(t, tr.MetaInfo).WithPrivate())})
	if err != nil {
		t.Fatal(err)
	}
	if got := stateOf(t, c, priv.TaskID); !got.Private {
		t.Error("a private torrent's task: private false")
	}
	if got := stateOf(t, c, public.TaskID); got.Private {
		t.Error("a public torrent's task: private true")
	}
}

// TestReannounceReachesTracker: task.reannounce announces to the task's
// tracker at once, long before its 60 s interval; a paused task is
// refused.
func TestReannounceReachesTracker(t *testing.T) {
	tracker := enginetest.StartTracker(t)
	tr := enginetest.Generate(t, enginetest.Content{Name: "reannounce.bin", Size: 100_000, Seed: 740, Trackers: []string{tracker.URL}})
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addTorrent(t, c, tr)
	waitUntilAPI(t, "the first announce", 30*time.Second, func() bool { return tracker.Announces() >= 1 })
	// The first announce recorded, so task.trackers shows it.
	waitUntilAPI(t, "the first announce on record", 30*time.Second, func() bool {
		trs, err := c.TaskTrackers(ctxT(t, 5*time.Second), res.TaskID)
		return err == nil && len(trs) == 1 && trs[0].LastAnnounce != ""
	})
	first := tracker.Announces()
	if err := c.ReannounceTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	waitUntilAPI(t, "the reannounce", 20*time.Second, func() bool { return tracker.Announces() > first })

	if err := c.PauseTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	var ae *api.Error
	if err := c.ReannounceTask(ctxT(t, 5*time.Second), res.TaskID); !asCode(err, &ae, api.CodeTaskState) {
		t.Errorf("reannounce of a paused task: %v, want task_state", err)
	}
	if err := c.ReannounceTask(ctxT(t, 5*time.Second), "00000000000000000000000000000000000000ff"); !asCode(err, &ae, api.CodeTaskNotFound) {
		t.Errorf("reannounce of an unknown task: %v, want task_not_found", err)
	}
	raw := json.RawMessage(`{"task_id":7}`)
	if err := c.Call(ctxT(t, 5*time.Second), api.MethodTaskReannounce, raw, nil); !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
		t.Errorf("task_id 7: %v, want invalid_params", err)
	}
}

// TestReannounceKeepsTheTrackerGuard: task.reannounce goes through the
// same address guard as every announce (on the anacrolix core it makes
// its own announces): a tracker on this machine sees no request, and the
// refused attempt is on record.
func TestReannounceKeepsTheTrackerGuard(t *testing.T) {
	tracker := enginetest.StartTracker(t)
	tr := enginetest.Generate(t, enginetest.Content{Name: "guarded.bin", Size: 5000, Seed: 750, Trackers: []string{tracker.URL}})
	d := daemontest.Start(t, daemontest.Options{DenyPrivateTrackers: true})
	c := d.Client(t)
	res := addTorrent(t, c, tr)
	lastAnnounce := func() string {
		trs, err := c.TaskTrackers(ctxT(t, 5*time.Second), res.TaskID)
		if err != nil || len(trs) != 1 {
			t.Fatalf("task.trackers: %+v, %v", trs, err)
		}
		return trs[0].LastAnnounce
	}
	waitUntilAPI(t, "the first (refused) announce on record", 30*time.Second, func() bool { return lastAnnounce() != "" })
	first := lastAnnounce()
	// last_announce has whole seconds: let the next attempt show.
	time.Sleep(1100 * time.Millisecond)
	if err := c.ReannounceTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	waitUntilAPI(t, "the reannounce on record", 30*time.Second, func() bool { return lastAnnounce() != first })
	trs, _ := c.TaskTrackers(ctxT(t, 5*time.Second), res.TaskID)
	if trs[0].Status != "error" || !strings.Contains(trs[0].LastError, "not a public address") {
		t.Errorf("tracker after the reannounce: %+v, want the guard's refusal", trs[0])
	}
	if n := tracker.Announces(); n != 0 {
		t.Fatalf("the loopback tracker got %d announces", n)
	}
}
