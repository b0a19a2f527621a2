package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// filledStore writes a store with enough tasks, events and settings to
// span branch, leaf and overflow pages, and returns its file's bytes.
func filledStore(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		meta := make([]byte, 300+i*7)
		if i%40 == 0 {
			meta = make([]byte, 9000) // overflow pages
		}
		if err := s.PutTask(Task{ID: fmt.Sprintf("%040x", i), Name: fmt.Sprint("task ", i), MetaInfo: meta}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		if err := s.AppendEvent(uint64(i+1), []byte(`{"id":"1","name":"task.state","data":{}}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSetting("session", []byte(`{"download_rate_limit":5}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// indexAll returns the offset of every copy of needle in b.
func indexAll(b, needle []byte) []int {
	var at []int
	for off := 0; ; {
		i := bytes.Index(b[off:], needle)
		if i < 0 {
			return at
		}
		at = append(at, off+i)
		off += i + 1
	}
}

func TestDamagedStoreIsQuarantined(t *testing.T) {
	orig := filledStore(t)
	ps := os.Getpagesize()
	flip := func(offs ...int) []byte {
		b := bytes.Clone(orig)
		for _, o := range offs {
			b[o] ^= 0x10
		}
		return b
	}
	// Every copy of task 7's record, and of the page holding it: the live
	// one is among them (older copies sit in free pages).
	var typeFlips, countFlips, recordFlips []int
	for _, at := range indexAll(orig, []byte(fmt.Sprintf(`"id":"%040x"`, 7))) {
		page := at / ps * ps
		typeFlips = append(typeFlips, page+8)
		countFlips = append(countFlips, page+10)
		recordFlips = append(recordFlips, at) // '"' becomes '2'
	}
	cases := []struct {
		name string
		data []byte
		want string // in the cause
	}{
		{"zero-length", nil, "empty file"},
		{"truncated to 100 bytes", orig[:100], ""},
		{"truncated to 2 pages", orig[:2*ps], "truncated"},
		{"truncated to half", orig[:len(orig)/2], "truncated"},
		{"both meta pages flipped", flip(16, ps+16), ""},
		{"page type flipped", flip(typeFlips...), "type"},
		{"element count flipped", flip(countFlips...), "element"},
		{"task record flipped", flip(recordFlips...), "task"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			// Open refuses it and leaves it where it is.
			if _, err := Open(dir); !errors.Is(err, ErrDamaged) {
				t.Fatalf("Open: %v, want ErrDamaged", err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, tc.data) {
				t.Fatal("Open changed the damaged file")
			}

			before := uint64(time.Now().UnixMicro())
			s, dmg, err := OpenOrQuarantine(dir)
			if err != nil {
				t.Fatalf("OpenOrQuarantine: %v", err)
			}
			defer s.Close()
			if dmg == nil {
				t.Fatal("no damage reported")
			}
			t.Logf("cause: %v", dmg.Cause)
			if !errors.Is(dmg.Cause, ErrDamaged) || !strings.Contains(dmg.Cause.Error(), tc.want) {
				t.Errorf("cause %q, want ErrDamaged mentioning %q", dmg.Cause, tc.want)
			}
			if dmg.Path != path || !strings.HasPrefix(filepath.Base(dmg.MovedTo), FileName+QuarantineSuffix) {
				t.Errorf("damage %+v: want %s moved to %s%s<time>", dmg, path, FileName, QuarantineSuffix)
			}
			if got, err := os.ReadFile(dmg.MovedTo); err != nil || !bytes.Equal(got, tc.data) {
				t.Errorf("quarantined file: %v, same bytes %v", err, bytes.Equal(got, tc.data))
			}
			// A fresh, working store in its place, whose event ids stay
			// above any handed out before.
			if ts, err := s.Tasks(); err != nil || len(ts) != 0 {
				t.Errorf("fresh store: %d tasks, %v", len(ts), err)
			}
			if err := s.PutTask(Task{ID: "aa"}); err != nil {
				t.Fatal(err)
			}
			if seq, err := s.ReserveSeq(1); err != nil || seq < before {
				t.Errorf("first event seq %d (%v), want at least %d", seq, err, before)
			}
		})
	}
}

// Random bit flips anywhere in the file never crash the process: the store
// is either quarantined, or it opens and every record reads back and a
// write works.
func TestRandomBitFlipsNeverCrash(t *testing.T) {
	orig := filledStore(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (file of %d bytes)", seed, len(orig))
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 100
	if testing.Short() {
		n = 20
	}
	var quarantined, sound int
	start := time.Now()
	for i := range n {
		b := bytes.Clone(orig)
		for range 1 + rng.IntN(3) {
			b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, dmg, err := OpenOrQuarantine(dir)
		if err != nil {
			t.Fatalf("flip %d: %v", i, err)
		}
		if dmg != nil {
			quarantined++
		} else {
			sound++
			if _, err := s.Tasks(); err != nil {
				t.Errorf("flip %d: opened as sound, but: %v", i, err)
			}
			if _, err := s.EventsAfter(0, func(uint64, []byte) bool { return true }); err != nil {
				t.Errorf("flip %d: opened as sound, but: %v", i, err)
			}
			if err := s.PutTask(Task{ID: "new"}); err != nil {
				t.Errorf("flip %d: opened as sound, but: %v", i, err)
			}
		}
		s.Close()
	}
	t.Logf("%d random flips: %d quarantined, %d harmless (free space, an older meta page, a value byte that still decodes); %v per check and open",
		n, quarantined, sound, time.Since(start)/time.Duration(n))
}

// protect turns a memory fault inside bbolt, which would kill the process,
// into an error: here bbolt reads a freelist page that the meta places in
// the mapping but past the end of the file (SIGBUS).
func TestProtectTurnsFaultIntoError(t *testing.T) {
	ps := os.Getpagesize()
	b := filledStore(t)[:2*ps]
	for _, at := range []int{pageHeaderSize, ps + pageHeaderSize} {
		m := b[at:]
		ne.PutUint64(m[32:], 5) // the freelist page
		h := fnv.New64a()
		h.Write(m[:metaChecksumAt])
		ne.PutUint64(m[metaChecksumAt:], h.Sum64())
	}
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	err := protect(func() error {
		db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
		if err == nil {
			db.Close()
		}
		return err
	})
	t.Logf("bbolt.Open: %v", err)
	if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "memory fault") {
		t.Fatalf("bbolt.Open of a file shorter than its freelist: %v, want a fault turned into ErrDamaged", err)
	}
	// The check finds it without opening it.
	if err := CheckFile(path); !errors.Is(err, ErrDamaged) {
		t.Fatalf("CheckFile: %v, want ErrDamaged", err)
	}
}

func TestLockedStoreIsNotJudged(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	path := filepath.Join(dir, FileName)
	if _, _, err := OpenOrQuarantine(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("OpenOrQuarantine of a store in use: %v, want ErrLocked", err)
	}
	if dmg, err := QuarantineDamaged(path); !errors.Is(err, ErrLocked) || dmg != nil {
		t.Fatalf("QuarantineDamaged of a store in use: %v, %v; want ErrLocked", dmg, err)
	}
	if m, _ := filepath.Glob(path + QuarantineSuffix + "*"); len(m) != 0 {
		t.Fatalf("a store in use was moved: %v", m)
	}
}

// QuarantineDamaged, for files other code opens (the engine's piece
// completion): sound and missing files stay, a damaged one moves, and a
// file that cannot be read for a system reason is not called damaged.
func TestQuarantineDamagedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "completion.db")
	if dmg, err := QuarantineDamaged(path); dmg != nil || err != nil {
		t.Fatalf("missing file: %v, %v", dmg, err)
	}
	// A database shaped like the engine's: a bucket of per-torrent
	// buckets, small ones inline, of piece keys.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		c, err := tx.CreateBucket([]byte("completion"))
		if err != nil {
			return err
		}
		for ih := range 20 {
			b, err := c.CreateBucket(bytes.Repeat([]byte{byte(ih)}, 20))
			if err != nil {
				return err
			}
			for p := range 10 + ih*ih*3 {
				if err := b.Put([]byte{0, 0, byte(p >> 8), byte(p)}, []byte("c")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := CheckFile(path); err != nil {
		t.Fatalf("CheckFile of a sound file: %v", err)
	}
	if dmg, err := QuarantineDamaged(path); dmg != nil || err != nil {
		t.Fatalf("sound file: %v, %v", dmg, err)
	}
	orig, _ := os.ReadFile(path)

	// Each page of the file with its type byte flipped: pages in use are
	// found, whichever bucket they belong to.
	ps := os.Getpagesize()
	found := 0
	for p := 2; p < len(orig)/ps; p++ {
		b := bytes.Clone(orig)
		b[p*ps+8] ^= 0x40
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		dmg, err := QuarantineDamaged(path)
		if err != nil {
			t.Fatalf("page %d flipped: %v", p, err)
		}
		if dmg != nil {
			found++
			if _, err := os.Stat(dmg.MovedTo); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("damaged file still in place: %v", err)
			}
		}
	}
	if found == 0 {
		t.Fatal("no flipped page type was found")
	}
	t.Logf("%d of %d pages in use", found, len(orig)/ps-2)

	// A directory where the file should be: an I/O error, not damage.
	odd := filepath.Join(dir, "dir.db")
	if err := os.Mkdir(odd, 0o700); err != nil {
		t.Fatal(err)
	}
	if dmg, err := QuarantineDamaged(odd); err == nil || errors.Is(err, ErrDamaged) || dmg != nil {
		t.Fatalf("directory: %v, %v; want a plain error", dmg, err)
	}
	if _, err := os.Stat(odd); err != nil {
		t.Fatalf("directory moved: %v", err)
	}
}

func BenchmarkCheckFile(b *testing.B) {
	orig := filledStore(b)
	path := filepath.Join(b.TempDir(), FileName)
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(orig)))
	for b.Loop() {
		if err := CheckFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenLargeStore measures the start-up cost of the check on a
// store with 1,000 tasks and a full event log.
func BenchmarkOpenLargeStore(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for i := range 1000 {
			v := fmt.Appendf(nil, `{"id":"%040x","name":"task %d","metainfo":"%s"}`, i, i, strings.Repeat("A", 4000))
			if err := tx.Bucket(bucketTasks).Put(fmt.Appendf(nil, "%040x", i), v); err != nil {
				return err
			}
		}
		ev, err := tx.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return err
		}
		for i := range EventLogCap {
			frame := fmt.Appendf(nil, `{"id":"%d","name":"task.state","data":{"task_id":"%040x","from":"downloading","to":"seeding"}}`, i+1, i)
			if err := ev.Put(u64(uint64(i+1)), frame); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	path := filepath.Join(dir, FileName)
	fi, _ := os.Stat(path)
	b.Logf("store of %.1f MiB", float64(fi.Size())/(1<<20))
	b.Run("structure", func(b *testing.B) {
		for b.Loop() {
			if err := CheckFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("records", func(b *testing.B) {
		s, _ := Open(dir)
		defer s.Close()
		for b.Loop() {
			if err := s.db.View(checkRecords); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			s, dmg, err := OpenOrQuarantine(dir)
			if err != nil || dmg != nil {
				b.Fatal(err, dmg)
			}
			s.Close()
		}
	})
}
