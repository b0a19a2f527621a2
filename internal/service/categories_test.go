package service

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

// changedFields returns, for task id, the fields of each task.changed
// among evs, joined by "+".
func changedFields(t *testing.T, evs []event, id string) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		if ev.name != api.EventTaskChanged {
			continue
		}
		var d api.TaskChangedData
		if err := json.Unmarshal(ev.data, &d); err != nil {
			t.Fatalf("decode task.changed: %v", err)
		}
		if d.TaskID == id && d.Task.TaskID == id {
			out = append(out, strings.Join(d.Fields, "+"))
		}
	}
	return out
}

// lastCategories returns the categories of the last category.changed
// among evs, and whether there was one.
func lastCategories(t *testing.T, evs []event) ([]api.Category, bool) {
	t.Helper()
	var d api.CategoryChangedData
	found := false
	for _, ev := range evs {
		if ev.name == api.EventCategoryChanged {
			found, d = true, api.CategoryChangedData{}
			if err := json.Unmarshal(ev.data, &d); err != nil {
				t.Fatalf("decode category.changed: %v", err)
			}
		}
	}
	return d.Categories, found
}

// Names and paths are checked; paths become absolute; the list is sorted
// and announced by category.changed; replacing keeps one of a name.
func TestCategorySetAndValidation(t *testing.T) {
	h := newHarness(t)
	bad := []api.Category{
		{Name: ""}, {Name: "   "}, {Name: "a\x01b"}, {Name: "/tv"}, {Name: "tv/"}, {Name: "tv//hd"},
		{Name: `tv\hd`}, {Name: strings.Repeat("x", 256)}, {Name: "tv / hd"}, {Name: "bad\xff"},
		{Name: "tv", SavePath: "/etc"}, {Name: "tv", SavePath: "../../outside"},
		{Name: "tv", CompletePath: "/etc"},
	}
	for _, c := range bad {
		if _, err := h.svc.SetCategory(c); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("SetCategory(%q, %q, %q): %v, want ErrInvalidParams", c.Name, c.SavePath, c.CompletePath, err)
		}
	}
	if cs := h.svc.Categories(); len(cs) != 0 {
		t.Fatalf("refused categories were kept: %+v", cs)
	}
	h.drain()
	got, err := h.svc.SetCategory(api.Category{Name: "  tv/hd ", SavePath: "shows", CompletePath: filepath.Join(h.dir, "done")})
	if err != nil {
		t.Fatal(err)
	}
	want := api.Category{Name: "tv/hd", SavePath: filepath.Join(h.dir, "shows"), CompletePath: filepath.Join(h.dir, "done")}
	if got != want {
		t.Errorf("set: %+v, want %+v", got, want)
	}
	long := strings.Repeat("é", 127) // 254 bytes
	for _, c := range []api.Category{{Name: "films"}, {Name: long}, {Name: "films", SavePath: "movies"}} {
		if _, err := h.svc.SetCategory(c); err != nil {
			t.Fatalf("SetCategory(%q): %v", c.Name, err)
		}
	}
	wantAll := []api.Category{{Name: "films", SavePath: filepath.Join(h.dir, "movies")}, want, {Name: long}}
	if cs := h.svc.Categories(); !slices.Equal(cs, wantAll) {
		t.Errorf("categories %+v\nwant %+v", cs, wantAll)
	}
	if cs, ok := lastCategories(t, h.drain()); !ok || !slices.Equal(cs, wantAll) {
		t.Errorf("last category.changed: %+v (sent %v)", cs, ok)
	}
}

// task.add puts the task in its category's dir unless download_dir says
// otherwise; an unknown category is refused by name, storing nothing.
func TestAddIntoCategory(t *testing.T) {
	h := newHarness(t)
	if _, err := h.svc.SetCategory(api.Category{Name: "tv", SavePath: "shows"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.SetCategory(api.Category{Name: "plain"}); err != nil {
		t.Fatal(err)
	}
	a, _ := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{Category: "tv"})
	b, _ := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{Category: " tv ", DownloadDir: "mine"})
	c, _ := h.addTorrent("c.bin", 1<<20, api.TaskAddParams{Category: "plain"})
	for _, w := range []struct{ id, cat, dir string }{
		{a, "tv", filepath.Join(h.dir, "shows")}, {b, "tv", filepath.Join(h.dir, "mine")}, {c, "plain", h.dir},
	} {
		tk, err := h.svc.Get(w.id)
		if err != nil {
			t.Fatal(err)
		}
		if tk.Category != w.cat || tk.DownloadDir != w.dir {
			t.Errorf("task %s: category %q dir %s, want %q %s", w.id, tk.Category, tk.DownloadDir, w.cat, w.dir)
		}
		if rec, _ := h.st.task(w.id); rec.Category != w.cat {
			t.Errorf("task %s stored category %q", w.id, rec.Category)
		}
	}
	_, err := h.svc.Add(t.Context(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:" + strings.Repeat("ab", 20), Category: "nope"})
	if !errors.Is(err, ErrNoSuchCategory) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("add into an unknown category: %v", err)
	}
	if len(h.svc.List(ListFilter{})) != 3 {
		t.Error("a refused add left a task")
	}
}

// task.set into another category moves the data to its dir, "" takes the
// task out without moving, an unknown one changes nothing; each change is
// a task.changed.
func TestSetCategoryMovesData(t *testing.T) {
	h := newHarness(t)
	for _, c := range []api.Category{{Name: "tv", SavePath: "shows"}, {Name: "films", SavePath: "movies"}} {
		if _, err := h.svc.SetCategory(c); err != nil {
			t.Fatal(err)
		}
	}
	id, ft := h.addTorrent("s.bin", 1<<20, api.TaskAddParams{Category: "tv"})
	h.eng.mu.Lock()
	h.eng.files[id] = ft.FileStats() // the torrents after each move have its file
	h.eng.mu.Unlock()
	writeFiles(t, filepath.Join(h.dir, "shows"), map[string]string{"s.bin": "data"})
	h.drain()

	films := "films"
	// Anything else refused: nothing moves.
	if _, err := h.svc.Set(id, api.TaskSetParams{TaskID: id, Category: &films, FilePriorities: map[int]string{99: "skip"}}); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("set with a bad file index: %v", err)
	}
	if got := readFiles(t, h.dir); got["shows/s.bin"] != "data" || len(got) != 1 {
		t.Errorf("files after a refused set: %v", got)
	}
	tk, err := h.svc.Set(id, api.TaskSetParams{TaskID: id, Category: &films})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Category != "films" || tk.DownloadDir != filepath.Join(h.dir, "movies") {
		t.Errorf("after set: category %q dir %s", tk.Category, tk.DownloadDir)
	}
	if got := readFiles(t, h.dir); got["movies/s.bin"] != "data" || len(got) != 1 {
		t.Errorf("files after set: %v", got)
	}
	if got := changedFields(t, h.drain(), id); !slices.Equal(got, []string{"download_dir", "category"}) {
		t.Errorf("task.changed fields %v", got)
	}
	if rec, _ := h.st.task(id); rec.Category != "films" || rec.DownloadDir != filepath.Join(h.dir, "movies") {
		t.Errorf("stored: category %q dir %s", rec.Category, rec.DownloadDir)
	}

	nope := "nope"
	if _, err := h.svc.Set(id, api.TaskSetParams{TaskID: id, Category: &nope, Labels: &[]string{"x"}}); !errors.Is(err, ErrNoSuchCategory) {
		t.Errorf("set an unknown category: %v", err)
	}
	none := ""
	tk, err = h.svc.Set(id, api.TaskSetParams{TaskID: id, Category: &none})
	if err != nil {
		t.Fatal(err)
	}
	if tk.Category != "" || tk.DownloadDir != filepath.Join(h.dir, "movies") || len(tk.Labels) != 0 {
		t.Errorf("after leaving the category: %+v", tk)
	}
	if got := changedFields(t, h.drain(), id); !slices.Equal(got, []string{"category"}) {
		t.Errorf("task.changed fields %v", got)
	}
	if got := readFiles(t, h.dir); got["movies/s.bin"] != "data" {
		t.Errorf("files after leaving the category: %v", got)
	}
}

// category.remove takes its tasks out of it, durably, and leaves their
// data; everything survives a restart.
func TestRemoveCategoryAndRestart(t *testing.T) {
	h := newHarness(t)
	for _, c := range []api.Category{{Name: "tv", SavePath: "shows"}, {Name: "films", CompletePath: "done"}} {
		if _, err := h.svc.SetCategory(c); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{Category: "tv"})
	b, _ := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{Category: "films"})
	h.drain()
	if err := h.svc.RemoveCategory("nope"); !errors.Is(err, ErrNoSuchCategory) {
		t.Errorf("remove an unknown category: %v", err)
	}
	if err := h.svc.RemoveCategory(" tv"); err != nil {
		t.Fatal(err)
	}
	evs := h.drain()
	if got := changedFields(t, evs, a); !slices.Equal(got, []string{"category"}) {
		t.Errorf("task.changed of a: %v", got)
	}
	wantAll := []api.Category{{Name: "films", CompletePath: filepath.Join(h.dir, "done")}}
	if cs, ok := lastCategories(t, evs); !ok || !slices.Equal(cs, wantAll) {
		t.Errorf("category.changed: %+v", cs)
	}
	h.restart()
	if cs := h.svc.Categories(); !slices.Equal(cs, wantAll) {
		t.Errorf("categories after restart: %+v", cs)
	}
	ta, _ := h.svc.Get(a)
	tb, _ := h.svc.Get(b)
	if ta.Category != "" || ta.DownloadDir != filepath.Join(h.dir, "shows") || tb.Category != "films" {
		t.Errorf("after restart: a %q in %s, b %q", ta.Category, ta.DownloadDir, tb.Category)
	}
}

// A task of a category with a complete path moves there when it
// finishes, once.
func TestCompletePathOnFinish(t *testing.T) {
	h := newHarness(t)
	if _, err := h.svc.SetCategory(api.Category{Name: "tv", SavePath: "incoming", CompletePath: "done"}); err != nil {
		t.Fatal(err)
	}
	id, ft := h.addTorrent("f.bin", 1<<20, api.TaskAddParams{Category: "tv"})
	h.eng.mu.Lock()
	h.eng.files[id] = ft.FileStats()
	h.eng.mu.Unlock()
	writeFiles(t, filepath.Join(h.dir, "incoming"), map[string]string{"f.bin": "data"})
	ft.complete()
	h.poll()
	done := filepath.Join(h.dir, "done")
	waitFor(h, func() bool {
		tk, err := h.svc.Get(id)
		return err == nil && tk.DownloadDir == done && tk.Busy == ""
	})
	if got := readFiles(t, h.dir); got["done/f.bin"] != "data" || len(got) != 1 {
		t.Errorf("files after the finish: %v", got)
	}
	if rec, _ := h.st.task(id); rec.DownloadDir != done {
		t.Errorf("stored dir %s", rec.DownloadDir)
	}
}

// A complete-path move that cannot be made (a file of the task is in the
// way there) leaves the data where it is and says so in an engine.alert;
// it is not tried again at later polls.
func TestCompletePathFailureAlerts(t *testing.T) {
	h := newHarness(t)
	if _, err := h.svc.SetCategory(api.Category{Name: "tv", SavePath: "incoming", CompletePath: "done"}); err != nil {
		t.Fatal(err)
	}
	id, ft := h.addTorrent("g.bin", 1<<20, api.TaskAddParams{Category: "tv"})
	writeFiles(t, h.dir, map[string]string{"incoming/g.bin": "data", "done/g.bin": "someone else's"})
	h.drain()
	ft.complete()
	h.eng.mu.Lock()
	h.eng.files[id] = ft.FileStats() // the torrent after the move has it all
	h.eng.mu.Unlock()
	h.poll()
	var alert api.EngineAlertData
	waitFor(h, func() bool {
		for _, ev := range h.drain() {
			if ev.name == api.EventEngineAlert {
				if err := json.Unmarshal(ev.data, &alert); err != nil {
					t.Fatal(err)
				}
				return true
			}
		}
		return false
	})
	if alert.TaskID != id || alert.Level != api.LevelError || !strings.Contains(alert.Message, `category "tv"'s complete path`) || !strings.Contains(alert.Message, "already exists") {
		t.Errorf("alert %+v", alert)
	}
	if got := readFiles(t, h.dir); got["incoming/g.bin"] != "data" || got["done/g.bin"] != "someone else's" {
		t.Errorf("files after the failed move: %v", got)
	}
	h.poll()
	h.poll()
	if tk, _ := h.svc.Get(id); tk.DownloadDir != filepath.Join(h.dir, "incoming") || tk.State != api.StateSeeding {
		t.Errorf("after the failed move: dir %s state %s", tk.DownloadDir, tk.State)
	}
	for _, ev := range h.drain() {
		if ev.name == api.EventEngineAlert || ev.name == api.EventTaskChanged {
			t.Errorf("a later poll tried again: %s %s", ev.name, ev.data)
		}
	}
}
