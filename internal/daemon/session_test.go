package daemon_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func ptr[T any](v T) *T { return &v }

// A global download limit caps the measured average rate.
func TestDownloadRateLimit(t *testing.T) {
	const limit = 1 << 20 // 1 MiB/s
	const size = 5 << 20
	tr := enginetest.Generate(t, enginetest.Content{Name: "limited.bin", Size: size, PieceLength: 64 << 10, Seed: 80})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{DownloadRateLimit: ptr[int64](limit)}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	took := time.Since(start)
	rate := float64(size) / took.Seconds()
	t.Logf("5 MiB at a 1 MiB/s limit: %v, %.0f KiB/s", took, rate/1024)
	// The first second's burst lets it run a little above; never far.
	if rate > 1.3*limit {
		t.Errorf("average %.0f KiB/s exceeds the 1024 KiB/s limit by more than 30%%", rate/1024)
	}
	if rate < 0.5*limit {
		t.Errorf("average %.0f KiB/s: far below the limit, the test says nothing", rate/1024)
	}
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

// max_active_downloads queues the rest, oldest first, and starts them as
// others finish; settings persist.
func TestQueue(t *testing.T) {
	var trs []*enginetest.Torrent
	for i := range 3 {
		trs = append(trs, enginetest.Generate(t, enginetest.Content{Name: "q" + string(rune('a'+i)) + ".bin", Size: 2 << 20, Seed: uint64(81 + i)}))
	}
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 4 << 20}, trs...)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{MaxActiveDownloads: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tr := range trs {
		ids = append(ids, addTorrent(t, c, tr).TaskID)
		// The queue's order is added_at, a wall-clock reading: no two
		// adds may share one on a coarse clock.
		time.Sleep(5 * time.Millisecond)
	}
	for _, tr := range trs {
		addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	}
	queued, err := c.ListTasksWith(ctxT(t, 5*time.Second), api.TaskListParams{State: api.StateQueued})
	if err != nil {
		t.Fatal(err)
	}
	if len(queued) != 2 || queued[0].TaskID != ids[1] || queued[1].TaskID != ids[2] {
		t.Fatalf("queued %+v, want the 2nd and 3rd task", queued)
	}
	// They finish in the order added.
	var order []string
	deadline := time.After(90 * time.Second)
	for len(order) < 3 {
		select {
		case ev := <-c.Events():
			if ev.Name == api.EventTaskFinished {
				order = append(order, decode[api.TaskFinishedData](t, ev.Data).TaskID)
			}
		case <-deadline:
			t.Fatalf("finished only %v", order)
		}
	}
	for i := range ids {
		if order[i] != ids[i] {
			t.Fatalf("finish order %v, want %v", order, ids)
		}
	}
	d.Stop(t)
	d2 := daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	set, err := d2.Client(t).Settings(ctxT(t, 5*time.Second))
	if err != nil || set.MaxActiveDownloads != 1 {
		t.Errorf("settings after restart: %+v, %v", set, err)
	}
}

// Seeding stops at the ratio limit: the task goes to finished.
func TestSeedRatioLimit(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "ratio.bin", Size: 1 << 20, Seed: 90})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	// A second leecher takes the data from the daemon (the only peer left:
	// no PEX to the seeder), pushing its ratio past 0.5.
	seeder.Close()
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{SeedRatioLimit: ptr(0.5)}); err != nil {
		t.Fatal(err)
	}
	leech := daemontest.Start(t, daemontest.Options{})
	lc := leech.Client(t)
	lres := addMagnet(t, lc, tr.Magnet([]string{peerAddr(t, d)}))
	waitEvent(t, lc, api.EventTaskFinished, 60*time.Second, forTask(lres.TaskID))
	waitEvent(t, c, api.EventTaskState, 30*time.Second, func(raw json.RawMessage) bool {
		var sd api.TaskStateData
		return json.Unmarshal(raw, &sd) == nil && sd.TaskID == res.TaskID && sd.To == api.StateFinished
	})
	if task := stateOf(t, c, res.TaskID); task.Ratio < 0.5 || task.State != api.StateFinished {
		t.Errorf("task %+v: want finished at ratio >= 0.5", task)
	}
	// Raise the limit and resume: it seeds again.
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{SeedRatioLimit: ptr(100.0)}); err != nil {
		t.Fatal(err)
	}
	if err := c.ResumeTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	if task := stateOf(t, c, res.TaskID); task.State != api.StateSeeding {
		t.Errorf("after resume with a higher limit: %s, want seeding", task.State)
	}
	var ae *api.Error
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{UploadRateLimit: ptr[int64](-1)}); !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
		t.Errorf("negative limit: %v", err)
	}
}

// max_active_seeds queues the later-finished seeds; settings persist.
func TestSeedQueueAndDefaults(t *testing.T) {
	a := enginetest.Generate(t, enginetest.Content{Name: "sa.bin", Size: 100_000, Seed: 130})
	b := enginetest.Generate(t, enginetest.Content{Name: "sb.bin", Size: 100_000, Seed: 131})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, a, b)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	set, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{
		MaxActiveSeeds: ptr(1), DownloadDir: ptr("incoming"), PeerPort: ptr(51413),
	})
	if err != nil {
		t.Fatal(err)
	}
	if set.MaxActiveSeeds != 1 || set.DownloadDir != filepath.Join(d.Dirs.Download, "incoming") || set.PeerPort != 51413 {
		t.Fatalf("session.set result %+v", set)
	}
	ra := addMagnet(t, c, a.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(ra.TaskID))
	rb := addMagnet(t, c, b.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(rb.TaskID))
	// New tasks went to the default dir set above.
	enginetest.SameFiles(t, a, filepath.Join(d.Dirs.Download, "incoming"))
	waitUntilAPI(t, "the first seed seeding, the second queued", 10*time.Second, func() bool {
		return stateOf(t, c, ra.TaskID).State == api.StateSeeding && stateOf(t, c, rb.TaskID).State == api.StateQueued
	})
	var ae *api.Error
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{DownloadDir: ptr(t.TempDir())}); !asCode(err, &ae, api.CodeInvalidParams) {
		t.Errorf("default dir outside the roots: %v", err)
	}
	d.Stop(t)
	d2 := daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	set2, err := d2.Client(t).Settings(ctxT(t, 5*time.Second))
	if err != nil || set2.MaxActiveSeeds != 1 || set2.PeerPort != 51413 || set2.DownloadDir != set.DownloadDir {
		t.Errorf("after restart %+v, %v; want %+v", set2, err, set)
	}
}

func TestSequentialFlag(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(140))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr}), Sequential: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
	task := stateOf(t, c, res.TaskID)
	if !task.Sequential {
		t.Error("sequential not reported")
	}
	if task, err = c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: res.TaskID, Sequential: ptr(false)}); err != nil || task.Sequential {
		t.Errorf("set sequential false: %+v, %v", task.Sequential, err)
	}
}

// A per-task download limit caps that task while another runs free.
func TestTaskRateLimit(t *testing.T) {
	const limit = 512 << 10
	const size = 3 << 20
	slow := enginetest.Generate(t, enginetest.Content{Name: "slow.bin", Size: size, PieceLength: 64 << 10, Seed: 150})
	fast := enginetest.Generate(t, enginetest.Content{Name: "fast.bin", Size: size, PieceLength: 64 << 10, Seed: 151})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, slow, fast)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	rs, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(slow.MetaInfo), Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: rs.TaskID, DownloadRateLimit: ptr[int64](limit)})
	if err != nil || task.DownloadRateLimit != limit {
		t.Fatalf("task.set limit: %+v, %v", task, err)
	}
	start := time.Now()
	if err := c.ResumeTask(ctxT(t, 5*time.Second), rs.TaskID); err != nil {
		t.Fatal(err)
	}
	addMagnet(t, c, slow.Magnet([]string{seeder.Addr}))
	rf := addMagnet(t, c, fast.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(rf.TaskID))
	fastTook := time.Since(start)
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(rs.TaskID))
	took := time.Since(start)
	rate := float64(size) / took.Seconds()
	t.Logf("limited task: %.0f KiB/s (limit 512); unlimited task finished in %v", rate/1024, fastTook)
	if rate > 1.3*limit || rate < 0.5*limit {
		t.Errorf("limited task averaged %.0f KiB/s, want about 512", rate/1024)
	}
	if fastTook > took/2 {
		t.Errorf("the unlimited task (%v) was held back by the other's limit (%v)", fastTook, took)
	}
	enginetest.SameFiles(t, slow, d.Dirs.Download)
}

// A per-task upload limit caps what a leecher gets from it.
func TestTaskUploadLimit(t *testing.T) {
	const limit = 512 << 10
	const size = 2 << 20
	tr := enginetest.Generate(t, enginetest.Content{Name: "up.bin", Size: size, PieceLength: 64 << 10, Seed: 152})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	seeder.Close()
	if _, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: res.TaskID, UploadRateLimit: ptr[int64](limit)}); err != nil {
		t.Fatal(err)
	}
	leech := daemontest.Start(t, daemontest.Options{})
	lc := leech.Client(t)
	start := time.Now()
	lres := addMagnet(t, lc, tr.Magnet([]string{peerAddr(t, d)}))
	waitEvent(t, lc, api.EventTaskFinished, 60*time.Second, forTask(lres.TaskID))
	rate := float64(size) / time.Since(start).Seconds()
	t.Logf("upload at a 512 KiB/s task limit: %.0f KiB/s", rate/1024)
	if rate > 1.3*limit || rate < 0.5*limit {
		t.Errorf("leecher got %.0f KiB/s from a task limited to 512", rate/1024)
	}
	enginetest.SameFiles(t, tr, leech.Dirs.Download)
}

// Seeding stops at the time limit.
func TestSeedTimeLimit(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "time.bin", Size: 100_000, Seed: 180})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{SeedTimeLimit: ptr[int64](1)}); err != nil {
		t.Fatal(err)
	}
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	start := time.Now()
	waitEvent(t, c, api.EventTaskState, 10*time.Second, func(raw json.RawMessage) bool {
		var sd api.TaskStateData
		return json.Unmarshal(raw, &sd) == nil && sd.TaskID == res.TaskID && sd.To == api.StateFinished
	})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("finished %v after the finish, want about the 1 s limit", took)
	}
}

// Resuming or re-prioritising a queued task does not let it jump the
// queue.
func TestQueuedStaysQueued(t *testing.T) {
	a := enginetest.Generate(t, enginetest.Content{Name: "qa.bin", Size: 4 << 20, Seed: 190})
	b := enginetest.Generate(t, enginetest.MultiFile(191))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20}, a, b)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	if _, err := c.SetSettings(ctxT(t, 5*time.Second), api.SessionSetParams{MaxActiveDownloads: ptr(1)}); err != nil {
		t.Fatal(err)
	}
	addTorrent(t, c, a)
	time.Sleep(5 * time.Millisecond) // distinct added_at, as in TestQueue
	rb := addTorrent(t, c, b)
	addMagnet(t, c, a.Magnet([]string{seeder.Addr}))
	addMagnet(t, c, b.Magnet([]string{seeder.Addr}))
	if err := c.ResumeTask(ctxT(t, 5*time.Second), rb.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: rb.TaskID, FilePriorities: map[int]string{0: "high"}}); err != nil {
		t.Fatal(err)
	}
	// Letting time pass is the test: the queued task must not start.
	time.Sleep(1500 * time.Millisecond)
	if task := stateOf(t, c, rb.TaskID); task.State != api.StateQueued || task.Downloaded != 0 {
		t.Errorf("queued task after resume and set: state %s, downloaded %d; want queued, nothing", task.State, task.Downloaded)
	}
}
