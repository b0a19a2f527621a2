package daemon_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

func TestDownloadDirAndMove(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(110))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	outside := t.TempDir()
	// A symlink inside the root pointing out of it.
	if err := os.Symlink(outside, filepath.Join(d.Dirs.Download, "escape")); err != nil {
		t.Fatal(err)
	}
	data := base64.StdEncoding.EncodeToString(tr.MetaInfo)
	var ae *api.Error
	for _, bad := range []string{outside, "../x", "escape", "escape/deeper"} {
		_, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: data, DownloadDir: bad})
		if !asCode(err, &ae, api.CodeInvalidParams) {
			t.Errorf("download_dir %q: %v, want invalid_params", bad, err)
		}
	}
	if tasks := listTasks(t, c); len(tasks) != 0 {
		t.Fatalf("refused adds left tasks: %+v", tasks)
	}

	res, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr}), DownloadDir: "movies/new"})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	first := filepath.Join(d.Dirs.Download, "movies", "new")
	enginetest.SameFiles(t, tr, first)

	moved, err := c.MoveTask(ctxT(t, 30*time.Second), res.TaskID, filepath.Join(d.Dirs.Download, "archive"))
	if err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(d.Dirs.Download, "archive")
	if moved.DownloadDir != second {
		t.Errorf("download_dir after move %q, want %q", moved.DownloadDir, second)
	}
	enginetest.SameFiles(t, tr, second)
	if _, err := os.Stat(filepath.Join(first, "multi")); !os.IsNotExist(err) {
		t.Errorf("old folder still there: %v", err)
	}
	// Still complete, from the moved data, after a restart too.
	d.Stop(t)
	seeder.Close()
	d2 := daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	task, err := d2.Client(t).GetTask(ctxT(t, 5*time.Second), res.TaskID)
	if err != nil || task.State != api.StateSeeding || task.Completed != task.Size || task.DownloadDir != second {
		t.Errorf("after move and restart: %+v, %v", task, err)
	}
	if _, err := d2.Client(t).MoveTask(ctxT(t, 5*time.Second), res.TaskID, outside); !asCode(err, &ae, api.CodeInvalidParams) {
		t.Errorf("move outside the roots: %v", err)
	}
}
