package store

import (
	"testing"

	"go.etcd.io/bbolt"
)

// TestTransmissionIDsDamaged: damaged values of the id bucket are
// reported and left out, the readable ones kept; nothing fails.
func TestTransmissionIDsDamaged(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutTransmissionIDs(9, map[string]int{"good": 3, "other": 8}, nil); err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTransmission)
		for k, v := range map[string]string{
			trIDPrefix + "short": "\x01",
			trIDPrefix + "zero":  "\x00\x00\x00\x00\x00\x00\x00\x00",
			"stray":              "x",
		} {
			if err := b.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.TransmissionIDs()
	if err != nil {
		t.Fatal(err)
	}
	if got.Next != 9 || len(got.IDs) != 2 || got.IDs["good"] != 3 || got.IDs["other"] != 8 || len(got.Damaged) != 3 {
		t.Errorf("TransmissionIDs = %+v, want next 9, good 3, other 8 and 3 damaged", got)
	}
	// Deleting works, and the counter is written.
	if err := s.PutTransmissionIDs(10, nil, []string{"other"}); err != nil {
		t.Fatal(err)
	}
	if got, err = s.TransmissionIDs(); err != nil || got.Next != 10 || len(got.IDs) != 1 {
		t.Errorf("after a delete: %+v, %v", got, err)
	}
}
