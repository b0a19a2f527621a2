package store

// Transmission's ids.
//
// Transmission's RPC names tasks by small integers, which its clients
// (Sonarr, transmission-remote) keep between calls; internal/transmission
// hands them out and they are kept here, in a bucket of their own: one key
// per task ("id/" + task id → 8-byte id) and the counter ("next"), so
// giving a new task its id writes two small keys rather than the whole
// table. Before this bucket the table was one JSON setting; the first read
// moves it here.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"
)

// bucketTransmission holds the id table of Transmission's RPC.
var bucketTransmission = []byte("transmission")

// LegacyTransmissionIDsKey is the settings key the id table was kept under
// before it had a bucket; TransmissionIDs moves it.
const LegacyTransmissionIDsKey = "transmission_ids"

const (
	trNextKey  = "next"
	trIDPrefix = "id/"
)

// TransmissionIDs is the stored id table of Transmission's RPC.
type TransmissionIDs struct {
	// Next is the id the next new task gets: above every id ever given.
	Next int
	// IDs maps task ids to their Transmission ids.
	IDs map[string]int
	// Damaged describes the stored values that could not be read (and
	// were left out): the caller rebuilds from what was read and warns.
	Damaged []string
	// Migrated is how many ids were moved from the old setting by this
	// call; MigrationErr says why the old setting could not be read, if
	// it could not (it is dropped all the same: ids are given anew).
	Migrated     int
	MigrationErr error
}

// legacyIDs is the old setting's JSON.
type legacyIDs struct {
	Next int            `json:"next"`
	IDs  map[string]int `json:"ids"`
}

// TransmissionIDs returns the id table, first moving the old setting (if
// any) into the bucket, durably and in one transaction: an id kept in the
// bucket wins over the setting's. A damaged value is reported in Damaged
// or MigrationErr, never as the error, so that it cannot stop the daemon
// from starting; the error is for a store that cannot be read or written.
func (s *Store) TransmissionIDs() (TransmissionIDs, error) {
	out := TransmissionIDs{IDs: map[string]int{}}
	var legacy []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get([]byte("setting/" + LegacyTransmissionIDsKey)); v != nil {
			legacy = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("read transmission ids: %w", err)
	}
	if legacy != nil {
		var old legacyIDs
		if err := json.Unmarshal(legacy, &old); err != nil {
			out.MigrationErr = fmt.Errorf("setting %s: %w", LegacyTransmissionIDsKey, err)
			old = legacyIDs{}
		}
		err := s.c.update(s.db, func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucketTransmission)
			if err != nil {
				return err
			}
			n := 0
			for task, id := range old.IDs {
				if id <= 0 || task == "" || b.Get([]byte(trIDPrefix+task)) != nil {
					continue
				}
				if err := b.Put([]byte(trIDPrefix+task), u64(uint64(id))); err != nil {
					return errAbort{err}
				}
				n++
			}
			if cur := b.Get([]byte(trNextKey)); old.Next > 0 && (len(cur) != 8 || int(binary.BigEndian.Uint64(cur)) < old.Next) {
				if err := b.Put([]byte(trNextKey), u64(uint64(old.Next))); err != nil {
					return errAbort{err}
				}
			}
			if err := tx.Bucket(bucketMeta).Delete([]byte("setting/" + LegacyTransmissionIDsKey)); err != nil {
				return errAbort{err}
			}
			out.Migrated = n
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("move transmission ids to their bucket: %w", err)
		}
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTransmission)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			key := string(k)
			switch {
			case key == trNextKey:
				if len(v) != 8 {
					out.Damaged = append(out.Damaged, fmt.Sprintf("counter: %d bytes, want 8", len(v)))
					return nil
				}
				out.Next = int(min(binary.BigEndian.Uint64(v), 1<<31))
			case strings.HasPrefix(key, trIDPrefix):
				task := key[len(trIDPrefix):]
				if len(v) != 8 || binary.BigEndian.Uint64(v) == 0 || binary.BigEndian.Uint64(v) >= 1<<31 {
					out.Damaged = append(out.Damaged, fmt.Sprintf("id of task %q: %x", task, v))
					return nil
				}
				out.IDs[task] = int(binary.BigEndian.Uint64(v))
			default:
				out.Damaged = append(out.Damaged, fmt.Sprintf("unknown key %q", key))
			}
			return nil
		})
	})
	if err != nil {
		return out, fmt.Errorf("read transmission ids: %w", err)
	}
	return out, nil
}

// PutTransmissionIDs durably sets the counter to next, gives the tasks of
// set their ids and forgets the tasks of del, in one transaction.
func (s *Store) PutTransmissionIDs(next int, set map[string]int, del []string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTransmission)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(trNextKey), u64(uint64(next))); err != nil {
			return errAbort{err}
		}
		for task, id := range set {
			if err := b.Put([]byte(trIDPrefix+task), u64(uint64(id))); err != nil {
				return errAbort{err}
			}
		}
		for _, task := range del {
			if err := b.Delete([]byte(trIDPrefix + task)); err != nil {
				return errAbort{err}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write transmission ids: %w", err)
	}
	return nil
}
