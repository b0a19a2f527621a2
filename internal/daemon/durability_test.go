package daemon_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
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

	// Wait for a third of the data, then a little more so the engine's
	// once-a-second completion checkpoint has run.
	deadline := time.Now().Add(60 * time.Second)
	for {
		task, err := c.GetTask(ctxT(t, 5*time.Second), res.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if task.Completed >= size/3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("download too slow: %+v", task)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	p.Kill(t)
	seeder.Close() // no peer: what the restart shows is what was on disk

	p2 := daemontest.StartProcess(t, dirs)
	c2 := daemontest.Dial(t, p2.URL)
	// Give the engine a moment to load completion for the restored task.
	var before api.Task
	for range 20 {
		var err error
		before, err = c2.GetTask(ctxT(t, 5*time.Second), res.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if before.Completed > 0 && before.State != api.StateChecking {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
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
	addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	time.Sleep(time.Second)
	took := p.Terminate(t)
	if took > 10*time.Second {
		t.Errorf("SIGTERM shutdown took %v, want a few seconds", took)
	}
	t.Logf("SIGTERM shutdown took %v", took)
}
