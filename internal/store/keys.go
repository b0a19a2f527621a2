package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// API keys (issue 17). Each lives in bucketKeys under its id, as JSON. Only
// the SHA-256 of a key's secret is stored: the secret itself is shown once,
// by key.create, and exists nowhere after that.

// bucketKeys holds the KeyRecord records by key id.
var bucketKeys = []byte("api_keys")

// KeyRecord is the durable form of an API key.
type KeyRecord struct {
	ID    string `json:"key_id"`
	Name  string `json:"name"`
	Scope string `json:"scope"`
	// Hash is the SHA-256 of the secret.
	Hash       []byte `json:"hash"`
	CreatedAt  int64  `json:"created_at"`
	LastUsedAt int64  `json:"last_used_at,omitempty"`
}

// APIKeys returns every stored key, in id order.
func (s *Store) APIKeys() ([]KeyRecord, error) {
	return allJSON[KeyRecord](s, bucketKeys, "api key", "api keys")
}

// PutAPIKey creates or replaces the key r, durably.
func (s *Store) PutAPIKey(r KeyRecord) error {
	if r.ID == "" {
		return errors.New("put api key: empty id")
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode api key %q: %w", r.ID, err)
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketKeys)
		if err != nil {
			return err
		}
		return b.Put([]byte(r.ID), v)
	})
	if err != nil {
		return fmt.Errorf("put api key %q: %w", r.ID, err)
	}
	return nil
}

// DeleteAPIKey removes the key id, durably. Deleting a missing key is not
// an error.
func (s *Store) DeleteAPIKey(id string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		if b == nil {
			return nil
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete api key %q: %w", id, err)
	}
	return nil
}

// TouchAPIKeys sets the last-use times of the keys in used (by id) in one
// transaction. Keys no longer stored (revoked meanwhile) are skipped, so a
// late write never brings one back.
func (s *Store) TouchAPIKeys(used map[string]int64) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		if b == nil {
			return nil
		}
		for id, at := range used {
			v := b.Get([]byte(id))
			if v == nil {
				continue
			}
			var r KeyRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode api key %q: %w", id, err)
			}
			r.LastUsedAt = at
			nv, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(id), nv); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch api keys: %w", err)
	}
	return nil
}
