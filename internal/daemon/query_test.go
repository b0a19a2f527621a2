package daemon_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func TestListFiltersAndFields(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	a := addTorrent(t, c, enginetest.Generate(t, enginetest.Content{Name: "a.bin", Size: 100, Seed: 60}))
	b := addTorrent(t, c, enginetest.Generate(t, enginetest.Content{Name: "b.bin", Size: 100, Seed: 61}))
	if _, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: a.TaskID, Labels: &[]string{"linux", "iso", "linux"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.PauseTask(ctxT(t, 5*time.Second), b.TaskID); err != nil {
		t.Fatal(err)
	}
	byLabel, err := c.ListTasksWith(ctxT(t, 5*time.Second), api.TaskListParams{Label: "linux"})
	if err != nil || len(byLabel) != 1 || byLabel[0].TaskID != a.TaskID || len(byLabel[0].Labels) != 2 {
		t.Errorf("label filter: %+v, %v; want task a with labels [linux iso]", byLabel, err)
	}
	paused, err := c.ListTasksWith(ctxT(t, 5*time.Second), api.TaskListParams{State: api.StatePaused})
	if err != nil || len(paused) != 1 || paused[0].TaskID != b.TaskID {
		t.Errorf("state filter: %+v, %v", paused, err)
	}
	// Projection: only the fields asked for, plus task_id.
	var raw struct {
		Tasks []map[string]json.RawMessage `json:"tasks"`
	}
	if err := c.Call(ctxT(t, 5*time.Second), api.MethodTaskList, api.TaskListParams{Fields: []string{"name", "state"}}, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Tasks) != 2 {
		t.Fatalf("projection returned %d tasks", len(raw.Tasks))
	}
	for _, m := range raw.Tasks {
		if len(m) != 3 || m["task_id"] == nil || m["name"] == nil || m["state"] == nil {
			t.Errorf("projected task %v: want exactly task_id, name, state", m)
		}
	}
	var ae *api.Error
	if _, err := c.ListTasksWith(ctxT(t, 5*time.Second), api.TaskListParams{Fields: []string{"nope"}}); !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := c.ListTasksWith(ctxT(t, 5*time.Second), api.TaskListParams{State: "sleeping"}); !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
		t.Errorf("unknown state: %v", err)
	}
	// Labels persist.
	d.Stop(t)
	d2 := daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	task, err := d2.Client(t).GetTask(ctxT(t, 5*time.Second), a.TaskID)
	if err != nil || len(task.Labels) != 2 || task.Labels[0] != "linux" {
		t.Errorf("labels after restart: %+v, %v", task.Labels, err)
	}
}

// task.progress is opt-in, at most about once a second per task, and its
// completed count only grows until the finish.
func TestProgressEvents(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 2 << 20})
	tr := enginetest.Generate(t, enginetest.Content{Name: "prog.bin", Size: 6 << 20, Seed: 62})
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	plain := d.Client(t)
	c := d.Client(t)
	if err := c.Subscribe(ctxT(t, 5*time.Second), api.EventTaskProgress, api.EventTaskFinished); err != nil {
		t.Fatal(err)
	}
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	var progress []api.TaskProgressData
	var at []time.Time
	deadline := time.After(60 * time.Second)
loop:
	for {
		select {
		case ev := <-c.Events():
			switch ev.Name {
			case api.EventTaskProgress:
				progress = append(progress, decode[api.TaskProgressData](t, ev.Data))
				at = append(at, time.Now())
			case api.EventTaskFinished:
				break loop
			}
		case <-deadline:
			t.Fatal("no finish")
		}
	}
	if len(progress) < 2 {
		t.Fatalf("%d progress events for a ~3 s download, want several", len(progress))
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Completed < progress[i-1].Completed {
			t.Errorf("completed went down: %d then %d", progress[i-1].Completed, progress[i].Completed)
		}
		if progress[i].Downloaded < progress[i-1].Downloaded {
			t.Errorf("downloaded went down: %d then %d", progress[i-1].Downloaded, progress[i].Downloaded)
		}
	}
	// At most one per second (the poll runs twice a second).
	if span := at[len(at)-1].Sub(at[0]); float64(len(at)-1) > span.Seconds()+1 {
		t.Errorf("%d progress events in %v: more than one a second", len(at), span)
	}
	if last := progress[len(progress)-1]; last.Downloaded < last.Completed-(1<<20) || last.Downloaded <= 0 {
		t.Errorf("last progress: downloaded %d for completed %d", last.Downloaded, last.Completed)
	}
	if progress[0].TaskID != res.TaskID || progress[len(progress)-1].DownloadRate <= 0 {
		t.Errorf("progress %+v", progress[len(progress)-1])
	}
	// The default subscription does not include task.progress.
	for drained := false; !drained; {
		select {
		case ev := <-plain.Events():
			if ev.Name == api.EventTaskProgress || ev.Name == api.EventSessionStats {
				t.Fatalf("%s delivered without subscribing", ev.Name)
			}
		default:
			drained = true
		}
	}
	st, err := c.SessionStats(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if st.Tasks != 1 || st.Downloaded < 6<<20 || st.FreeDiskBytes <= 0 {
		t.Errorf("session.stats %+v", st)
	}
}

// A task that stops transferring gets one last task.progress with its
// rates at 0, and then no more: a client's screen never keeps a stale
// rate.
func TestProgressEndsAtZero(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20})
	tr := enginetest.Generate(t, enginetest.Content{Name: "stop.bin", Size: 16 << 20, Seed: 65})
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	ctx := ctxT(t, 60*time.Second)
	if err := c.Subscribe(ctx, api.EventTaskProgress); err != nil {
		t.Fatal(err)
	}
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskProgress, 30*time.Second, func(raw json.RawMessage) bool {
		var p api.TaskProgressData
		return json.Unmarshal(raw, &p) == nil && p.DownloadRate > 0
	})
	if err := c.PauseTask(ctx, res.TaskID); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, c, api.EventTaskProgress, 10*time.Second, func(raw json.RawMessage) bool {
		var p api.TaskProgressData
		return json.Unmarshal(raw, &p) == nil && p.State == api.StatePaused
	})
	if p := decode[api.TaskProgressData](t, ev.Data); p.DownloadRate != 0 || p.UploadRate != 0 {
		t.Errorf("the paused task's last snapshot: %+v, want both rates 0", p)
	}
	task, err := c.GetTask(ctx, res.TaskID)
	if err != nil || task.DownloadRate != 0 {
		t.Errorf("task.get of the paused task: rate %d, %v; want 0", task.DownloadRate, err)
	}
	// And no more snapshots of it while it stays paused.
	select {
	case ev := <-c.Events():
		t.Errorf("after the last snapshot: %s %s", ev.Name, ev.Data)
	case <-time.After(3 * time.Second):
	}
}
