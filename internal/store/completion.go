package store

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Completion is a piece-completion database: per torrent, the bitfield of
// pieces verified on disk (the native engine core's record). It is a file
// of its own, apart from the task store, and every Put is fsynced.
type Completion struct{ db *bbolt.DB }

var completionBucket = []byte("pieces")

// OpenCompletion opens (or creates) the completion database at path.
func OpenCompletion(path string) (*Completion, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open piece completion %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(completionBucket)
		return err
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open piece completion %s: %w", path, err), db.Close())
	}
	return &Completion{db}, nil
}

// Get returns the bitfield recorded for id, nil when there is none.
func (c *Completion) Get(id string) ([]byte, error) {
	var out []byte
	err := c.db.View(func(tx *bbolt.Tx) error {
		out = append(out, tx.Bucket(completionBucket).Get([]byte(id))...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read piece completion of %s: %w", id, err)
	}
	return out, nil
}

// Put records id's bitfield, durably.
func (c *Completion) Put(id string, bits []byte) error {
	err := c.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(completionBucket).Put([]byte(id), bits)
	})
	if err != nil {
		return fmt.Errorf("record piece completion of %s: %w", id, err)
	}
	return nil
}

// PutMany records many bitfields (by id) in one transaction, durably: one
// fsync for all of them.
func (c *Completion) PutMany(bits map[string][]byte) error {
	if len(bits) == 0 {
		return nil
	}
	err := c.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(completionBucket)
		for id, v := range bits {
			if err := b.Put([]byte(id), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record piece completion of %d torrents: %w", len(bits), err)
	}
	return nil
}

// Close closes the database.
func (c *Completion) Close() error { return c.db.Close() }
