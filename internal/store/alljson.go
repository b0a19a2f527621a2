package store

import (
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"
)

// allJSON decodes every value of bucket as a T, in key order: the list
// of a kind of record kept one per key (categories, keys, watches,
// webhooks). A bucket not created yet holds none. one and many name the
// kind in errors ("decode webhook …", "list webhooks: …").
func allJSON[T any](s *Store, bucket []byte, one, many string) ([]T, error) {
	var out []T
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r T
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode %s %q: %w", one, k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", many, err)
	}
	return out, nil
}
