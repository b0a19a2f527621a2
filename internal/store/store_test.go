package store

import (
	"errors"
	"testing"
	"time"
)

func TestTasksPersistAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	added := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	want := Task{ID: "aa", Name: "n", Size: 5, MetaInfo: []byte{0, 1, 'd'}, AddedAt: added}
	if err := s.PutTask(want); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTask(Task{ID: "bb", Magnet: "magnet:?x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTask("aa", func(t *Task) { t.FinishedAt = added.Add(time.Hour) }); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTask("zz", func(*Task) {}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateTask missing: %v, want ErrNotFound", err)
	}
	if err := s.DeleteTask("bb"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts, err := s.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 {
		t.Fatalf("got %d tasks, want 1", len(ts))
	}
	got := ts[0]
	if got.ID != "aa" || got.Name != "n" || got.Size != 5 || string(got.MetaInfo) != "\x00\x01d" ||
		!got.AddedAt.Equal(added) || !got.FinishedAt.Equal(added.Add(time.Hour)) {
		t.Errorf("got %+v", got)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Open(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestReserveSeqNeverRepeats(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	a, _ := s.ReserveSeq(10)
	b, _ := s.ReserveSeq(10)
	s.Close()
	s, _ = Open(dir)
	defer s.Close()
	c, _ := s.ReserveSeq(1)
	if a != 1 || b != 11 || c != 21 {
		t.Errorf("reserved %d, %d, %d; want 1, 11, 21", a, b, c)
	}
}

func TestSettings(t *testing.T) {
	s, _ := Open(t.TempDir())
	defer s.Close()
	if v, err := s.Setting("k"); err != nil || v != nil {
		t.Fatalf("unset setting: %q, %v", v, err)
	}
	s.PutSetting("k", []byte("v"))
	if v, _ := s.Setting("k"); string(v) != "v" {
		t.Errorf("setting = %q", v)
	}
}

// The fields of issue 16 round-trip, and a record written before them
// reads as "none yet": no queue key, the session's seeding limits.
func TestFactsFieldsPersist(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ratio, none, zero := 1.5, int64(-1), int64(0)
	active := time.Date(2026, 11, 27, 9, 0, 0, 500, time.UTC)
	want := Task{ID: "aa", Name: "a", QueueOrder: -3, ActiveAt: active, SecondsDownloading: 60, SecondsSeeding: 7200,
		SeedRatioLimit: &ratio, SeedTimeLimit: &none, SeedIdleLimit: &zero}
	if err := s.PutTask(want); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTask(Task{ID: "bb", Name: "b"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts, err := s.Tasks()
	if err != nil || len(ts) != 2 {
		t.Fatalf("tasks %+v, %v", ts, err)
	}
	got := ts[0]
	if got.QueueOrder != -3 || !got.ActiveAt.Equal(active) || got.SecondsDownloading != 60 || got.SecondsSeeding != 7200 ||
		got.SeedRatioLimit == nil || *got.SeedRatioLimit != 1.5 || got.SeedTimeLimit == nil || *got.SeedTimeLimit != -1 ||
		got.SeedIdleLimit == nil || *got.SeedIdleLimit != 0 {
		t.Errorf("got %+v", got)
	}
	if old := ts[1]; old.QueueOrder != 0 || !old.ActiveAt.IsZero() || old.SeedRatioLimit != nil || old.SeedTimeLimit != nil || old.SeedIdleLimit != nil {
		t.Errorf("a record without them: %+v", old)
	}
}
