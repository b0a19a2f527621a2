package daemon_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// A task owns its paths, and only its paths (issue 15, items 1 and 3).

// mustRead returns the file at path, failing the test if it cannot be
// read.
func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// Two torrents of the same name (other info-hashes) cannot share a file:
// the second is refused at task.add with 207 naming the first (.torrent),
// or stops in error naming it when its metadata arrives (magnet); it
// writes nothing over the first's finished file, and removing it with
// delete_data leaves that file, which the first keeps seeding.
func TestSameNamedTasksCannotSharePaths(t *testing.T) {
	a := enginetest.Generate(t, enginetest.Content{Name: "shared.bin", Size: 300_000, Seed: 1501})
	b := enginetest.Generate(t, enginetest.Content{Name: "shared.bin", Size: 300_000, Seed: 1502})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, a, b)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)

	resA := addMagnet(t, c, a.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(resA.TaskID))
	path := filepath.Join(d.Dirs.Download, "shared.bin")
	want := mustRead(t, filepath.Join(a.Root, a.Name))

	_, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(b.MetaInfo)})
	var ae *api.Error
	if !asCode(err, &ae, api.CodePathConflict) || !strings.Contains(ae.Message, resA.TaskID) {
		t.Fatalf("task.add of a same-named .torrent: %v, want 207 path_conflict naming task %s", err, resA.TaskID)
	}

	resB := addMagnet(t, c, b.Magnet([]string{seeder.Addr}))
	ev := waitEvent(t, c, api.EventTaskError, 60*time.Second, forTask(resB.TaskID))
	if te := decode[api.TaskErrorData](t, ev.Data); !strings.Contains(te.Error, resA.TaskID) {
		t.Errorf("task.error of the same-named magnet %q, want it to name task %s", te.Error, resA.TaskID)
	}
	if err := c.RemoveTask(ctxT(t, 10*time.Second), resB.TaskID, true); err != nil {
		t.Fatalf("task.remove with delete_data: %v", err)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the first task's file after the second came and went: %v (same bytes: %v)", err, bytes.Equal(got, want))
	}
	if err := c.RecheckTask(ctxT(t, 10*time.Second), resA.TaskID); err != nil {
		t.Fatal(err)
	}
	waitTask(t, c, resA.TaskID, "the first task seeding its whole file after a recheck", 30*time.Second, func(tk api.Task) bool {
		return tk.State == api.StateSeeding && tk.Completed == tk.Size
	})
}

// A file that was in the download dir before a task is never overwritten
// with other bytes: the task stops in error naming it, and task.remove
// with delete_data leaves it. One that holds the task's data is verified
// and adopted: the task seeds it without downloading, and then owns it.
func TestFilesFoundOnDiskAreCheckedNotOverwritten(t *testing.T) {
	photos := enginetest.Content{Name: "Photos", Seed: 1503, Files: []enginetest.File{{Path: "IMG_0001.jpg", Size: 200_000}, {Path: "IMG_0002.jpg", Size: 90_000}}}
	tr := enginetest.Generate(t, photos)
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)

	t.Run("other contents", func(t *testing.T) {
		d := daemontest.Start(t, daemontest.Options{})
		c := d.Client(t)
		mine := filepath.Join(d.Dirs.Download, "Photos", "IMG_0001.jpg")
		if err := os.MkdirAll(filepath.Dir(mine), 0o755); err != nil {
			t.Fatal(err)
		}
		own := bytes.Repeat([]byte("the user's own photo "), 5000)
		if err := os.WriteFile(mine, own, 0o644); err != nil {
			t.Fatal(err)
		}
		res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
		ev := waitEvent(t, c, api.EventTaskError, 60*time.Second, forTask(res.TaskID))
		if te := decode[api.TaskErrorData](t, ev.Data); !strings.Contains(te.Error, "existed before this task") || !strings.Contains(te.Error, "IMG_0001.jpg") {
			t.Errorf("task.error %q, want it to name the file that existed before", te.Error)
		}
		if got := mustRead(t, mine); !bytes.Equal(got, own) {
			t.Fatalf("the user's file was overwritten")
		}
		// The foreign file is on record: a restart checks it again
		// before anything is downloaded.
		d.Stop(t)
		d = daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
		c = d.Client(t)
		waitTask(t, c, res.TaskID, "still stopped after a restart", 30*time.Second, func(tk api.Task) bool {
			return tk.State == api.StateError && strings.Contains(tk.Error, "existed before this task")
		})
		if got := mustRead(t, mine); !bytes.Equal(got, own) {
			t.Fatalf("the user's file was overwritten after a restart")
		}
		if err := c.RemoveTask(ctxT(t, 10*time.Second), res.TaskID, true); err != nil {
			t.Fatalf("task.remove with delete_data: %v", err)
		}
		if got := mustRead(t, mine); !bytes.Equal(got, own) {
			t.Fatalf("the user's file changed on remove")
		}
	})

	t.Run("the task's own data", func(t *testing.T) {
		d := daemontest.Start(t, daemontest.Options{})
		c := d.Client(t)
		// The user had one of the files already, byte for byte.
		src := mustRead(t, filepath.Join(tr.Root, "Photos", "IMG_0001.jpg"))
		mine := filepath.Join(d.Dirs.Download, "Photos", "IMG_0001.jpg")
		if err := os.MkdirAll(filepath.Dir(mine), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mine, src, 0o644); err != nil {
			t.Fatal(err)
		}
		res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
		waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
		enginetest.SameFiles(t, tr, d.Dirs.Download)
		if err := c.RemoveTask(ctxT(t, 10*time.Second), res.TaskID, true); err != nil {
			t.Fatalf("task.remove with delete_data: %v", err)
		}
		if _, err := os.Lstat(filepath.Join(d.Dirs.Download, "Photos")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after removing the task with its data, Photos: %v, want it gone (its files were verified as the task's)", err)
		}
	})
}

// A task in the default download dir stays where its data is when the
// daemon restarts with another --download-dir; once its dir is gone, it
// stops in error "data dir missing" and the dir is not made again.
func TestDefaultDirTaskStaysPut(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "pinned.bin", Size: 200_000, Seed: 1504})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	dirs := daemontest.NewDirs(t)
	d := daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	d.Stop(t)

	other := dirs
	other.Download = filepath.Join(t.TempDir(), "elsewhere")
	d2 := daemontest.Start(t, daemontest.Options{Dirs: other})
	c2 := d2.Client(t)
	tk := waitTask(t, c2, res.TaskID, "the task seeding from its own dir", 30*time.Second, func(tk api.Task) bool {
		return tk.State == api.StateSeeding || tk.State == api.StateError
	})
	if tk.DownloadDir != dirs.Download || tk.State != api.StateSeeding {
		t.Fatalf("after a restart with another download dir: dir %q state %s (%s), want %q seeding", tk.DownloadDir, tk.State, tk.Error, dirs.Download)
	}
	if _, err := os.Lstat(filepath.Join(other.Download, "pinned.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the task wrote into the new download dir: %v", err)
	}
	d2.Stop(t)

	if err := os.RemoveAll(dirs.Download); err != nil {
		t.Fatal(err)
	}
	d3 := daemontest.Start(t, daemontest.Options{Dirs: other})
	tk = stateOf(t, d3.Client(t), res.TaskID)
	if tk.State != api.StateError || !strings.Contains(tk.Error, "data dir missing") {
		t.Errorf("a task whose dir is gone: state %s (%q), want error \"data dir missing\"", tk.State, tk.Error)
	}
	if _, err := os.Lstat(dirs.Download); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the missing data dir was made again: %v", err)
	}
}

// A finished task whose file is deleted under it says so on its next
// recheck (an engine.alert), with both cores (one of which keeps reading
// a deleted file through its open handle), and downloads it again.
func TestFinishedTaskNoticesChangedData(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "changed.bin", Size: 200_000, Seed: 1505})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	if err := os.Remove(filepath.Join(d.Dirs.Download, "changed.bin")); err != nil {
		t.Fatal(err)
	}
	if err := c.RecheckTask(ctxT(t, 10*time.Second), res.TaskID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, alertMatching(res.TaskID, "changed or went missing"))
	waitTask(t, c, res.TaskID, "seeding again", 60*time.Second, func(tk api.Task) bool {
		return tk.State == api.StateSeeding && tk.Completed == tk.Size
	})
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}

// A finished task whose file is deleted under it notices on the next read
// of it through /files, with both cores: the read is refused (not served
// from a copy the engine holds open), the task is checked again, says so,
// and downloads the file again.
func TestFinishedTaskNoticesDeletedFileOnRead(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.Content{Name: "read.bin", Size: 200_000, Seed: 1506})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	res := addMagnet(t, c, tr.Magnet([]string{seeder.Addr}))
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	f := newFiles(t, d)
	if resp, _ := f.do(t, "GET", f.fileURL(res.TaskID, "read.bin")); resp.StatusCode != 200 {
		t.Fatalf("GET before the deletion: %s", resp.Status)
	}
	if err := os.Remove(filepath.Join(d.Dirs.Download, "read.bin")); err != nil {
		t.Fatal(err)
	}
	resp, body := f.do(t, "GET", f.fileURL(res.TaskID, "read.bin"))
	if resp.StatusCode == 200 || !strings.Contains(string(body), "missing on disk") {
		t.Fatalf("GET of the deleted file: %s %q, want a refusal saying it is missing on disk", resp.Status, body)
	}
	waitEvent(t, c, api.EventEngineAlert, 30*time.Second, alertMatching(res.TaskID, "changed or went missing"))
	waitTask(t, c, res.TaskID, "seeding again", 60*time.Second, func(tk api.Task) bool {
		return tk.State == api.StateSeeding && tk.Completed == tk.Size
	})
	enginetest.SameFiles(t, tr, d.Dirs.Download)
}
