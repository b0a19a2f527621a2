package store

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// Categories (issue 16): named destinations for tasks, as qBittorrent has.
// Each lives in bucketCategories under its name, as JSON; a task names its
// category in its record (Task.Category). The bucket is created by Open;
// a store without it (made before categories existed) simply has none.

// bucketCategories holds the Category records by name.
var bucketCategories = []byte("categories")

// Category is the durable form of a category.
type Category struct {
	// Name is the category's name, also its key.
	Name string `json:"name"`
	// SavePath is the absolute dir of the data of tasks added in it; ""
	// is the default download dir in effect when a task is added.
	SavePath string `json:"save_path,omitempty"`
	// CompletePath, when set, is the absolute dir a task of it moves its
	// data to once it finishes.
	CompletePath string `json:"complete_path,omitempty"`
}

// Categories returns every stored category, ordered by name.
func (s *Store) Categories() ([]Category, error) {
	return allJSON[Category](s, bucketCategories, "category", "categories")
}

// PutCategory creates or replaces the category c, durably.
func (s *Store) PutCategory(c Category) error {
	if c.Name == "" {
		return errors.New("put category: empty name")
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode category %q: %w", c.Name, err)
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCategories)
		if err != nil {
			return err
		}
		return b.Put([]byte(c.Name), v)
	})
	if err != nil {
		return fmt.Errorf("put category %q: %w", c.Name, err)
	}
	return nil
}

// DeleteCategory removes the category name and takes the tasks ids out of
// it (their Category becomes ""), in one transaction, durably: no task is
// ever left naming a category that is gone. Tasks not stored, or no longer
// in that category, are skipped; deleting a missing category is not an
// error.
func (s *Store) DeleteCategory(name string, ids []string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketCategories); b != nil {
			if err := b.Delete([]byte(name)); err != nil {
				return err
			}
		}
		for _, id := range ids {
			err := updateTask(tx, id, func(t *Task) {
				if t.Category == name {
					t.Category = ""
				}
			})
			if err != nil && !errors.Is(err, ErrNotFound) {
				// The category is deleted already: roll it back.
				return errAbort{fmt.Errorf("task %s: %w", id, err)}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete category %q: %w", name, err)
	}
	return nil
}

// checkCategories decodes every category record, for checkRecords.
func checkCategories(tx *bbolt.Tx) error {
	b := tx.Bucket(bucketCategories)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var c Category
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("category %q: %w", k, err)
		}
		if c.Name != string(k) {
			return fmt.Errorf("category %q: record names %q", k, c.Name)
		}
		return nil
	})
}
