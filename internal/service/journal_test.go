package service

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// Healing at start-up, on the real store: every state a crash can leave
// each file of a move in, and a removal's deletion.

// openStore opens a real store in a new dir, closed when the test ends.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// writeFiles writes each path (slash-separated, under dir) with content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readFiles returns every file under dir by slash-separated path.
func readFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// interruptedMove lays out a move from from to to cut short by a crash,
// with a file in each state it can leave one in, and journals it. It
// returns the task's files with their content.
func interruptedMove(t *testing.T, st *store.Store, id, from, to string) map[string]string {
	t.Helper()
	want := map[string]string{
		"T/a":     "not moved yet",
		"T/b":     "moved",
		"T/sub/c": "renamed into place, source not removed yet",
		"T/d":     "being copied when the crash came",
	}
	writeFiles(t, from, map[string]string{"T/a": want["T/a"], "T/sub/c": want["T/sub/c"], "T/d": want["T/d"]})
	writeFiles(t, to, map[string]string{"T/b": want["T/b"], "T/sub/c": want["T/sub/c"], "T/.d.lodestone-part": "being co"})
	if err := st.PutTask(store.Task{ID: id, Name: "T"}); err != nil {
		t.Fatal(err)
	}
	// T/e was never downloaded: listed, but in neither dir.
	e := store.JournalEntry{Op: store.JournalMove, TaskID: id, From: from, To: to, Files: []string{"T/a", "T/b", "T/sub/c", "T/d", "T/e"}, Started: time.Now()}
	if err := st.PutJournal(e); err != nil {
		t.Fatal(err)
	}
	return want
}

// checkHealed checks that heal left no entry and no task unhealed.
func checkHealed(t *testing.T, st *store.Store, unhealed map[string]error, err error) {
	t.Helper()
	if err != nil || len(unhealed) != 0 {
		t.Fatalf("heal: %v, unhealed %v", err, unhealed)
	}
	if es, err := st.Journal(); err != nil || len(es) != 0 {
		t.Errorf("journal after heal: %+v, %v", es, err)
	}
}

func TestHealFinishesAnInterruptedMove(t *testing.T) {
	st := openStore(t)
	base := t.TempDir()
	from, to := filepath.Join(base, "from"), filepath.Join(base, "to")
	want := interruptedMove(t, st, "aa", from, to)
	writeFiles(t, from, map[string]string{"T/mine.txt": "not the task's"})

	unhealed, err := heal(st, []string{from, to}, slog.New(slog.DiscardHandler))
	checkHealed(t, st, unhealed, err)
	if got := readFiles(t, to); !maps.Equal(got, want) {
		t.Errorf("new dir holds %v, want %v", got, want)
	}
	if got := readFiles(t, from); len(got) != 1 || got["T/mine.txt"] == "" {
		t.Errorf("old dir holds %v, want only T/mine.txt", got)
	}
	recs, err := st.Tasks()
	if err != nil || len(recs) != 1 || recs[0].DownloadDir != to {
		t.Errorf("record after heal: %+v, %v; want DownloadDir %s", recs, err, to)
	}
}

func TestHealUndoesAMoveItCannotFinish(t *testing.T) {
	st := openStore(t)
	base := t.TempDir()
	from, to := filepath.Join(base, "from"), filepath.Join(base, "to")
	want := interruptedMove(t, st, "aa", from, to)

	// The new dir is no longer a download root: the move goes back.
	unhealed, err := heal(st, []string{from}, slog.New(slog.DiscardHandler))
	checkHealed(t, st, unhealed, err)
	if got := readFiles(t, from); !maps.Equal(got, want) {
		t.Errorf("old dir holds %v, want %v", got, want)
	}
	if got := readFiles(t, to); len(got) != 0 {
		t.Errorf("new dir still holds %v", got)
	}
	if _, err := os.Stat(filepath.Join(to, "T")); !os.IsNotExist(err) {
		t.Errorf("the new dir's folder is left: %v", err)
	}
	recs, err := st.Tasks()
	if err != nil || len(recs) != 1 || recs[0].DownloadDir != "" {
		t.Errorf("record after heal: %+v, %v; want the old dir", recs, err)
	}
}

func TestHealFinishesARemoval(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"gone/a": "a", "gone/sub/b": "b", "gone/mine.txt": "not the task's",
		"back/c": "c",
	})
	// "gone" was removed; "back" was removed and then added again.
	for _, e := range []store.JournalEntry{
		{Op: store.JournalRemove, TaskID: "gone", Dir: dir, Files: []string{"gone/a", "gone/sub/b", "gone/deleted-before-the-crash"}},
		{Op: store.JournalRemove, TaskID: "back", Dir: dir, Files: []string{"back/c"}},
	} {
		if err := st.PutJournal(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutTask(store.Task{ID: "back", Name: "back"}); err != nil {
		t.Fatal(err)
	}
	unhealed, err := heal(st, []string{dir}, slog.New(slog.DiscardHandler))
	checkHealed(t, st, unhealed, err)
	want := map[string]string{"gone/mine.txt": "not the task's", "back/c": "c"}
	if got := readFiles(t, dir); !maps.Equal(got, want) {
		t.Errorf("after heal the dir holds %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "gone", "sub")); !os.IsNotExist(err) {
		t.Errorf("emptied folder left: %v", err)
	}
}

// A removal deletes nothing outside the task's download dir, whatever
// stands in for one of the task's folders by then: a symlink to another
// dir is not followed.
func TestDeleteFilesStaysInRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	writeFiles(t, root, map[string]string{"T/a": "a"})
	writeFiles(t, outside, map[string]string{"b": "b", "c/d": "d"})
	if err := os.Symlink(outside, filepath.Join(root, "T", "sub")); err != nil {
		t.Fatal(err)
	}
	err := deleteFiles([]string{"T/a", "T/sub/b", "T/sub/c/d", "../x"}, root)
	if err == nil || !strings.Contains(err.Error(), "T/sub/b") {
		t.Errorf("deleteFiles: %v, want it to refuse T/sub/b", err)
	}
	if got := readFiles(t, outside); !maps.Equal(got, map[string]string{"b": "b", "c/d": "d"}) {
		t.Errorf("outside the root, after deleteFiles: %v", got)
	}
	if _, err := os.Stat(filepath.Join(root, "T", "a")); !os.IsNotExist(err) {
		t.Errorf("the task's own file left: %v", err)
	}
}

// In process: a move or a removal clears its entry when it ends, and a
// move onto a file already in the new dir is refused before anything
// moves or is journaled.
func TestMoveAndRemoveClearTheirJournal(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("j.bin", 1<<20, api.TaskAddParams{})
	// The torrents that take over after each move have its file too.
	h.eng.mu.Lock()
	h.eng.files[id] = ft.FileStats()
	h.eng.mu.Unlock()
	writeFiles(t, h.dir, map[string]string{"j.bin": "data", "taken/j.bin": "someone else's"})
	if _, err := h.svc.Move(id, "taken"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("move onto a file: %v, want already exists", err)
	}
	if got := readFiles(t, h.dir); got["j.bin"] != "data" || got["taken/j.bin"] != "someone else's" {
		t.Errorf("a refused move changed files: %v", got)
	}
	if _, err := h.svc.Move(id, "free"); err != nil {
		t.Fatalf("move: %v", err)
	}
	if got := readFiles(t, filepath.Join(h.dir, "free")); got["j.bin"] != "data" {
		t.Errorf("moved: %v", got)
	}
	if es, _ := h.st.Journal(); len(es) != 0 {
		t.Errorf("journal after the moves: %+v", es)
	}
	if err := h.svc.Remove(context.Background(), id, true); err != nil {
		t.Fatal(err)
	}
	if got := readFiles(t, filepath.Join(h.dir, "free")); len(got) != 0 {
		t.Errorf("after remove: %v", got)
	}
	if es, _ := h.st.Journal(); len(es) != 0 {
		t.Errorf("journal after the removal: %+v", es)
	}
}

// A move that can be neither finished (its new dir is no longer a root)
// nor undone (a file stands where its old folder was) keeps its entry,
// and its task comes up in error, unloaded, saying why.
func TestHealLeavesAMoveItCannotSettle(t *testing.T) {
	h := &harness{t: t, st: newMemStore(), eng: newFakeEngine(), dir: t.TempDir(), now: time.Now()}
	other := t.TempDir()
	writeFiles(t, other, map[string]string{"T/a": "moved"})
	writeFiles(t, h.dir, map[string]string{"T": "a file where the task's folder was"})
	const id = "0123456789abcdef0123456789abcdef01234567"
	if err := h.st.PutTask(store.Task{ID: id, Name: "T"}); err != nil {
		t.Fatal(err)
	}
	if err := h.st.PutJournal(store.JournalEntry{Op: store.JournalMove, TaskID: id, From: h.dir, To: other, Files: []string{"T/a"}}); err != nil {
		t.Fatal(err)
	}
	h.start()
	t.Cleanup(h.stop)
	tk, err := h.svc.Get(id)
	if err != nil || tk.State != api.StateError || !strings.Contains(tk.Error, "undoing it") {
		t.Errorf("task after start: %+v, %v; want error saying the move could not be undone", tk, err)
	}
	if h.eng.torrent(id) != nil {
		t.Error("the task was loaded into the engine")
	}
	if es, _ := h.st.Journal(); len(es) != 1 {
		t.Errorf("journal: %+v, want the entry kept for the next start", es)
	}
	if got := readFiles(t, other); got["T/a"] != "moved" {
		t.Errorf("the moved file: %v", got)
	}
}
