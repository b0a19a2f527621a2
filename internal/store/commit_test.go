package store

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"go.etcd.io/bbolt"
)

// Writes from many goroutines at once, sharing transactions: each call's
// own error comes back to it (ErrNotFound for a missing task does not
// fail the others), and every acknowledged write is in the file after a
// reopen.
func TestConcurrentWritesAreDurable(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("%02x%02x", w, i)
				if err := s.PutTask(Task{ID: id, Name: "n"}); err != nil {
					t.Error(err)
					return
				}
				if err := s.UpdateTask(id, func(t *Task) { t.Size = int64(w*1000 + i) }); err != nil {
					t.Error(err)
					return
				}
				if err := s.UpdateTask("missing"+id, func(*Task) {}); !errors.Is(err, ErrNotFound) {
					t.Errorf("UpdateTask missing: %v, want ErrNotFound", err)
					return
				}
				if i%2 == 1 {
					if err := s.DeleteTask(id); err != nil {
						t.Error(err)
						return
					}
				}
				if err := s.PutSetting(fmt.Sprintf("w%d", w), []byte(fmt.Sprint(i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts, err := s.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != writers*each/2 {
		t.Fatalf("%d tasks after reopen, want %d", len(ts), writers*each/2)
	}
	for _, tk := range ts {
		var w, i int
		fmt.Sscanf(tk.ID, "%02x%02x", &w, &i)
		if i%2 == 1 || tk.Size != int64(w*1000+i) {
			t.Errorf("task %s: %+v", tk.ID, tk)
		}
	}
	for w := range writers {
		if v, _ := s.Setting(fmt.Sprintf("w%d", w)); string(v) != fmt.Sprint(each-1) {
			t.Errorf("setting w%d = %q", w, v)
		}
	}
}

// A write that panics, or aborts its transaction, fails alone: the writes
// sharing its transaction are committed all the same, and the panic is
// raised in the caller of the write that panicked.
func TestFailedWriteFailsAlone(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutTask(Task{ID: "aa"}); err != nil {
		t.Fatal(err)
	}
	errBad := errors.New("bad")
	// Hold the lead so that the writes below queue up and share one
	// transaction.
	release := make(chan struct{})
	leading := make(chan struct{})
	go s.c.update(s.db, func(*bbolt.Tx) error {
		close(leading)
		<-release
		return nil
	})
	<-leading
	var wg sync.WaitGroup
	results := make([]any, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					results[i] = p
				}
			}()
			switch i {
			case 0:
				results[i] = s.PutTask(Task{ID: "bb"})
			case 1:
				results[i] = s.UpdateTask("aa", func(*Task) { panic("boom") })
			case 2:
				results[i] = s.c.update(s.db, func(tx *bbolt.Tx) error {
					tx.Bucket(bucketTasks).Put([]byte("zz"), []byte("{}"))
					return errAbort{errBad}
				})
			case 3:
				results[i] = s.UpdateTask("aa", func(t *Task) { t.Name = "renamed" })
			}
		}()
	}
	// Let the four queue behind the leader (they cannot finish before it).
	for {
		s.c.mu.Lock()
		n := len(s.c.queue)
		s.c.mu.Unlock()
		if n == 4 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	if results[0] != nil || results[3] != nil {
		t.Errorf("innocent writes failed: %v, %v", results[0], results[3])
	}
	if results[1] != "boom" {
		t.Errorf("panicking write: %v, want panic boom", results[1])
	}
	if err, _ := results[2].(error); !errors.Is(err, errBad) {
		t.Errorf("aborting write: %v, want errBad", results[2])
	}
	ts, err := s.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "renamed" || ts[1].ID != "bb" {
		t.Errorf("tasks: %+v", ts)
	}
}

// The event log keeps the last EventLogCap events, also when they come in
// batches, and reports the highest one dropped.
func TestAppendEventsKeepsCap(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const total = EventLogCap + 1500
	for first := uint64(1); first <= total; first += 500 {
		seqs := make([]uint64, 500)
		frames := make([][]byte, 500)
		for i := range seqs {
			seqs[i], frames[i] = first+uint64(i), []byte(`{}`)
		}
		if err := s.AppendEvents(seqs, frames); err != nil {
			t.Fatal(err)
		}
	}
	var got []uint64
	dropped, err := s.EventsAfter(0, func(seq uint64, _ []byte) bool {
		got = append(got, seq)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != EventLogCap || got[0] != total-EventLogCap+1 || got[len(got)-1] != total || dropped != total-EventLogCap {
		t.Errorf("log holds %d events, %d to %d, dropped up to %d", len(got), got[0], got[len(got)-1], dropped)
	}
}
