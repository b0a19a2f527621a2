// Package store keeps Lodestone's durable state — tasks and the event
// sequence — in one bbolt file in the data directory.
//
// A task's metainfo (its .torrent, up to 10 MiB) is kept apart from its
// small, often rewritten record, and written only when it changes, so a
// pause or a setting rewrites a few hundred bytes rather than the whole
// torrent. bbolt never gives freed pages back to the file system: Open
// compacts the file when most of it is free (compact.go).
//
// Every write is a committed, fsynced bbolt transaction before the call
// returns, so a caller that acknowledges after a successful write loses
// nothing to a crash or SIGKILL. Concurrent writes share transactions, and
// so fsyncs (commit.go): many writers at once cost little more than one. The file carries a schema version; a file of
// an unknown version is refused rather than misread. A damaged file is found
// before bbolt maps it (quarantine.go) and is refused, or moved aside by
// OpenOrQuarantine, instead of crashing the process.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// FileName is the store's file name inside the data directory.
const FileName = "lodestone.db"

// SchemaVersion is the on-disk format this package reads and writes.
// Version 1 kept a task's metainfo inside its JSON record; version 2 keeps
// it in a bucket of its own (Open migrates a version 1 file). A daemon
// that knows only version 1 refuses a version 2 file rather than lose the
// metainfo.
const SchemaVersion = 2

var (
	bucketMeta  = []byte("meta")
	bucketTasks = []byte("tasks")
	// bucketMetaInfo holds each task's metainfo by task id: only for
	// tasks that have one, deleted with the task.
	bucketMetaInfo = []byte("metainfo")

	keySchema = []byte("schema")
	keySeq    = []byte("event_seq")
	// keyMigrating is set while records of schema 1 may still carry
	// their metainfo (see migrate).
	keyMigrating = []byte("migrating_v2")
)

// ErrNotFound is returned for a task that is not in the store.
var ErrNotFound = errors.New("not found")

// ErrLocked is returned by Open when another process holds the store.
var ErrLocked = errors.New("store is in use by another process")

// Task is the durable record of one task. It holds what is needed to bring
// the task back after a restart without any peer: the magnet URI or the
// torrent's metainfo, and the user's choices.
type Task struct {
	// ID is the lowercase hex v1 info-hash.
	ID string `json:"id"`
	// Magnet is the URI the task was added with, for magnet tasks.
	Magnet string `json:"magnet,omitempty"`
	// MetaInfo is the bencoded .torrent: as added for torrent tasks, or
	// built from the info dictionary once a magnet's metadata arrived.
	// The store keeps it apart from the rest of the record (the JSON tag
	// is for the records of schema 1).
	MetaInfo []byte `json:"metainfo,omitempty"`
	// Name is the display name; Size is 0 until the metadata is known.
	Name string `json:"name"`
	Size int64  `json:"size"`
	// AddedAt is when the task was first added.
	AddedAt time.Time `json:"added_at"`
	// FinishedAt is when all data was first verified; zero until then.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Paused records that the user paused the task.
	Paused bool `json:"paused,omitempty"`
	// Labels are the user's labels.
	Labels []string `json:"labels,omitempty"`
	// FilePriorities are per-file priorities by file index ("skip",
	// "high"); files not listed are normal.
	FilePriorities map[int]string `json:"file_priorities,omitempty"`
	// WantFiles, for a magnet added with a file selection, lists the files
	// to download once the metadata is known.
	WantFiles []int `json:"want_files,omitempty"`
	// Downloaded and Uploaded are payload byte totals over all sessions,
	// as of the last flush.
	Downloaded int64 `json:"downloaded,omitempty"`
	Uploaded   int64 `json:"uploaded,omitempty"`
	// DownloadDir is the absolute dir the task's data lives in. Records
	// made before issue 15 stored "" for the daemon's default download
	// dir; the service pins those to the dir in effect at its first start
	// after the change.
	DownloadDir string `json:"download_dir,omitempty"`
	// Foreign lists the task's files (relative to DownloadDir) that
	// existed on disk before the task and are not yet verified to hold
	// its data. Nothing is written to them, and task.remove never deletes
	// them; a file leaves the list once every piece of it verifies.
	Foreign []string `json:"foreign,omitempty"`
	// Trackers, when not nil, replaces the trackers of the task's source
	// (edited with task.add_trackers / task.remove_trackers).
	Trackers []string `json:"trackers,omitempty"`
	// Sequential downloads pieces in order.
	Sequential bool `json:"sequential,omitempty"`
	// DownloadLimit and UploadLimit cap the task in bytes per second.
	DownloadLimit int64 `json:"download_limit,omitempty"`
	UploadLimit   int64 `json:"upload_limit,omitempty"`
	// SeedingDone records that the seeding limit was reached.
	SeedingDone bool `json:"seeding_done,omitempty"`
	// QueueOrder places the task in the queue order: tasks are ordered
	// by it, lowest first. Keys are sparse (a move rewrites one or two
	// records, not every task between) and never 0: 0 is a record made
	// before the queue order existed, which the service places after the
	// others, oldest added first, and gives a key at its next start.
	QueueOrder int64 `json:"queue_order,omitempty"`
	// ActiveAt is when payload last moved either way; zero if never.
	// Stored with the byte totals.
	ActiveAt time.Time `json:"active_at,omitzero"`
	// SecondsDownloading and SecondsSeeding are the time spent running
	// while incomplete and while complete, as of the last flush of the
	// totals.
	SecondsDownloading int64 `json:"seconds_downloading,omitempty"`
	SecondsSeeding     int64 `json:"seconds_seeding,omitempty"`
	// SeedRatioLimit, SeedTimeLimit and SeedIdleLimit are the task's own
	// seeding limits: nil follows the session's, -1 is none, 0 or more
	// a limit (times in seconds).
	SeedRatioLimit *float64 `json:"seed_ratio_limit,omitempty"`
	SeedTimeLimit  *int64   `json:"seed_time_limit,omitempty"`
	SeedIdleLimit  *int64   `json:"seed_idle_limit,omitempty"`
	// Category is the name of the task's category (categories.go); ""
	// for none. Records made before categories existed have none.
	Category string `json:"category,omitempty"`
}

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	path string
	c    committer // group-commits every write after Open

	compaction Compaction // what Open's compaction did
}

// Open opens or creates the store in dir. It fails with ErrLocked when
// another process has it open, refuses a file of another schema version,
// and refuses a damaged file (an error wrapping ErrDamaged) after checking
// it with CheckFile and decoding every record, so no later read can fail
// or crash on it. It migrates a file of an older schema, and compacts a
// file that is mostly free space (see Compaction). The caller must Close
// it.
func Open(dir string) (*Store, error) {
	s, _, err := open(dir, false)
	return s, err
}

// OpenOrQuarantine is Open, except that a damaged file (truncated, empty,
// bit-flipped) is moved aside (see QuarantineDamaged) and a fresh, empty
// store is made in its place. It then returns the Damage, which the caller
// must report: the tasks and settings in the damaged file are gone from the
// daemon's view (they are still in the moved file). The fresh store's event
// sequence starts at the current Unix time in microseconds rather than at
// 1, so event ids stay above those handed out before, and a client
// replaying after its last id sees the new events as new.
func OpenOrQuarantine(dir string) (*Store, *Damage, error) {
	return open(dir, true)
}

func open(dir string, move bool) (*Store, *Damage, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	dmg, err := quarantineDamaged(path, checkRecords, move)
	if err != nil {
		return nil, nil, err
	}
	db, err := openLocked(path)
	if err != nil {
		return nil, nil, err
	}
	s := &Store{db: db, path: path}
	err = s.init()
	if err == nil {
		err = s.migrate(migrateBatch)
	}
	if err == nil && dmg != nil {
		err = s.raiseSeq(uint64(time.Now().UnixMicro()))
	}
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.compaction = s.compact()
	return s, dmg, nil
}

// openLocked opens the bbolt file at path, holding its lock. Should the
// path be replaced while the lock is being waited for (another process
// compacted the file and put the new one in its place), the lock taken
// is on a file no longer in use: it opens the new one instead.
func openLocked(path string) (*bbolt.DB, error) {
	for range 3 {
		var (
			db   *bbolt.DB
			held os.FileInfo
		)
		opts := &bbolt.Options{
			Timeout: time.Second,
			OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
				f, err := os.OpenFile(name, flag, perm)
				if err == nil {
					if held, err = f.Stat(); err != nil {
						f.Close()
						return nil, err
					}
				}
				return f, err
			},
		}
		err := protect(func() (err error) {
			db, err = bbolt.Open(path, 0o600, opts)
			return err
		})
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		if now, err := os.Stat(path); err == nil && os.SameFile(now, held) {
			return db, nil
		}
		db.Close()
	}
	return nil, fmt.Errorf("open %s: the file keeps being replaced", path)
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		for _, b := range [][]byte{bucketTasks, bucketMetaInfo, bucketCategories} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucketIfNotExists(bucketJournal); err != nil {
			return err
		}
		v := meta.Get(keySchema)
		if v == nil {
			return meta.Put(keySchema, u64(SchemaVersion))
		}
		switch got := binary.BigEndian.Uint64(v); got {
		case SchemaVersion:
			return nil
		case 1:
			// The version changes first, so that an older daemon
			// refuses the file even while records are being moved.
			if err := meta.Put(keyMigrating, u64(1)); err != nil {
				return err
			}
			return meta.Put(keySchema, u64(SchemaVersion))
		default:
			return fmt.Errorf("schema version %d, want %d", got, SchemaVersion)
		}
	})
}

// migrateBatch bounds the metainfo bytes moved by one transaction of
// migrate: a transaction keeps every page it writes in memory until it
// commits.
const migrateBatch = 32 << 20

// migrate moves the metainfo out of the task records of a schema 1 file
// into bucketMetaInfo, in transactions of about batch bytes each, and
// then clears keyMigrating. Each transaction moves whole tasks, so a
// crash between them leaves every task either moved or not; the next Open
// goes on where it may have stopped.
func (s *Store) migrate(batch int) error {
	var after []byte // the last task id looked at
	for {
		done := false
		err := s.db.Update(func(tx *bbolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta.Get(keyMigrating) == nil {
				done = true
				return nil
			}
			tasks, mis := tx.Bucket(bucketTasks), tx.Bucket(bucketMetaInfo)
			var moved []Task
			size := 0
			c := tasks.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && size < batch; k, v = c.Next() {
				after = bytes.Clone(k)
				var t Task
				if err := json.Unmarshal(v, &t); err != nil {
					return fmt.Errorf("decode task %s: %w", k, err)
				}
				if len(t.MetaInfo) > 0 {
					moved = append(moved, t)
					size += len(t.MetaInfo)
				}
			}
			// Written after the walk: a cursor must not see its bucket
			// change under it.
			for _, t := range moved {
				rec, err := encodeRecord(t)
				if err != nil {
					return err
				}
				if err := mis.Put([]byte(t.ID), t.MetaInfo); err != nil {
					return err
				}
				if err := tasks.Put([]byte(t.ID), rec); err != nil {
					return err
				}
			}
			if k == nil {
				done = true
				return meta.Delete(keyMigrating)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate to schema %d: %w", SchemaVersion, err)
		}
		if done {
			return nil
		}
	}
}

// Close closes the store. It is safe to call more than once.
func (s *Store) Close() error {
	return s.db.Close()
}

// encodeRecord encodes t without its metainfo, which is kept apart.
func encodeRecord(t Task) ([]byte, error) {
	t.MetaInfo = nil
	v, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode task %s: %w", t.ID, err)
	}
	return v, nil
}

// putMetaInfo makes mi the stored metainfo of task id (none when mi is
// empty), writing nothing when it is so already: bbolt copies a value it
// is given on every Put, however little changed.
func putMetaInfo(tx *bbolt.Tx, id string, mi []byte) error {
	b := tx.Bucket(bucketMetaInfo)
	if len(mi) == 0 {
		return b.Delete([]byte(id))
	}
	if bytes.Equal(b.Get([]byte(id)), mi) {
		return nil
	}
	return b.Put([]byte(id), mi)
}

// putRecord writes task t's record and, when setMetaInfo, its metainfo,
// in tx. Should the second write fail after the first, the transaction is
// rolled back (errAbort).
func putRecord(tx *bbolt.Tx, t Task, rec []byte, setMetaInfo bool) error {
	if setMetaInfo {
		if err := putMetaInfo(tx, t.ID, t.MetaInfo); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTasks).Put([]byte(t.ID), rec); err != nil {
			return errAbort{err}
		}
		return nil
	}
	return tx.Bucket(bucketTasks).Put([]byte(t.ID), rec)
}

// PutTask creates or replaces the task t, durably. Its metainfo is
// written only when it differs from the stored one (none when t has
// none), so putting a task again costs its small record only.
func (s *Store) PutTask(t Task) error {
	v, err := encodeRecord(t)
	if err != nil {
		return err
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		return putRecord(tx, t, v, true)
	})
	if err != nil {
		return fmt.Errorf("put task %s: %w", t.ID, err)
	}
	return nil
}

// UpdateTask applies fn to the stored task id and writes the result back in
// one transaction, durably. It returns ErrNotFound when there is no such
// task. fn must only change the task it is given: it runs once, except
// that it runs again, on a freshly read task, in the rare case that
// another write sharing its transaction fails in a way that rolls the
// transaction back (see committer.update).
//
// fn is given the task without its metainfo (MetaInfo nil), which is not
// read: copying a whole .torrent for every pause would cost what writing
// it did. When fn sets MetaInfo, that becomes the stored metainfo; left
// nil, the stored one stays.
func (s *Store) UpdateTask(id string, fn func(*Task)) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error { return updateTask(tx, id, fn) })
	if err != nil {
		return fmt.Errorf("update task %s: %w", id, err)
	}
	return nil
}

// updateTask is UpdateTask's work in tx.
func updateTask(tx *bbolt.Tx, id string, fn func(*Task)) error {
	v := tx.Bucket(bucketTasks).Get([]byte(id))
	if v == nil {
		return ErrNotFound
	}
	var t Task
	if err := json.Unmarshal(v, &t); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	t.MetaInfo = nil
	fn(&t)
	nv, err := encodeRecord(t)
	if err != nil {
		return err
	}
	return putRecord(tx, t, nv, t.MetaInfo != nil)
}

// DeleteTask removes the task id and its metainfo, and releases its
// paths (paths.go), durably; removing a missing task is not an error.
func (s *Store) DeleteTask(id string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error { return deleteTask(tx, id) })
	if err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return nil
}

// deleteTask is DeleteTask's work in tx (journal.go and paths.go share
// it): the metainfo first, then the task's paths (paths.go) and the
// record, whose failures abort.
func deleteTask(tx *bbolt.Tx, id string) error {
	if err := tx.Bucket(bucketMetaInfo).Delete([]byte(id)); err != nil {
		return err
	}
	if err := releasePaths(tx, id); err != nil {
		return errAbort{err}
	}
	if err := tx.Bucket(bucketTasks).Delete([]byte(id)); err != nil {
		return errAbort{err}
	}
	return nil
}

// Tasks returns every stored task, ordered by ID.
func (s *Store) Tasks() ([]Task, error) {
	var ts []Task
	err := s.db.View(func(tx *bbolt.Tx) error {
		mis := tx.Bucket(bucketMetaInfo)
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode task %s: %w", k, err)
			}
			if mi := mis.Get(k); mi != nil {
				t.MetaInfo = bytes.Clone(mi)
			}
			ts = append(ts, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return ts, nil
}

// ReserveSeq durably reserves the next n event sequence numbers and returns
// the first of them. Numbers start at 1 and are never handed out twice, even
// across crashes; numbers reserved but unused before a crash are skipped.
func (s *Store) ReserveSeq(n uint64) (first uint64, err error) {
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		var next uint64 = 1
		if v := b.Get(keySeq); v != nil {
			next = binary.BigEndian.Uint64(v)
		}
		first = next
		return b.Put(keySeq, u64(next+n))
	})
	if err != nil {
		return 0, fmt.Errorf("reserve event sequence: %w", err)
	}
	return first, nil
}

// raiseSeq makes the next event sequence number at least next.
func (s *Store) raiseSeq(next uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if v := b.Get(keySeq); v != nil && binary.BigEndian.Uint64(v) >= next {
			return nil
		}
		return b.Put(keySeq, u64(next))
	})
}

func u64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, v)
}

// SettingPeerPort is the settings key of the BitTorrent port used when the
// daemon is not given a peer address.
const SettingPeerPort = "peer_port"

// Setting returns the value stored under key in the settings, or nil.
// Setting values are JSON (a number or a string is JSON too); Open checks
// that they parse.
func (s *Store) Setting(key string) ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketMeta).Get([]byte("setting/" + key)); b != nil {
			v = append([]byte(nil), b...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, nil
}

// PutSetting durably stores value under key in the settings. The value
// must be JSON: Open treats a setting that does not parse as damage.
func (s *Store) PutSetting(key string, value []byte) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("setting/"+key), value)
	})
	if err != nil {
		return fmt.Errorf("write setting %s: %w", key, err)
	}
	return nil
}

// EventLogCap is how many events the store keeps for replay; older ones
// are dropped as new ones arrive.
const EventLogCap = 10_000

var (
	bucketEvents = []byte("events")
	keyEventN    = []byte("event_count")
	keyDropped   = []byte("event_dropped_max")
)

// AppendEvent durably appends an encoded event with sequence number seq
// to the replay log, dropping the oldest beyond EventLogCap.
func (s *Store) AppendEvent(seq uint64, frame []byte) error {
	return s.AppendEvents([]uint64{seq}, [][]byte{frame})
}

// AppendEvents durably appends the encoded events frames, numbered seqs
// (new numbers, increasing), to the replay log in one transaction,
// dropping the oldest beyond EventLogCap: all of them or, on error, none.
// The frames must not change until it returns.
func (s *Store) AppendEvents(seqs []uint64, frames [][]byte) error {
	if len(seqs) != len(frames) {
		return fmt.Errorf("append events: %d numbers for %d frames", len(seqs), len(frames))
	}
	if len(seqs) == 0 {
		return nil
	}
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		if err := appendEvents(tx, seqs, frames); err != nil {
			// Some events may be in: roll the transaction back.
			return errAbort{err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append events %d-%d: %w", seqs[0], seqs[len(seqs)-1], err)
	}
	return nil
}

func appendEvents(tx *bbolt.Tx, seqs []uint64, frames [][]byte) error {
	b, err := tx.CreateBucketIfNotExists(bucketEvents)
	if err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	var n uint64
	if v := meta.Get(keyEventN); v != nil {
		n = binary.BigEndian.Uint64(v)
	}
	for i, seq := range seqs {
		if err := b.Put(u64(seq), frames[i]); err != nil {
			return err
		}
		n++
	}
	c := b.Cursor()
	var dropped []byte
	for k, _ := c.First(); k != nil && n > EventLogCap; k, _ = c.First() {
		dropped = append(dropped[:0], k...)
		if err := c.Delete(); err != nil {
			return err
		}
		n--
	}
	if dropped != nil {
		if v := meta.Get(keyDropped); v == nil || bytes.Compare(dropped, v) > 0 {
			if err := meta.Put(keyDropped, dropped); err != nil {
				return err
			}
		}
	}
	return meta.Put(keyEventN, u64(n))
}

// EventsAfter calls fn, in order, for each logged event whose sequence
// number is above after, until fn returns false. It returns the highest
// sequence number ever dropped from the log (0 if none), so a caller can
// tell whether events after `after` are missing.
func (s *Store) EventsAfter(after uint64, fn func(seq uint64, frame []byte) bool) (dropped uint64, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyDropped); v != nil {
			dropped = binary.BigEndian.Uint64(v)
		}
		b := tx.Bucket(bucketEvents)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
			if !fn(binary.BigEndian.Uint64(k), append([]byte(nil), v...)) {
				break
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("read event log: %w", err)
	}
	return dropped, nil
}
