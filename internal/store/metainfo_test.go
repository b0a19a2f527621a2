package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// fakeMetaInfo returns n bytes shaped like a bencoded .torrent: a
// dictionary of mostly random bytes (piece hashes do not compress).
func fakeMetaInfo(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	b[0], b[n-1] = 'd', 'e'
	return b
}

// realisticTask returns task i as the service stores it: a .torrent of 1
// to 6 KiB (a few hundred pieces), trackers, labels, a file selection.
func realisticTask(rng *rand.Rand, i int) Task {
	return Task{
		ID:       fmt.Sprintf("%040x", i*7919),
		MetaInfo: fakeMetaInfo(rng, 1024+rng.IntN(5<<10)),
		Name:     fmt.Sprintf("debian-13.%d.0-amd64-netinst.iso", i),
		Size:     rng.Int64N(8 << 30),
		AddedAt:  time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC),
		Labels:   []string{"linux", "iso"},
		Trackers: []string{
			"udp://tracker.example.org:6969/announce",
			"https://torrent.example.net/announce",
		},
		FilePriorities: map[int]string{0: "high", 2: "skip"},
		Downloaded:     rng.Int64N(1 << 30),
		DownloadDir:    "linux/isos",
	}
}

// eachConcurrently runs fn(i) for i in [0, n) from 16 goroutines, as
// concurrent API calls would, and fails the test on the first error.
func eachConcurrently(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A pause, a resume or a setting rewrites the task's small record only,
// not its metainfo: with a 10 MiB .torrent each used to write 13 MiB (the
// metainfo in base64 inside the JSON record) and fsync it (issue 15, item
// 17).
func TestRewritingATaskLeavesItsMetaInfo(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	rng := rand.New(rand.NewPCG(17, 1))
	task := realisticTask(rng, 1)
	task.MetaInfo = fakeMetaInfo(rng, 10<<20)
	if err := s.PutTask(task); err != nil {
		t.Fatal(err)
	}
	written := func() int64 { st := s.db.Stats(); return st.TxStats.GetPageAlloc() }
	before, start := written(), time.Now()
	const n = 10
	for i := range n {
		// As an add's retry or a restore would: the same task again.
		task.Paused = i%2 == 0
		if err := s.PutTask(task); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		// As pause, resume and task.set do.
		err := s.UpdateTask(task.ID, func(r *Task) {
			r.Paused = !r.Paused
			r.UploadLimit = int64(i)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// As the minute's byte totals do.
	if _, err := s.UpdateTasks(map[string]func(*Task){task.ID: func(r *Task) { r.Uploaded += 5 }}); err != nil {
		t.Fatal(err)
	}
	perWrite := (written() - before) / (2*n + 1)
	t.Logf("a rewrite of a task with a 10 MiB .torrent: %d bytes of pages written, %v", perWrite, time.Since(start)/(2*n+1))
	if perWrite > 64<<10 {
		t.Errorf("each rewrite of the task wrote %d bytes of pages, want at most 64 KiB (the record, not the metainfo)", perWrite)
	}

	// All of it is kept, metainfo included, across a restart.
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	ts, err := s.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 {
		t.Fatalf("%d tasks, want 1", len(ts))
	}
	got := ts[0]
	if !bytes.Equal(got.MetaInfo, task.MetaInfo) || got.Paused || got.UploadLimit != n-1 || got.Uploaded != 5 || got.Name != task.Name {
		t.Errorf("after a restart: metainfo kept %v, paused %v, upload limit %d, uploaded %d, name %q",
			bytes.Equal(got.MetaInfo, task.MetaInfo), got.Paused, got.UploadLimit, got.Uploaded, got.Name)
	}
}

// The metainfo of a magnet arrives later (UpdateTask sets it), a put
// without one drops it, and a removed task leaves none behind.
func TestMetaInfoLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	const id = "0123456789abcdef0123456789abcdef01234567"
	if err := s.PutTask(Task{ID: id, Magnet: "magnet:?xt=urn:btih:" + id}); err != nil {
		t.Fatal(err)
	}
	mi := []byte("d4:infod4:name1:xee")
	if err := s.UpdateTask(id, func(r *Task) { r.MetaInfo, r.Name = mi, "x" }); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTask(id, func(r *Task) { r.Paused = true }); err != nil {
		t.Fatal(err)
	}
	metaInfoOf := func() []byte {
		ts, err := s.Tasks()
		if err != nil || len(ts) != 1 {
			t.Fatalf("tasks: %d, %v", len(ts), err)
		}
		return ts[0].MetaInfo
	}
	if got := metaInfoOf(); !bytes.Equal(got, mi) {
		t.Fatalf("metainfo after the metadata arrived and a pause: %q, want %q", got, mi)
	}
	// The record itself does not carry it.
	err = s.db.View(func(tx *bbolt.Tx) error {
		if rec := tx.Bucket(bucketTasks).Get([]byte(id)); bytes.Contains(rec, []byte(`"metainfo"`)) {
			t.Errorf("the task record carries the metainfo: %s", rec)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutTask(Task{ID: id, Magnet: "magnet:?xt=urn:btih:" + id}); err != nil {
		t.Fatal(err)
	}
	if got := metaInfoOf(); got != nil {
		t.Fatalf("metainfo after a put without one: %q, want none", got)
	}
	if err := s.UpdateTask(id, func(r *Task) { r.MetaInfo = mi }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTask(id); err != nil {
		t.Fatal(err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if v := b.Get([]byte(id)); v != nil {
				t.Errorf("bucket %s still holds the removed task: %q", name, v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// schema1Store writes a store of schema 1, whose task records carry their
// metainfo (in base64), with n tasks of size bytes of metainfo each (every
// tenth without: a magnet still without metadata), and returns them.
func schema1Store(t *testing.T, path string, n, size int) []Task {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	var tasks []Task
	for i := range n {
		tk := realisticTask(rng, i)
		tk.MetaInfo = fakeMetaInfo(rng, size)
		if i%10 == 3 {
			tk.MetaInfo = nil
		}
		tasks = append(tasks, tk)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		if err := meta.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 1)); err != nil {
			return err
		}
		if err := meta.Put([]byte("event_seq"), binary.BigEndian.AppendUint64(nil, 77)); err != nil {
			return err
		}
		b, err := tx.CreateBucket([]byte("tasks"))
		if err != nil {
			return err
		}
		for _, tk := range tasks {
			// Schema 1's record: the whole Task as JSON.
			v, err := json.Marshal(tk)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(tk.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}

// checkMigrated checks that s holds tasks, metainfo included, in the
// layout of schema 2: no record carries its metainfo.
func checkMigrated(t *testing.T, s *Store, tasks []Task) {
	t.Helper()
	ts, err := s.Tasks()
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != len(tasks) {
		t.Fatalf("%d tasks, want %d", len(ts), len(tasks))
	}
	byID := map[string]Task{}
	for _, tk := range ts {
		byID[tk.ID] = tk
	}
	for _, w := range tasks {
		if got := byID[w.ID]; !bytes.Equal(got.MetaInfo, w.MetaInfo) || got.Name != w.Name {
			t.Errorf("task %s: metainfo kept %v, name %q", w.ID, bytes.Equal(got.MetaInfo, w.MetaInfo), got.Name)
		}
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if v := meta.Get([]byte("schema")); binary.BigEndian.Uint64(v) != 2 {
			t.Errorf("schema %d after the migration, want 2", binary.BigEndian.Uint64(v))
		}
		if v := meta.Get([]byte("migrating_v2")); v != nil {
			t.Error("the migration is still marked as under way")
		}
		return tx.Bucket([]byte("tasks")).ForEach(func(k, v []byte) error {
			if bytes.Contains(v, []byte(`"metainfo"`)) {
				t.Errorf("task %s: the record still carries its metainfo", k)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A store of schema 1 is migrated when opened: the metainfo moves out of
// the task records, and reads back the same.
func TestMigrateSchema1(t *testing.T) {
	dir := t.TempDir()
	tasks := schema1Store(t, filepath.Join(dir, FileName), 30, 64<<10)
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMigrated(t, s, tasks)
	if seq, err := s.ReserveSeq(1); err != nil || seq != 77 {
		t.Errorf("next event sequence %d (%v), want 77", seq, err)
	}
}

// A migration cut short by a crash (schema 2 marked as under way, some
// records moved, some not) is finished by the next Open.
func TestMigrationResumesAfterACrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	tasks := schema1Store(t, path, 30, 16<<10)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		if err := meta.Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 2)); err != nil {
			return err
		}
		if err := meta.Put([]byte("migrating_v2"), binary.BigEndian.AppendUint64(nil, 1)); err != nil {
			return err
		}
		mis, err := tx.CreateBucket([]byte("metainfo"))
		if err != nil {
			return err
		}
		for _, tk := range tasks[:12] { // the first batch was moved
			if tk.MetaInfo == nil {
				continue
			}
			if err := mis.Put([]byte(tk.ID), tk.MetaInfo); err != nil {
				return err
			}
			rec := tk
			rec.MetaInfo = nil
			v, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := tx.Bucket([]byte("tasks")).Put([]byte(tk.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMigrated(t, s, tasks)
}

// Open decodes the metainfo bucket too: a metainfo that names no stored
// task (a flipped key) or holds nothing is damage.
func TestDamagedMetaInfoIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		key, val string
	}{
		{"no such task", "00000000000000000000000000000000000000ff", "d4:infodee"},
		{"empty", "aa", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutTask(Task{ID: "aa", MetaInfo: []byte("d4:infodee")}); err != nil {
				t.Fatal(err)
			}
			err = s.db.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("metainfo"))
				if err != nil {
					return err
				}
				return b.Put([]byte(tc.key), []byte(tc.val))
			})
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir); !errors.Is(err, ErrDamaged) {
				t.Fatalf("Open: %v, want ErrDamaged", err)
			}
		})
	}
}
