package store

// Path reservations.
//
// A task's files are reserved for it, by absolute path, in the same
// transaction that stores (or updates) its record, so two tasks can never
// both think a file is theirs: the second is refused with a
// PathConflictError and nothing of it is written. Two paths collide when
// they are equal, or when one is a folder the other lies in (a task's
// file "Photos" and another's "Photos/IMG_0001.jpg"). Two tasks may share
// a folder as long as their files differ. Names are compared as they are
// spelled: on a case-insensitive filesystem "A" and "a" do not collide
// here (the engine's safe paths already make names unique within one
// task).
//
// Two buckets hold them: paths maps a path to the task holding it, and
// task_paths maps a task to its list of paths, so a task's reservation is
// released (DeleteTask, or replaced by UpdateTaskPaths) without a scan. A
// task with no entry in task_paths has no reservation on record: its
// files are not known yet (a magnet), or it was stored before
// reservations existed (the service reserves those at start).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.etcd.io/bbolt"
)

var (
	bucketPaths     = []byte("paths")
	bucketTaskPaths = []byte("task_paths")
	// bucketLeft maps a path to the task that left its file there when
	// it was removed without its data: that task, added again, finds its
	// own (partial) data there, not a stranger's file.
	bucketLeft = []byte("left_paths")
)

// ErrPathConflict marks a reservation refused because another task holds
// one of the paths; the error is a *PathConflictError.
var ErrPathConflict = errors.New("path held by another task")

// PathConflictError names the path that collided and the task holding
// it (or holding a path that collides with it).
type PathConflictError struct {
	Path   string // the path asked for
	Held   string // the colliding path on record (Path, a folder of it, or a file in it)
	TaskID string // the task that holds Held
}

func (e *PathConflictError) Error() string {
	if e.Held == e.Path {
		return fmt.Sprintf("%s is held by task %s", e.Path, e.TaskID)
	}
	return fmt.Sprintf("%s collides with %s, held by task %s", e.Path, e.Held, e.TaskID)
}

func (e *PathConflictError) Unwrap() error { return ErrPathConflict }

// PutTaskPaths creates or replaces the task t and reserves paths
// (absolute) for it, replacing its earlier reservation, in one durable
// transaction. When another task holds a colliding path it writes
// nothing and returns a *PathConflictError.
func (s *Store) PutTaskPaths(t Task, paths []string) error {
	v, err := encodeRecord(t)
	if err != nil {
		return err
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		if err := checkPaths(tx, t.ID, paths); err != nil {
			return err
		}
		if err := reservePaths(tx, t.ID, paths); err != nil {
			return errAbort{err}
		}
		if err := putRecord(tx, t, v, true); err != nil {
			return errAbort{err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put task %s: %w", t.ID, err)
	}
	return nil
}

// UpdateTaskPaths applies fn (when not nil) to the stored task id and
// replaces its reservation with paths (absolute), in one durable
// transaction. It returns ErrNotFound when there is no such task, and a
// *PathConflictError, writing nothing, when another task holds a
// colliding path. Like UpdateTask's, fn must only change the task it is
// given and may run more than once.
func (s *Store) UpdateTaskPaths(id string, paths []string, fn func(*Task)) error {
	return s.UpdateTaskPathsClearJournal(id, paths, fn, "")
}

// UpdateTaskPathsClearJournal is UpdateTaskPaths that also deletes the
// journal entry of op for the task (none when op is ""), in the same
// transaction: a move records the task's new dir, its new paths and its
// end at once.
func (s *Store) UpdateTaskPathsClearJournal(id string, paths []string, fn func(*Task), op string) error {
	if fn == nil {
		fn = func(*Task) {}
	}
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketTasks).Get([]byte(id)) == nil {
			return ErrNotFound
		}
		if err := checkPaths(tx, id, paths); err != nil {
			return err
		}
		if err := reservePaths(tx, id, paths); err != nil {
			return errAbort{err}
		}
		if err := updateTask(tx, id, fn); err != nil {
			return errAbort{err}
		}
		if op != "" {
			if err := tx.Bucket(bucketJournal).Delete(journalKey(op, id)); err != nil {
				return errAbort{err}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update task %s: %w", id, err)
	}
	return nil
}

// TaskPaths returns the paths reserved for task id. ok is false when the
// task has no reservation on record.
func (s *Store) TaskPaths(id string) (paths []string, ok bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		paths, ok, err = taskPaths(tx, id)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("read paths of task %s: %w", id, err)
	}
	return paths, ok, nil
}

// DeleteTaskLeaving removes the task id, like DeleteTask, and records
// that the files it owned (its reserved paths, less those in
// Task.Foreign) were left on disk by it, all in one durable transaction:
// the same task added again takes them as its own (LeftBy).
func (s *Store) DeleteTaskLeaving(id string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		var foreign []string
		if v := tx.Bucket(bucketTasks).Get([]byte(id)); v != nil {
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
			foreign = t.Foreign
		}
		paths, _, err := taskPaths(tx, id)
		if err != nil {
			return err
		}
		if err := leave(tx, id, paths, foreign); err != nil {
			return errAbort{err}
		}
		if err := deleteTask(tx, id); err != nil {
			return errAbort{err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return nil
}

// LeftBy returns those of paths whose files task id left on disk when it
// was removed without its data (DeleteTaskLeaving), and no task has
// reserved since.
func (s *Store) LeftBy(id string, paths []string) ([]string, error) {
	var out []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLeft)
		if b == nil {
			return nil
		}
		for _, p := range paths {
			if v := b.Get([]byte(filepath.Clean(p))); v != nil && string(v) == id {
				out = append(out, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read paths left by task %s: %w", id, err)
	}
	return out, nil
}

// leave records paths (absolute), but those in foreign (relative to
// their task's dir, so compared by suffix), as left by id.
func leave(tx *bbolt.Tx, id string, paths, foreign []string) error {
	if len(paths) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketLeft)
	if err != nil {
		return err
	}
	for _, p := range paths {
		mine := true
		for _, f := range foreign {
			if p == f || strings.HasSuffix(p, string(filepath.Separator)+f) {
				mine = false
			}
		}
		if mine {
			if err := b.Put([]byte(p), []byte(id)); err != nil {
				return err
			}
		}
	}
	return nil
}

func taskPaths(tx *bbolt.Tx, id string) (paths []string, ok bool, err error) {
	b := tx.Bucket(bucketTaskPaths)
	if b == nil {
		return nil, false, nil
	}
	v := b.Get([]byte(id))
	if v == nil {
		return nil, false, nil
	}
	if err := json.Unmarshal(v, &paths); err != nil {
		return nil, false, fmt.Errorf("decode paths of task %s: %w", id, err)
	}
	return paths, true, nil
}

// checkPaths returns a *PathConflictError when a task other than id
// holds a path colliding with one of paths. It writes nothing.
func checkPaths(tx *bbolt.Tx, id string, paths []string) error {
	b := tx.Bucket(bucketPaths)
	if b == nil {
		return nil
	}
	holder := func(p string) (string, bool) {
		v := b.Get([]byte(p))
		return string(v), v != nil && string(v) != id
	}
	for _, p := range paths {
		p = filepath.Clean(p)
		if other, ok := holder(p); ok {
			return &PathConflictError{Path: p, Held: p, TaskID: other}
		}
		// A folder of p held as a file.
		for d := filepath.Dir(p); d != filepath.Dir(d); d = filepath.Dir(d) {
			if other, ok := holder(d); ok {
				return &PathConflictError{Path: p, Held: d, TaskID: other}
			}
		}
		// Files held inside p, as if it were a folder.
		prefix := []byte(p + string(filepath.Separator))
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if string(v) != id {
				return &PathConflictError{Path: p, Held: string(k), TaskID: string(v)}
			}
		}
	}
	return nil
}

// reservePaths replaces id's reservation with paths. Call checkPaths
// first.
func reservePaths(tx *bbolt.Tx, id string, paths []string) error {
	if err := releasePaths(tx, id); err != nil {
		return err
	}
	b, err := tx.CreateBucketIfNotExists(bucketPaths)
	if err != nil {
		return err
	}
	owners, err := tx.CreateBucketIfNotExists(bucketTaskPaths)
	if err != nil {
		return err
	}
	clean := make([]string, 0, len(paths))
	for _, p := range paths {
		clean = append(clean, filepath.Clean(p))
	}
	slices.Sort(clean)
	clean = slices.Compact(clean)
	left := tx.Bucket(bucketLeft)
	for _, p := range clean {
		if err := b.Put([]byte(p), []byte(id)); err != nil {
			return err
		}
		// Reserved again: whoever left it, it is this task's now.
		if left != nil {
			if err := left.Delete([]byte(p)); err != nil {
				return err
			}
		}
	}
	v, err := json.Marshal(clean)
	if err != nil {
		return err
	}
	return owners.Put([]byte(id), v)
}

// releasePaths drops id's reservation, if any.
func releasePaths(tx *bbolt.Tx, id string) error {
	owners := tx.Bucket(bucketTaskPaths)
	if owners == nil {
		return nil
	}
	v := owners.Get([]byte(id))
	if v == nil {
		return nil
	}
	var old []string
	if err := json.Unmarshal(v, &old); err != nil {
		return fmt.Errorf("decode paths of task %s: %w", id, err)
	}
	b := tx.Bucket(bucketPaths)
	for _, p := range old {
		if b != nil && string(b.Get([]byte(p))) == id {
			if err := b.Delete([]byte(p)); err != nil {
				return err
			}
		}
	}
	return owners.Delete([]byte(id))
}
