package store

import (
	"slices"
	"testing"
)

// Categories survive a reopen, a category is replaced by name, and
// deleting one takes its tasks out of it in the same write, leaving other
// tasks' categories alone.
func TestCategoriesRoundTripAndDelete(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cs, err := s.Categories(); err != nil || len(cs) != 0 {
		t.Fatalf("new store: %v, %v", cs, err)
	}
	tv := Category{Name: "tv", SavePath: "/srv/tv"}
	films := Category{Name: "films/hd", SavePath: "/srv/films", CompletePath: "/srv/done"}
	for _, c := range []Category{tv, films, {Name: "tv", SavePath: "/srv/tv2"}} {
		if err := s.PutCategory(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutCategory(Category{}); err == nil {
		t.Error("a category without a name was stored")
	}
	for _, tk := range []Task{{ID: "a", Category: "tv"}, {ID: "b", Category: "films/hd"}, {ID: "c"}} {
		if err := s.PutTask(tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tv.SavePath = "/srv/tv2"
	if cs, err := s.Categories(); err != nil || !slices.Equal(cs, []Category{films, tv}) {
		t.Fatalf("after reopen: %+v, %v", cs, err)
	}
	// "b" is named but not in "tv": untouched; "gone" is not stored.
	if err := s.DeleteCategory("tv", []string{"a", "b", "gone"}); err != nil {
		t.Fatal(err)
	}
	if cs, _ := s.Categories(); !slices.Equal(cs, []Category{films}) {
		t.Errorf("after delete: %+v", cs)
	}
	ts, err := s.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tk := range ts {
		got[tk.ID] = tk.Category
	}
	if got["a"] != "" || got["b"] != "films/hd" || got["c"] != "" {
		t.Errorf("task categories after delete: %v", got)
	}
	if err := s.DeleteCategory("nope", nil); err != nil {
		t.Errorf("deleting a missing category: %v", err)
	}
}
