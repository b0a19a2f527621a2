package daemon_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// Skipped files' pieces are not downloaded; the task finishes when the
// wanted files are verified. multiFile: a.bin 100003, dir/b.bin 65536,
// dir/sub/c.txt 7, dir/empty 0, z.bin 1234567, in 32 KiB pieces: piece 4
// lies wholly inside b.bin.
func TestFileSelection(t *testing.T) {
	for _, viaMagnet := range []bool{false, true} {
		name := "torrent"
		if viaMagnet {
			name = "magnet"
		}
		t.Run(name, func(t *testing.T) {
			tr := enginetest.Generate(t, enginetest.MultiFile(70))
			seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
			d := daemontest.Start(t, daemontest.Options{})
			c := d.Client(t)
			p := api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Files: []int{0, 2, 3, 4}}
			if viaMagnet {
				p = api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr}), Files: []int{0, 2, 3, 4}}
			}
			res, err := c.AddTask(ctxT(t, 10*time.Second), p)
			if err != nil {
				t.Fatal(err)
			}
			if !viaMagnet {
				addMagnet(t, c, tr.Magnet([]string{seeder.Addr})) // tell it the seeder
			}
			waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
			files, err := c.TaskFiles(ctxT(t, 5*time.Second), res.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 5 || files[1].Path != "multi/dir/b.bin" {
				t.Fatalf("task.files = %+v", files)
			}
			for i, f := range files {
				skipped := i == 1
				if skipped != (f.Priority == "skip") {
					t.Errorf("file %d priority %s", i, f.Priority)
				}
				if !skipped && f.Completed != f.Size {
					t.Errorf("wanted file %s: %d of %d", f.Path, f.Completed, f.Size)
				}
			}
			if files[1].Completed >= files[1].Size {
				t.Errorf("skipped file fully downloaded: %+v", files[1])
			}
			if task := stateOf(t, c, res.TaskID); task.State != api.StateSeeding || task.Completed >= task.Size {
				t.Errorf("task %+v: want seeding with the skipped part missing", task)
			}
			// Wanting the skipped file again downloads it.
			if _, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: res.TaskID, FilePriorities: map[int]string{1: "high"}}); err != nil {
				t.Fatal(err)
			}
			waitTask(t, c, res.TaskID, "the skipped file downloaded after un-skipping", 30*time.Second, func(task api.Task) bool { return task.Completed == task.Size })
			enginetest.SameFiles(t, tr, d.Dirs.Download)
			var ae *api.Error
			_, err = c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: res.TaskID, FilePriorities: map[int]string{9: "skip"}})
			if !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
				t.Errorf("out-of-range index: %v", err)
			}
		})
	}
}

func TestAddPausedWithLabels(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	tr := enginetest.Generate(t, enginetest.Content{Name: "p.bin", Size: 1000, Seed: 71})
	res, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true, Labels: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if task := stateOf(t, c, res.TaskID); task.State != api.StatePaused || len(task.Labels) != 1 {
		t.Errorf("task %+v: want paused with label x", task)
	}
	var ae *api.Error
	_, err = c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(enginetest.Generate(t, enginetest.Content{Name: "q.bin", Size: 10, Seed: 72}).MetaInfo), Files: []int{3}})
	if !errors.As(err, &ae) || ae.Code != api.CodeInvalidParams {
		t.Errorf("file index out of range: %v", err)
	}
}

// Skipping a file of a task added without a selection works too (the
// engine's DownloadAll would have overridden it).
func TestSkipAfterAdd(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(73))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	files := taskFiles(t, c, res.TaskID)
	if len(files) != 5 {
		t.Fatalf("task.files = %+v, want 5 files", files)
	}
	for _, f := range files {
		if f.Priority != "normal" {
			t.Fatalf("file %s priority %s before any selection, want normal", f.Path, f.Priority)
		}
	}
	if _, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: res.TaskID, FilePriorities: map[int]string{1: "skip"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.ResumeTask(ctxT(t, 5*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	files = taskFiles(t, c, res.TaskID)
	if files[1].Priority != "skip" || files[1].Completed >= files[1].Size {
		t.Errorf("skipped file: %+v", files[1])
	}
}
