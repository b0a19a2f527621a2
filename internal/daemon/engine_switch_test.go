package daemon_test

import (
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Switching --engine keeps every task and byte: a task downloaded on one
// core comes back on the other complete, by hashing the data on disk,
// with no peer to download from; then back again.
func TestSwitchEngine(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(77))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs, Engine: engine.CoreAnacrolix})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	d.Stop(t)
	seeder.Close()

	for _, core := range []string{engine.CoreNative, engine.CoreAnacrolix} {
		d := daemontest.Start(t, daemontest.Options{Dirs: dirs, Engine: core})
		c := d.Client(t)
		var task api.Task
		waitUntilAPI(t, "the task complete on "+core, 60*time.Second, func() bool {
			task = stateOf(t, c, res.TaskID)
			return task.State == api.StateSeeding && task.Completed == task.Size
		})
		if task.Size == 0 {
			t.Fatalf("on %s: task %+v", core, task)
		}
		enginetest.SameFiles(t, tr, dirs.Download)
		d.Stop(t)
	}
}
