package daemon_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// A finished task comes back after a clean restart as seeding and
// complete, with no peer around, and does not announce its finish again.
func TestRestartKeepsFinishedTask(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(5))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	first := waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	d.Stop(t)
	seeder.Close()

	d2 := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c2 := d2.Client(t)
	task, err := c2.GetTask(ctxT(t, 10*time.Second), res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if task.State != api.StateSeeding || task.Completed != task.Size || task.Size == 0 || task.Name != "multi" {
		t.Fatalf("after restart: %+v, want seeding, complete, named from metadata", task)
	}
	enginetest.SameFiles(t, tr, dirs.Download)

	// Event IDs keep increasing across the restart, and no second
	// task.finished is sent for the same task.
	tr2 := enginetest.Generate(t, enginetest.Content{Name: "other.bin", Size: 1000, Seed: 6})
	addTorrent(t, c2, tr2)
	deadline := time.After(3 * time.Second)
	for {
		select {
		case ev := <-c2.Events():
			if ev.Name == api.EventTaskFinished && forTask(res.TaskID)(ev.Data) {
				t.Fatalf("task.finished sent again after restart: %s", ev.Data)
			}
			if seq(t, ev.ID) <= seq(t, first.ID) {
				t.Fatalf("event id %s after restart is not above %s", ev.ID, first.ID)
			}
		case <-deadline:
			return
		}
	}
}

func seq(t *testing.T, id string) uint64 {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		t.Fatalf("event id %q is not a sequence number", id)
	}
	return n
}

// An acknowledged task.add survives SIGKILL right after the answer.
func TestAckedAddSurvivesSIGKILL(t *testing.T) {
	dirs := daemontest.NewDirs(t)
	p := daemontest.StartProcess(t, dirs)
	c := daemontest.Dial(t, p.URL)
	var ids []string
	for i := range 5 {
		tr := enginetest.Generate(t, enginetest.Content{Name: "k" + strconv.Itoa(i), Size: 10_000, Seed: uint64(10 + i)})
		ids = append(ids, addTorrent(t, c, tr).TaskID)
	}
	magnet := enginetest.Generate(t, enginetest.Content{Name: "km", Size: 10_000, Seed: 20}).Magnet(nil)
	ids = append(ids, addMagnet(t, c, magnet).TaskID)
	p.Kill(t)

	p2 := daemontest.StartProcess(t, dirs)
	c2 := daemontest.Dial(t, p2.URL)
	tasks, err := c2.ListTasks(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, task := range tasks {
		have[task.TaskID] = true
	}
	for _, id := range ids {
		if !have[id] {
			t.Errorf("acknowledged task %s lost after SIGKILL", id)
		}
	}
}

// SIGKILL in the middle of a download: after a restart the task resumes
// from the pieces verified before the kill, not from zero, and finishes
// with every byte right.
func TestSIGKILLMidDownloadResumes(t *testing.T) {
	const size = 12 << 20
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 2 << 20})
	tr := enginetest.Generate(t, enginetest.Content{Name: "resume.bin", Size: size, PieceLength: 64 << 10, Seed: 7})
	seeder.Seed(t, tr)
	dirs := daemontest.NewDirs(t)
	p := daemontest.StartProcess(t, dirs)
	c := daemontest.Dial(t, p.URL)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))

	// Wait for a third of the data, then for the engine's completion
	// checkpoint, due within engine.CheckpointInterval of a piece's
	// verification: that bound is what the kill tests.
	waitTask(t, c, res.TaskID, "a third of the data", 60*time.Second, func(task api.Task) bool { return task.Completed >= size/3 })
	time.Sleep(engine.CheckpointInterval + 500*time.Millisecond)
	p.Kill(t)
	seeder.Close() // no peer: what the restart shows is what was on disk

	p2 := daemontest.StartProcess(t, dirs)
	c2 := daemontest.Dial(t, p2.URL)
	// The engine loads completion for the restored task.
	before := waitTask(t, c2, res.TaskID, "completion loaded after the restart", 10*time.Second, func(task api.Task) bool {
		return task.Completed > 0 && task.State != api.StateChecking
	})
	if before.Completed < size/4 || before.Completed >= size {
		t.Fatalf("after SIGKILL and restart: completed %d of %d, want the verified pieces kept (at least %d)", before.Completed, size, size/4)
	}
	t.Logf("kept %d of %d bytes across SIGKILL", before.Completed, size)

	// A fresh seeder on the same data: the download completes.
	seeder2 := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	addMagnet(t, c2, tr.Magnet([]string{seeder2.Addr}))
	waitEvent(t, c2, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, dirs.Download)
}

// SIGTERM stops the daemon cleanly, within a few seconds, even mid-download.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 1 << 20})
	tr := enginetest.Generate(t, enginetest.Content{Name: "term.bin", Size: 8 << 20, Seed: 8})
	seeder.Seed(t, tr)
	p := daemontest.StartProcess(t, daemontest.NewDirs(t))
	c := daemontest.Dial(t, p.URL)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitTask(t, c, res.TaskID, "the download under way", 30*time.Second, func(task api.Task) bool {
		return task.Completed > 0 && task.Completed < task.Size
	})
	took := p.Terminate(t)
	if took > 10*time.Second {
		t.Errorf("SIGTERM shutdown took %v, want a few seconds", took)
	}
	t.Logf("SIGTERM shutdown took %v", took)
}
