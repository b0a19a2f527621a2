package service

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// A file found on disk is the task's only when every piece of it that
// can be checked verifies, and at least one can: a piece shared with a
// file not on disk cannot be checked yet.
func TestVerifiedFoundFile(t *testing.T) {
	// Pieces of 10 bytes: file 0 is bytes 0-25 (pieces 0-2, piece 2
	// shared with file 1), file 1 is 25-28 (piece 2 alone), file 2 is
	// 28-60 (pieces 2-5).
	exts := []engine.Extent{{From: 0, To: 25}, {From: 25, To: 28}, {From: 28, To: 60}}
	all := func(int64) bool { return true }
	none := func(int64) bool { return false }
	allBut := func(bad int64) func(int64) bool { return func(p int64) bool { return p != bad } }
	onDisk := func(files ...int) func(int) bool {
		return func(j int) bool {
			for _, f := range files {
				if f == j {
					return true
				}
			}
			return false
		}
	}
	for _, c := range []struct {
		name    string
		file    int
		have    func(int64) bool
		present func(int) bool
		want    bool
	}{
		{"every piece verifies", 0, all, onDisk(0, 1, 2), true},
		{"no piece verifies", 0, none, onDisk(0, 1, 2), false},
		{"an inner piece fails", 0, allBut(1), onDisk(0, 1, 2), false},
		{"a shared piece fails, its neighbours on disk", 0, allBut(2), onDisk(0, 1, 2), false},
		{"a shared piece fails, a neighbour missing", 0, allBut(2), onDisk(0), true},
		{"only shared pieces, neighbours missing", 1, all, onDisk(1), false},
		{"only shared pieces, neighbours on disk", 1, all, onDisk(0, 1, 2), true},
	} {
		if got := verified(exts, 10, c.file, c.have, c.present); got != c.want {
			t.Errorf("%s: verified = %v, want %v", c.name, got, c.want)
		}
	}
	if !verified([]engine.Extent{{From: 0, To: 0}}, 10, 0, none, onDisk()) {
		t.Error("an empty file: not verified, want verified (no bytes to lose)")
	}
}

// Records stored before issue 15 (dir "", no reservations) are pinned to
// the download dir of the start that finds them, and reserved oldest
// first: of two that share a file, the later-added one stops in error
// naming the other, and owns nothing that task.remove could delete.
func TestOldRecordsPinnedAndReserved(t *testing.T) {
	h := newHarness(t)
	h.stop()
	added := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, id := range []string{"bb", "aa"} { // aa is the later one
		rec := store.Task{ID: id, Name: "same.bin", Size: 100, MetaInfo: []byte("d4:infod"), AddedAt: added.Add(time.Duration(i) * time.Hour)}
		if err := h.st.PutTask(rec); err != nil {
			t.Fatal(err)
		}
	}
	h.eng = newFakeEngine()
	h.start()
	if got := h.state("bb"); got == api.StateError {
		t.Fatalf("the first-added task: %s, want it running", got)
	}
	if got := h.state("aa"); got != api.StateError {
		t.Fatalf("the later-added colliding task: %s, want error", got)
	}
	v, err := h.svc.Get("aa")
	if err != nil || !strings.Contains(v.Error, "bb") {
		t.Fatalf("the later task's error %q (%v), want it to name bb", v.Error, err)
	}
	for _, id := range []string{"aa", "bb"} {
		if rec, _ := h.st.task(id); rec.DownloadDir != h.dir {
			t.Errorf("%s stored dir %q, want %q pinned", id, rec.DownloadDir, h.dir)
		}
	}
	if p, ok, _ := h.st.TaskPaths("bb"); !ok || len(p) != 1 || p[0] != filepath.Join(h.dir, "same.bin") {
		t.Errorf("bb's reservation: %v %v", p, ok)
	}
	if _, ok, _ := h.st.TaskPaths("aa"); ok {
		t.Error("the colliding task has a reservation")
	}
}
