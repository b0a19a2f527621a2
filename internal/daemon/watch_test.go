package daemon_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/client"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// watchScan is the test daemons' time between two scans of the watched
// folders; a file that does not parse is taken as invalid after ten.
const watchScan = 200 * time.Millisecond

// waitFile waits until path exists.
func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	waitUntilAPI(t, "file "+path, timeout, func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
}

// watchAlert matches an engine.alert of no task whose message contains
// every part.
func watchAlert(parts ...string) func(json.RawMessage) bool { return alertMatching("", parts...) }

// watchChanged matches watch.changed of path, removed or not.
func watchChanged(path string, removed bool) func(json.RawMessage) bool {
	return func(raw json.RawMessage) bool {
		var d api.WatchChangedData
		return json.Unmarshal(raw, &d) == nil && d.Path == path && d.Removed == removed
	}
}

// addedTask matches task.added of task id.
func addedTask(id string) func(json.RawMessage) bool { return forTask(id) }

// TestWatchFolders drives watch folders in a real daemon with real files:
// a .torrent written slowly, in chunks with pauses longer than a scan, is
// added once, whole, and renamed *.added; an invalid file is renamed
// *.invalid with an engine.alert saying why; a .magnet file of two
// magnets adds two tasks; a watch with a category gives its tasks the
// category and its save path; folders outside the roots are refused
// (103) unless under a --watch-root; an unknown watch is 209; the same
// torrent dropped twice is one task; the watches survive a restart; and a
// file whose store record says it was added before a crash is renamed,
// not added again.
func TestWatchFolders(t *testing.T) {
	extra := t.TempDir() // a --watch-root
	opts := daemontest.Options{WatchInterval: watchScan, WatchRoots: []string{extra}}
	d := daemontest.Start(t, opts)
	c := d.Client(t)
	dl := d.Dirs.Download
	var ae *api.Error

	dir := filepath.Join(dl, "watch")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := c.AddWatch(ctxT(t, 5*time.Second), api.WatchAddParams{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if w.Path != dir || w.Category != "" || w.CreatedAt == 0 {
		t.Errorf("watch.add = %+v", w)
	}
	waitEvent(t, c, api.EventWatchChanged, 5*time.Second, watchChanged(dir, false))

	t.Run("slow writer", func(t *testing.T) {
		tr := enginetest.Generate(t, enginetest.Content{Name: "slow.bin", Size: 3 << 20, PieceLength: 16 << 10, Seed: 1})
		path := filepath.Join(dir, "slow.torrent")
		fh, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		chunk := len(tr.MetaInfo)/4 + 1
		for off := 0; off < len(tr.MetaInfo); off += chunk {
			if _, err := fh.Write(tr.MetaInfo[off:min(off+chunk, len(tr.MetaInfo))]); err != nil {
				t.Fatal(err)
			}
			// Longer than a scan: the daemon sees the file unchanged,
			// half-written, more than once.
			// A quarter of the ten scans after which a file that
			// does not parse counts as invalid: room for a slow CI.
			time.Sleep(watchScan * 5 / 2)
			if off+chunk < len(tr.MetaInfo) {
				if _, err := os.Stat(path); err != nil {
					t.Fatalf("taken half-written: %v", err)
				}
			}
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, c, api.EventTaskAdded, 10*time.Second, addedTask(tr.InfoHash))
		waitFile(t, path+".added", 10*time.Second)
		task := stateOf(t, c, tr.InfoHash)
		if task.Size != 3<<20 || task.Name != "slow.bin" {
			t.Errorf("task = %+v, want the whole torrent's", task)
		}
		if n := len(listTasks(t, c)); n != 1 {
			t.Errorf("%d tasks, want 1", n)
		}
		if _, err := os.Stat(path + ".invalid"); err == nil {
			t.Error("also renamed invalid")
		}
		// The same torrent dropped again: the service answers the task
		// that exists, and the file is done with.
		again := filepath.Join(dir, "again.torrent")
		if err := os.WriteFile(again, tr.MetaInfo, 0o644); err != nil {
			t.Fatal(err)
		}
		waitFile(t, again+".added", 10*time.Second)
		if n := len(listTasks(t, c)); n != 1 {
			t.Errorf("%d tasks after the same torrent was dropped again, want 1", n)
		}
	})

	t.Run("invalid file", func(t *testing.T) {
		path := filepath.Join(dir, "broken.torrent")
		if err := os.WriteFile(path, []byte("d8:announce3:abc4:infod4:name"), 0o644); err != nil {
			t.Fatal(err)
		}
		ev := waitEvent(t, c, api.EventEngineAlert, 20*time.Second, watchAlert(path, "bad torrent", path+".invalid"))
		if a := decode[api.EngineAlertData](t, ev.Data); a.Level != api.LevelWarning {
			t.Errorf("alert level %q, want warning", a.Level)
		}
		waitFile(t, path+".invalid", 5*time.Second)
	})

	t.Run("magnet file", func(t *testing.T) {
		a := enginetest.Generate(t, enginetest.Content{Name: "a.bin", Size: 1000, Seed: 2})
		b := enginetest.Generate(t, enginetest.Content{Name: "b.bin", Size: 1000, Seed: 3})
		path := filepath.Join(dir, "two.magnet")
		body := "# two magnets\n" + a.Magnet(nil) + "\n\n" + b.Magnet(nil) + "\n"
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		waitAll(t, c, 10*time.Second,
			match{api.EventTaskAdded, addedTask(a.InfoHash)},
			match{api.EventTaskAdded, addedTask(b.InfoHash)})
		waitFile(t, path+".added", 10*time.Second)
	})

	t.Run("category", func(t *testing.T) {
		films, err := c.SetCategory(ctxT(t, 5*time.Second), api.Category{Name: "films", SavePath: "films"})
		if err != nil {
			t.Fatal(err)
		}
		fdir := filepath.Join(extra, "films-in")
		if err := os.Mkdir(fdir, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddWatch(ctxT(t, 5*time.Second), api.WatchAddParams{Path: fdir, Category: "nope"}); !asCode(err, &ae, api.CodeNoSuchCategory) {
			t.Errorf("watch.add with an unknown category: %v, want 208", err)
		}
		if w, err := c.AddWatch(ctxT(t, 5*time.Second), api.WatchAddParams{Path: fdir, Category: "films"}); err != nil || w.Category != "films" {
			t.Fatalf("watch.add under --watch-root with a category: %+v, %v", w, err)
		}
		tr := enginetest.Generate(t, enginetest.Content{Name: "film.bin", Size: 50_000, Seed: 4})
		if err := os.WriteFile(filepath.Join(fdir, "film.torrent"), tr.MetaInfo, 0o644); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, c, api.EventTaskAdded, 10*time.Second, addedTask(tr.InfoHash))
		task := stateOf(t, c, tr.InfoHash)
		if task.Category != "films" || task.DownloadDir != films.SavePath {
			t.Errorf("task category %q in %s, want films in %s", task.Category, task.DownloadDir, films.SavePath)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		outside := t.TempDir()
		for _, p := range []api.WatchAddParams{{Path: outside}, {Path: "watch"}, {Path: filepath.Join(dl, "missing")}} {
			if _, err := c.AddWatch(ctxT(t, 5*time.Second), p); !asCode(err, &ae, api.CodeInvalidParams) {
				t.Errorf("watch.add %+v: %v, want 103", p, err)
			}
		}
		if err := c.RemoveWatch(ctxT(t, 5*time.Second), outside); !asCode(err, &ae, api.CodeNoSuchWatch) {
			t.Errorf("watch.remove of an unknown folder: %v, want 209", err)
		}
	})

	before := watches(t, c)
	i := slices.IndexFunc(before, func(w api.Watch) bool { return w.Path == dir })
	if len(before) != 2 || i < 0 || before[i].Added != 3 || before[i].Invalid != 1 {
		t.Fatalf("watch.list = %+v, want two watches, %s with added 3, invalid 1", before, dir)
	}
	d.Stop(t)
	// A crash after the add of crashed.torrent and before its rename: its
	// store record says its one item is done. (Its task is not there, so
	// that an add would show.)
	crashed := enginetest.Generate(t, enginetest.Content{Name: "crashed.bin", Size: 5000, Seed: 6})
	crashedPath := filepath.Join(dir, "crashed.torrent")
	if err := os.WriteFile(crashedPath, crashed.MetaInfo, 0o644); err != nil {
		t.Fatal(err)
	}
	recordDone(t, d.Dirs.Data, crashedPath, 1)
	d = daemontest.Start(t, daemontest.Options{Dirs: d.Dirs, WatchInterval: watchScan, WatchRoots: []string{extra}})
	c = d.Client(t)
	waitFile(t, crashedPath+".added", 10*time.Second)
	if _, err := c.GetTask(ctxT(t, 5*time.Second), crashed.InfoHash); !asCode(err, &ae, api.CodeTaskNotFound) {
		t.Errorf("the file recorded done was added again: task.get %v", err)
	}
	after := watches(t, c)
	if len(after) != 2 {
		t.Fatalf("after restart watch.list = %+v", after)
	}
	for i := range after {
		if after[i].Path != before[i].Path || after[i].Category != before[i].Category || after[i].CreatedAt != before[i].CreatedAt {
			t.Errorf("after restart %+v, before %+v", after[i], before[i])
		}
	}
	if err := c.RemoveWatch(ctxT(t, 5*time.Second), dir); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventWatchChanged, 5*time.Second, watchChanged(dir, true))
	if got := watches(t, c); len(got) != 1 || slices.ContainsFunc(got, func(w api.Watch) bool { return w.Path == dir }) {
		t.Errorf("after watch.remove: %+v", got)
	}
	// Nothing was added twice: a task per file or magnet line.
	if n := len(listTasks(t, c)); n != 4 {
		var names []string
		for _, tk := range listTasks(t, c) {
			names = append(names, fmt.Sprintf("%s %s", tk.TaskID, tk.Name))
		}
		t.Errorf("%d tasks after restart, want 4: %s", n, strings.Join(names, ", "))
	}
}

// recordDone writes the watch record of the file path (its size, mtime
// and SHA-256) with done items done into the store of the stopped daemon
// of dataDir, as the daemon does before and after adding.
func recordDone(t *testing.T, dataDir, path string, done int) {
	t.Helper()
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sum := sha256.Sum256(raw)
	rec := store.WatchAdd{Path: real, Size: fi.Size(), ModTime: fi.ModTime(), SHA256: hex.EncodeToString(sum[:]), Done: done}
	if err := st.PutWatchAdd(rec); err != nil {
		t.Fatal(err)
	}
}

func watches(t *testing.T, c *client.Client) []api.Watch {
	t.Helper()
	ws, err := c.Watches(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatalf("watch.list: %v", err)
	}
	return ws
}
