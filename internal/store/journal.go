package store

// The journal.
//
// Moving a task's data and deleting it touch many files, one at a time,
// and a crash (SIGKILL, power cut) can stop either half-way. Before the
// first file is touched the operation is written here, durably; it is
// cleared in the same transaction as the task record's last word on it
// (the new download dir of a move), or once the files are deleted. So the
// next start finds, in the journal, every operation a crash cut short, and
// finishes or undoes it before the tasks are loaded (service/journal.go).

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// bucketJournal holds the JournalEntry records, keyed "op/task_id".
var bucketJournal = []byte("journal")

// Journal operations (JournalEntry.Op).
const (
	// JournalMove: a task's files are moving from one dir to another.
	JournalMove = "move"
	// JournalRemove: a removed task's files are being deleted.
	JournalRemove = "remove"
)

// JournalEntry is an operation on a task's files that is under way: a
// move (From, To) or the deletion of a removed task's data
// (Dir).
type JournalEntry struct {
	// Op is JournalMove or JournalRemove.
	Op string `json:"op"`
	// TaskID is the task's ID.
	TaskID string `json:"task_id"`
	// From and To are a move's absolute dirs.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Dir is the absolute download dir of a removed task's data.
	Dir string `json:"dir,omitempty"`
	// Files are the paths, relative to the dirs, of the files the
	// operation touches: for a move, those that existed in From when it
	// began (none of them existed in To); for a removal, the task's files.
	Files []string `json:"files"`
	// Started is when the operation began, for the logs.
	Started time.Time `json:"started"`
}

func journalKey(op, id string) []byte { return []byte(op + "/" + id) }

// PutJournal records e durably, replacing an entry of the same operation
// and task.
func (s *Store) PutJournal(e JournalEntry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode journal entry %s/%s: %w", e.Op, e.TaskID, err)
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketJournal).Put(journalKey(e.Op, e.TaskID), v)
	})
	if err != nil {
		return fmt.Errorf("write journal entry %s/%s: %w", e.Op, e.TaskID, err)
	}
	return nil
}

// ClearJournal deletes the entry of operation op on task id, durably; a
// missing entry is not an error.
func (s *Store) ClearJournal(op, id string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketJournal).Delete(journalKey(op, id))
	})
	if err != nil {
		return fmt.Errorf("clear journal entry %s/%s: %w", op, id, err)
	}
	return nil
}

// Journal returns every entry, ordered by operation and task ID.
func (s *Store) Journal() ([]JournalEntry, error) {
	var es []JournalEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketJournal).ForEach(func(k, v []byte) error {
			var e JournalEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode journal entry %s: %w", k, err)
			}
			es = append(es, e)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return es, nil
}

// DeleteTaskJournaled deletes the task id and records e (the deletion of
// its files) in one transaction, durably: no crash can leave the task gone
// and its files unaccounted for.
func (s *Store) DeleteTaskJournaled(id string, e JournalEntry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode journal entry %s/%s: %w", e.Op, e.TaskID, err)
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		// Put checks its arguments before changing anything: a failure
		// leaves the task in place.
		if err := tx.Bucket(bucketJournal).Put(journalKey(e.Op, e.TaskID), v); err != nil {
			return err
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

// UpdateTaskClearJournal applies fn to the stored task id, as UpdateTask
// does, and deletes the journal entry of operation op on it, in one
// transaction, durably: the record's new state and the end of the
// operation are written together. It fails with ErrNotFound, and clears
// nothing, when there is no such task.
func (s *Store) UpdateTaskClearJournal(id string, fn func(*Task), op string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		if err := updateTask(tx, id, fn); err != nil {
			return err
		}
		if err := tx.Bucket(bucketJournal).Delete(journalKey(op, id)); err != nil {
			return errAbort{err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update task %s: %w", id, err)
	}
	return nil
}

// checkJournal decodes every journal entry, for checkRecords.
func checkJournal(tx *bbolt.Tx) error {
	b := tx.Bucket(bucketJournal)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var e JournalEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("journal entry %q: %w", k, err)
		}
		if string(journalKey(e.Op, e.TaskID)) != string(k) {
			return fmt.Errorf("journal entry %q: record names %s/%s", k, e.Op, e.TaskID)
		}
		return nil
	})
}
