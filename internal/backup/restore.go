package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// ErrInUse is returned by Restore for a data dir whose store a running
// daemon holds.
var ErrInUse = errors.New("the data dir is in use by a running daemon")

// ErrNotEmpty is returned by Restore for a data dir that has files in it.
var ErrNotEmpty = errors.New("the data dir is not empty")

// restoreSuffix marks a file being restored, renamed to its name only
// once the whole backup has checked out.
const restoreSuffix = ".restoring"

// Restore unpacks the backup read from r into dir, which must be missing
// or empty (ErrNotEmpty), and not held by a daemon (ErrInUse). Nothing
// takes a restored file's name before the whole backup has been checked
// against its manifest: a bad backup (an error wrapping ErrInvalid) leaves
// dir as it was, but for dir itself.
func Restore(r io.Reader, dir string) (Manifest, error) {
	if err := checkEmpty(dir); err != nil {
		return Manifest{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	var written []string
	defer func() {
		for _, p := range written {
			os.Remove(p) // after a failure; gone already after success
		}
	}()
	m, err := Read(r, func(name string, r io.Reader) error {
		p := filepath.Join(dir, name+restoreSuffix)
		written = append(written, p)
		return writeFile(p, r)
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	// The store last: a data dir with a store is one a daemon may start
	// on, so it appears only when all else is in place.
	for _, name := range []string{TokenName, StoreName} {
		p := filepath.Join(dir, name+restoreSuffix)
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := os.Rename(p, filepath.Join(dir, name)); err != nil {
			return Manifest{}, fmt.Errorf("restore: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return Manifest{}, fmt.Errorf("restore: %w", err)
	}
	return m, nil
}

// checkEmpty returns ErrInUse or ErrNotEmpty (wrapped) for a dir that
// cannot be restored into.
func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if len(entries) == 0 {
		return nil
	}
	// The daemon's store holds an flock on its file while it is open
	// (bbolt's lock): taking it without waiting tells whether it is.
	if f, err := os.Open(filepath.Join(dir, StoreName)); err == nil {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		f.Close() // releases the lock, if taken
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("restore into %s: %w: stop it first, and restore into a new, empty dir", dir, ErrInUse)
		}
	}
	return fmt.Errorf("restore into %s: %w (%s is in it): restore into a new, empty dir", dir, ErrNotEmpty, entries[0].Name())
}

// writeFile writes r to path (mode 0600, as the daemon keeps its files)
// and fsyncs it.
func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
