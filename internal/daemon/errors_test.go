package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// A storage write failure puts the task in error with task.error and
// engine.alert; resume after fixing the cause finishes it.
func TestStorageErrorAndResume(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "blocked.bin", Size: 500_000, Seed: 160})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	// A directory where the file must go: every write fails.
	blocker := filepath.Join(d.Dirs.Download, "blocked.bin")
	if err := os.MkdirAll(filepath.Join(blocker, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	ev := waitEvent(t, c, api.EventTaskError, 60*time.Second, forTask(res.TaskID))
	if ed := decode[api.TaskErrorData](t, ev.Data); ed.Error == "" {
		t.Errorf("task.error without a message: %s", ev.Data)
	}
	if task := stateOf(t, c, res.TaskID); task.State != api.StateError || task.Error == "" {
		t.Errorf("task %+v, want state error with its reason", task)
	}
	// The API and other tasks are unaffected.
	other := enginetest.Generate(t, enginetest.Content{Name: "fine.bin", Size: 50_000, Seed: 161})
	seeder.Seed(t, other)
	ro := addMagnet(t, c, other.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(ro.TaskID))

	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	if err := c.ResumeTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

// task.recheck finds a corrupted piece, which is downloaded again.
func TestRecheckRepairs(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "check.bin", Size: 400_000, Seed: 170})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	path := filepath.Join(d.Dirs.Download, "check.bin")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("corrupt"), 100_000); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, c, res.TaskID)
	if err := c.RecheckTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	// The bad piece is found and fetched again: one more piece is
	// downloaded. The seeder, complete like us, may have been dropped when
	// we finished; a magnet added again brings its address back, as a
	// tracker would — repeatedly, since one added before the recheck
	// found the damage meets a complete task, and the two seeds part
	// again. (A core that keeps the seeder's address fetches the piece
	// within milliseconds, too fast to see the task incomplete.)
	var readded time.Time
	waitTask(t, c, res.TaskID, fmt.Sprintf("the damaged piece downloaded again (downloaded before: %d)", before.Downloaded), 60*time.Second, func(task api.Task) bool {
		if task.Downloaded >= before.Downloaded+32<<10 && task.Completed == task.Size {
			return true
		}
		if time.Since(readded) > 2*time.Second {
			addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
			readded = time.Now()
		}
		return false
	})
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}
