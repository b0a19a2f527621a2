package daemon_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// TestCategories drives categories over the WebSocket API with a real
// swarm: bad names and paths are refused; a magnet added in a category
// downloads into its save path and, once finished, moves to its complete
// path; task.set into another category moves the data there;
// category.remove takes its tasks out and leaves their data; categories
// and a task's category survive a restart. Each change is an event.
func TestCategories(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(160))
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	dl := d.Dirs.Download
	var ae *api.Error

	for _, bad := range []api.Category{
		{Name: ""}, {Name: " "}, {Name: "t\nv"}, {Name: "/tv"}, {Name: "tv//hd"}, {Name: strings.Repeat("n", 256)},
		{Name: "tv", SavePath: t.TempDir()}, {Name: "tv", SavePath: "../x"}, {Name: "tv", CompletePath: "/"},
	} {
		if _, err := c.SetCategory(ctxT(t, 5*time.Second), bad); !asCode(err, &ae, api.CodeInvalidParams) {
			t.Errorf("category.set %+v: %v, want invalid_params", bad, err)
		}
	}
	tv, err := c.SetCategory(ctxT(t, 5*time.Second), api.Category{Name: "tv/hd", SavePath: "tv", CompletePath: "done"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (api.Category{Name: "tv/hd", SavePath: filepath.Join(dl, "tv"), CompletePath: filepath.Join(dl, "done")}); tv != want {
		t.Errorf("category.set = %+v, want %+v", tv, want)
	}
	ev := waitEvent(t, c, api.EventCategoryChanged, 10*time.Second, nil)
	if got := decode[api.CategoryChangedData](t, ev.Data); !slices.Equal(got.Categories, []api.Category{tv}) {
		t.Errorf("category.changed = %+v", got)
	}
	films, err := c.SetCategory(ctxT(t, 5*time.Second), api.Category{Name: "films", SavePath: filepath.Join(dl, "films")})
	if err != nil {
		t.Fatal(err)
	}
	if cats, err := c.Categories(ctxT(t, 5*time.Second)); err != nil || !slices.Equal(cats, []api.Category{films, tv}) {
		t.Errorf("category.list = %+v, %v", cats, err)
	}

	// Unknown categories are refused by name.
	_, err = c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr}), Category: "nope"})
	if !asCode(err, &ae, api.CodeNoSuchCategory) || !strings.Contains(ae.Message, "nope") {
		t.Errorf("task.add in an unknown category: %v, want no_such_category naming it", err)
	}
	if tasks := listTasks(t, c); len(tasks) != 0 {
		t.Fatalf("a refused add left tasks: %+v", tasks)
	}

	// A real download into the category, then to its complete path.
	res, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: tr.Magnet([]string{seeder.Addr}), Category: "tv/hd"})
	if err != nil {
		t.Fatal(err)
	}
	if task := stateOf(t, c, res.TaskID); task.Category != "tv/hd" || task.DownloadDir != tv.SavePath {
		t.Errorf("added: category %q dir %s, want tv/hd in %s", task.Category, task.DownloadDir, tv.SavePath)
	}
	waitEvent(t, c, api.EventTaskFinished, 60*time.Second, forTask(res.TaskID))
	ev = waitEvent(t, c, api.EventTaskChanged, 60*time.Second, forTask(res.TaskID))
	if got := decode[api.TaskChangedData](t, ev.Data); !slices.Equal(got.Fields, []string{"download_dir"}) || got.Task.DownloadDir != tv.CompletePath {
		t.Errorf("task.changed after the finish: %+v", got)
	}
	done := waitTask(t, c, res.TaskID, "moved to the complete path", 60*time.Second, func(task api.Task) bool {
		return task.DownloadDir == tv.CompletePath && task.Busy == "" && task.State == api.StateSeeding
	})
	enginetest.SameFiles(t, tr, tv.CompletePath)
	if done.Category != "tv/hd" || done.Completed != done.Size {
		t.Errorf("after the complete move: %+v", done)
	}
	if _, err := os.Stat(filepath.Join(tv.SavePath, "multi")); !os.IsNotExist(err) {
		t.Errorf("data left in the save path: %v", err)
	}

	// task.set into films moves the data; an unknown one is refused.
	nope, filmsName := "nope", "films"
	if _, err := c.SetTask(ctxT(t, 5*time.Second), api.TaskSetParams{TaskID: res.TaskID, Category: &nope}); !asCode(err, &ae, api.CodeNoSuchCategory) {
		t.Errorf("task.set an unknown category: %v", err)
	}
	set, err := c.SetTask(ctxT(t, 60*time.Second), api.TaskSetParams{TaskID: res.TaskID, Category: &filmsName})
	if err != nil {
		t.Fatal(err)
	}
	if set.Category != "films" || set.DownloadDir != films.SavePath {
		t.Errorf("task.set category: %q in %s", set.Category, set.DownloadDir)
	}
	ev = waitEvent(t, c, api.EventTaskChanged, 10*time.Second, func(raw json.RawMessage) bool {
		return slices.Contains(decode[api.TaskChangedData](t, raw).Fields, "category")
	})
	if got := decode[api.TaskChangedData](t, ev.Data); got.TaskID != res.TaskID || got.Task.Category != "films" {
		t.Errorf("task.changed for the category: %+v", got)
	}
	enginetest.SameFiles(t, tr, films.SavePath)
	waitTask(t, c, res.TaskID, "seeding from the films dir", 30*time.Second, func(task api.Task) bool {
		return task.State == api.StateSeeding && task.Completed == task.Size
	})

	// A second task, paused: download_dir wins over the category's path.
	other := enginetest.Generate(t, enginetest.Content{Name: "other.bin", Size: 70_001, Seed: 161})
	res2, err := c.AddTask(ctxT(t, 5*time.Second), api.TaskAddParams{Type: api.TaskTypeTorrent,
		Data: base64.StdEncoding.EncodeToString(other.MetaInfo), Paused: true, Category: "tv/hd", DownloadDir: "mine"})
	if err != nil {
		t.Fatal(err)
	}
	if task := stateOf(t, c, res2.TaskID); task.Category != "tv/hd" || task.DownloadDir != filepath.Join(dl, "mine") {
		t.Errorf("add with both: category %q dir %s", task.Category, task.DownloadDir)
	}

	// Removing films takes the first task out of it; its data stays.
	if err := c.RemoveCategory(ctxT(t, 5*time.Second), "nope"); !asCode(err, &ae, api.CodeNoSuchCategory) {
		t.Errorf("category.remove of an unknown one: %v", err)
	}
	if err := c.RemoveCategory(ctxT(t, 5*time.Second), "films"); err != nil {
		t.Fatal(err)
	}
	if task := stateOf(t, c, res.TaskID); task.Category != "" || task.DownloadDir != films.SavePath {
		t.Errorf("after category.remove: category %q dir %s", task.Category, task.DownloadDir)
	}
	enginetest.SameFiles(t, tr, films.SavePath)

	// Restart: the categories and the tasks' categories are kept.
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: d.Dirs})
	c = d.Client(t)
	if cats, err := c.Categories(ctxT(t, 5*time.Second)); err != nil || !slices.Equal(cats, []api.Category{tv}) {
		t.Errorf("category.list after restart = %+v, %v", cats, err)
	}
	if a, b := stateOf(t, c, res.TaskID), stateOf(t, c, res2.TaskID); a.Category != "" || b.Category != "tv/hd" || a.DownloadDir != films.SavePath {
		t.Errorf("after restart: %q in %s, %q", a.Category, a.DownloadDir, b.Category)
	}
	tasks, err := c.ListTasksWith(ctxT(t, 5*time.Second), api.TaskListParams{Fields: []string{"category"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, task := range tasks {
		got[task.TaskID] = task.Category
	}
	if got[res.TaskID] != "" || got[res2.TaskID] != "tv/hd" || len(got) != 2 {
		t.Errorf("task.list fields [category]: %v", got)
	}
}
