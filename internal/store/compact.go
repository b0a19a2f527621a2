package store

// Compaction.
//
// bbolt reuses the pages a deletion frees but never gives them back to the
// file system: a store that once held 3,000 tasks keeps its size after they
// are removed. Open therefore copies a file that is mostly free space into
// a new one (bbolt.Compact) and puts the copy in its place.
//
// Crash safety: the copy is written to FileName + compactSuffix beside the
// store and fsynced before it is renamed over the store, and the directory
// is fsynced after. Until the rename the old file is the store, whole; after
// it, the new one is, whole. A copy left by a crash before the rename is
// removed by the next Open, which holds the store's lock, so no other
// process can be writing it. The copy is opened (and so locked) before the
// rename and becomes the open store: the lock is never let go of.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
)

// compactSuffix is added to the store's path to name the copy a
// compaction writes.
const compactSuffix = ".compact"

// Open compacts the store when more than CompactMinFree bytes and more
// than half of the file are free. Below 4 MiB the copy would win back too
// little to be worth rewriting the file at every start; the half keeps a
// store that is merely sparse after growing (bbolt grows its file in steps
// of up to 16 MiB ahead of its use) from being copied again and again.
const CompactMinFree = 4 << 20

// compactTxMax bounds the bytes copied per transaction of the copy, which
// keeps its pages in memory until it commits.
const compactTxMax = 16 << 20

// Size is how much room the store's file takes.
type Size struct {
	// File is the file's size in bytes.
	File int64
	// Free is the part of it that holds no data: freed pages, which bbolt
	// reuses before it grows the file, and the room it grew ahead of use.
	Free int64
}

// Size returns the store's file size and free bytes. It is cheap: one
// stat and a read-only transaction.
func (s *Store) Size() (Size, error) {
	fi, err := os.Stat(s.path)
	if err != nil {
		return Size{}, fmt.Errorf("store size: %w", err)
	}
	var used int64
	err = s.db.View(func(tx *bbolt.Tx) error {
		used = tx.Size() // up to the highest page in use
		return nil
	})
	if err != nil {
		return Size{}, fmt.Errorf("store size: %w", err)
	}
	// Freed pages lie below the highest page; their count is as of the
	// last write.
	free := fi.Size() - used + int64(s.db.Stats().FreeAlloc)
	return Size{File: fi.Size(), Free: min(max(free, 0), fi.Size())}, nil
}

// wasteful reports whether a store of size sz should be compacted.
func wasteful(sz Size) bool {
	return sz.Free > CompactMinFree && sz.Free > sz.File/2
}

// Compaction is what Open's compaction did.
type Compaction struct {
	// Before and After are the file's sizes in bytes around a compaction;
	// both 0 when none was needed.
	Before, After int64
	// Err is why a compaction failed; the store is then the old file,
	// whole and in use. A failure to fsync the directory after the
	// rename is reported too (with Before and After set): the new file
	// is in use, and a crash could bring back the old one, also whole.
	Err error
}

// Compaction returns what Open's compaction did, for the caller to log.
func (s *Store) Compaction() Compaction { return s.compaction }

// compact removes a copy left by a crashed compaction and, when the store
// is wasteful, compacts it, replacing s.db. It runs in Open, before any
// other use of the store.
func (s *Store) compact() Compaction {
	tmp := s.path + compactSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Compaction{Err: fmt.Errorf("remove an unfinished compaction: %w", err)}
	}
	sz, err := s.Size()
	if err != nil || !wasteful(sz) {
		return Compaction{Err: err}
	}
	c := Compaction{Before: sz.File}
	db, err := copyInto(s.db, tmp)
	if err == nil {
		if err = os.Rename(tmp, s.path); err != nil {
			db.Close()
		}
	}
	if err != nil {
		c.Err = fmt.Errorf("compact %s: %w", s.path, errors.Join(err, removeIfExists(tmp)))
		return c
	}
	old := s.db
	s.db = db
	c.Err = errors.Join(syncDir(filepath.Dir(s.path)), old.Close())
	if fi, err := os.Stat(s.path); err == nil {
		c.After = fi.Size()
	}
	return c
}

// copyInto copies src into a new bbolt file at path, fsyncs it, and
// returns it open.
func copyInto(src *bbolt.DB, path string) (*bbolt.DB, error) {
	// No fsync per transaction of the copy: one at the end covers all.
	dst, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		return nil, err
	}
	err = bbolt.Compact(dst, src, compactTxMax)
	if err == nil {
		err = dst.Sync()
	}
	if err != nil {
		return nil, errors.Join(err, dst.Close())
	}
	dst.NoSync = false
	return dst, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// syncDir fsyncs the directory dir, making a rename in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
