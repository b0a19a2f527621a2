package store

import (
	"fmt"
	"io"

	"go.etcd.io/bbolt"
)

// WriteSnapshot writes a consistent copy of the whole store file to w, as
// of one read transaction: writes committed before it began are in the
// copy, later ones are not, and none is torn. size is called first with
// the copy's length (w must then receive exactly that many bytes). The copy
// is a valid store file, which Open accepts as it is.
//
// The read transaction is held while w is written, which keeps bbolt from
// growing its memory map: a writer that must grow it waits. Give a fast w
// (a local file), not a network connection.
func (s *Store) WriteSnapshot(w io.Writer, size func(int64) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		if err := size(tx.Size()); err != nil {
			return err
		}
		if _, err := tx.WriteTo(w); err != nil {
			return fmt.Errorf("snapshot %s: %w", s.path, err)
		}
		return nil
	})
}
