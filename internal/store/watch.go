package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// Watch folders (issue 17). Two buckets of their own, created by the first
// write: bucketWatches holds the watched folders by path, bucketWatchAdds
// the files being turned into tasks right now, by path, so that a restart
// neither adds a file's tasks twice nor loses them (internal/watch).

var (
	bucketWatches   = []byte("watches")
	bucketWatchAdds = []byte("watch_adds")
)

// Watch is the durable form of a watched folder.
type Watch struct {
	// Path is the folder, absolute and cleaned; also its key.
	Path string `json:"path"`
	// Category is given to the tasks the folder adds; "" is none.
	Category string `json:"category,omitempty"`
	// CreatedAt is when the folder was first watched.
	CreatedAt time.Time `json:"created_at"`
}

// WatchAdd records a file whose tasks are being added: written before the
// first add, updated after each, deleted once the file is renamed.
type WatchAdd struct {
	// Path is the file's absolute path; also its key.
	Path string `json:"path"`
	// Size, ModTime and SHA256 (hex) identify the file's content: a
	// record applies only to a file that still matches all three.
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	SHA256  string    `json:"sha256"`
	// Done is how many of the file's items (1 for a .torrent, one per
	// magnet line) were handled (added or refused) and acknowledged.
	Done int `json:"done"`
}

// Watches returns every watched folder, ordered by path.
func (s *Store) Watches() ([]Watch, error) {
	return allJSON[Watch](s, bucketWatches, "watch", "watches")
}

// PutWatch creates or replaces the watch w, durably.
func (s *Store) PutWatch(w Watch) error {
	if w.Path == "" {
		return errors.New("put watch: empty path")
	}
	return s.putWatchJSON(bucketWatches, w.Path, w)
}

// DeleteWatch removes the watch of path, durably; a missing one is not an
// error.
func (s *Store) DeleteWatch(path string) error {
	return s.deleteWatchKey(bucketWatches, path)
}

// WatchAdds returns every file record, ordered by path.
func (s *Store) WatchAdds() ([]WatchAdd, error) {
	return allJSON[WatchAdd](s, bucketWatchAdds, "watch add", "watch adds")
}

// WatchAdd returns the record of the file path, or ErrNotFound.
func (s *Store) WatchAdd(path string) (WatchAdd, error) {
	var a WatchAdd
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketWatchAdds)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(path))
		if v == nil {
			return ErrNotFound
		}
		return json.Unmarshal(v, &a)
	})
	if err != nil {
		return WatchAdd{}, fmt.Errorf("watch add %q: %w", path, err)
	}
	return a, nil
}

// PutWatchAdd creates or replaces the record a, durably.
func (s *Store) PutWatchAdd(a WatchAdd) error {
	if a.Path == "" {
		return errors.New("put watch add: empty path")
	}
	return s.putWatchJSON(bucketWatchAdds, a.Path, a)
}

// DeleteWatchAdd removes the record of the file path, durably; a missing
// one is not an error.
func (s *Store) DeleteWatchAdd(path string) error {
	return s.deleteWatchKey(bucketWatchAdds, path)
}

// putWatchJSON durably puts v, as JSON, under key in bucket (created if
// missing).
func (s *Store) putWatchJSON(bucket []byte, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", bucket, key, err)
	}
	err = s.c.update(s.db, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), raw)
	})
	if err != nil {
		return fmt.Errorf("put %s %q: %w", bucket, key, err)
	}
	return nil
}

// deleteWatchKey durably deletes key from bucket, if both exist.
func (s *Store) deleteWatchKey(bucket []byte, key string) error {
	err := s.c.update(s.db, func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %s %q: %w", bucket, key, err)
	}
	return nil
}
