package store

import (
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"
)

// The migration moves the metainfo in transactions of about the batch
// size each, walking on from the last task of the one before.
func TestMigrateInBatches(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	tasks := schema1Store(t, path, 30, 64<<10)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{db: db, path: path}
	defer s.Close()
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	txid := func() (id int) {
		db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	before := txid()
	if err := s.migrate(200 << 10); err != nil {
		t.Fatal(err)
	}
	// 27 metainfos of 64 KiB, 4 to a batch of 200 KiB.
	if txs := txid() - before; txs < 7 || txs > 8 {
		t.Errorf("migrated in %d transactions, want 7 or 8", txs)
	}
	checkMigrated(t, s, tasks)
}
