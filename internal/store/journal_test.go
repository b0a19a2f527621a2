package store

import (
	"errors"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestJournal(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"aa", "bb"} {
		if err := s.PutTask(Task{ID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	move := JournalEntry{Op: JournalMove, TaskID: "aa", From: "/x", To: "/y", Files: []string{"n/a", "n/b"}, Started: time.Now().UTC()}
	if err := s.PutJournal(move); err != nil {
		t.Fatal(err)
	}
	// A removal: the record and the entry go together.
	if err := s.DeleteTaskJournaled("bb", JournalEntry{Op: JournalRemove, TaskID: "bb", Dir: "/x", Files: []string{"m"}}); err != nil {
		t.Fatal(err)
	}
	// A failed update clears nothing.
	if err := s.UpdateTaskClearJournal("zz", func(*Task) {}, JournalMove); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateTaskClearJournal of a missing task: %v, want ErrNotFound", err)
	}
	s.Close()

	// Durable, and checked by Open.
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es, err := s.Journal()
	if err != nil || len(es) != 2 || es[0].Op != JournalMove || !slices.Equal(es[0].Files, move.Files) || es[0].To != "/y" || es[1].Op != JournalRemove || es[1].TaskID != "bb" {
		t.Fatalf("journal after reopen: %+v, %v", es, err)
	}
	if ts, _ := s.Tasks(); len(ts) != 1 || ts[0].ID != "aa" {
		t.Errorf("tasks: %+v, want aa only", ts)
	}
	// The end of a move: record and entry together.
	if err := s.UpdateTaskClearJournal("aa", func(t *Task) { t.DownloadDir = "/y" }, JournalMove); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearJournal(JournalRemove, "bb"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearJournal(JournalRemove, "bb"); err != nil {
		t.Errorf("clearing a missing entry: %v", err)
	}
	if es, err := s.Journal(); err != nil || len(es) != 0 {
		t.Errorf("journal: %+v, %v; want empty", es, err)
	}
	if ts, _ := s.Tasks(); len(ts) != 1 || ts[0].DownloadDir != "/y" {
		t.Errorf("tasks: %+v, want aa in /y", ts)
	}
}

// A journal entry that does not decode is damage, found by Open.
func TestDamagedJournalRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketJournal).Put([]byte("move/aa"), []byte("{not json")) })
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir); !errors.Is(err, ErrDamaged) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open with a damaged journal entry: %v, want ErrDamaged", err)
	}
}
