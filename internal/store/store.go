// Package store keeps Lodestone's durable state — tasks and the event
// sequence — in one bbolt file in the data directory.
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
const SchemaVersion = 1

var (
	bucketMeta  = []byte("meta")
	bucketTasks = []byte("tasks")

	keySchema = []byte("schema")
	keySeq    = []byte("event_seq")
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
}

// Store is an open store. Its methods are safe for concurrent use.
type Store struct {
	db *bbolt.DB
	c  committer // group-commits every write after Open
}

// Open opens or creates the store in dir. It fails with ErrLocked when
// another process has it open, refuses a file of another schema version,
// and refuses a damaged file (an error wrapping ErrDamaged) after checking
// it with CheckFile and decoding every record, so no later read can fail
// or crash on it. The caller must Close it.
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
	var db *bbolt.DB
	err = protect(func() (err error) {
		db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
		return err
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.init(); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	if dmg != nil {
		if err := s.raiseSeq(uint64(time.Now().UnixMicro())); err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	return s, dmg, nil
}

func (s *Store) init() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketTasks); err != nil {
			return err
		}
		v := meta.Get(keySchema)
		if v == nil {
			return meta.Put(keySchema, u64(SchemaVersion))
		}
		if got := binary.BigEndian.Uint64(v); got != SchemaVersion {
			return fmt.Errorf("schema version %d, want %d", got, SchemaVersion)
		}
		return nil
	})
}

// Close closes the store. It is safe to call more than once.
func (s *Store) Close() error {
	return s.db.Close()
}

// PutTask creates or replaces the task t, durably.
func (s *Store) PutTask(t Task) error {
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode task %s: %w", t.ID, err)
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTasks).Put([]byte(t.ID), v)
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
func (s *Store) UpdateTask(id string, fn func(*Task)) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTasks)
		v := b.Get([]byte(id))
		if v == nil {
			return ErrNotFound
		}
		var t Task
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		fn(&t)
		nv, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		return b.Put([]byte(id), nv)
	})
	if err != nil {
		return fmt.Errorf("update task %s: %w", id, err)
	}
	return nil
}

// DeleteTask removes the task id and releases its paths (paths.go),
// durably; removing a missing task is not an error.
func (s *Store) DeleteTask(id string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		if err := releasePaths(tx, id); err != nil {
			return errAbort{err}
		}
		return tx.Bucket(bucketTasks).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return nil
}

// Tasks returns every stored task, ordered by ID.
func (s *Store) Tasks() ([]Task, error) {
	var ts []Task
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTasks).ForEach(func(k, v []byte) error {
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode task %s: %w", k, err)
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
