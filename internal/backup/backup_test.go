package backup_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/backup"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// write makes a backup of files (name → content) in that order.
func write(t *testing.T, files ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := backup.NewWriter(&buf, backup.Manifest{Version: "test", Created: time.Unix(1_800_000_000, 0).UTC(), Engine: "native"})
	for _, f := range files {
		if err := w.Add(f[0], int64(len(f[1])), bytes.NewReader([]byte(f[1]))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStoreFileName(t *testing.T) {
	if backup.StoreName != store.FileName {
		t.Fatalf("backup.StoreName %q, store.FileName %q", backup.StoreName, store.FileName)
	}
}

func TestReadChecksTheManifest(t *testing.T) {
	good := write(t, [2]string{backup.StoreName, "store\x00bytes"}, [2]string{backup.TokenName, "tok\n"})
	m, err := backup.Read(bytes.NewReader(good), func(string, io.Reader) error { return nil })
	if err != nil || m.Format != backup.Format || m.Engine != "native" || len(m.Files) != 2 || m.Files[0].Size != 11 {
		t.Fatalf("Read = %+v, %v", m, err)
	}
	// A byte of the store's content flipped (its offset: after one
	// 512-byte header).
	bad := bytes.Clone(good)
	bad[512] ^= 1
	// A tar with an entry the format does not know, then a manifest.
	var evil bytes.Buffer
	tw := tar.NewWriter(&evil)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "../escape", Size: 1, Mode: 0o600})
	tw.Write([]byte("x"))
	tw.Close()
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"flipped byte", bad},
		{"cut short", good[:len(good)-1024-600]},
		{"no store", write(t, [2]string{backup.TokenName, "tok\n"})},
		{"unknown entry", evil.Bytes()},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if _, err := backup.Restore(bytes.NewReader(tc.raw), dir); !errors.Is(err, backup.ErrInvalid) {
				t.Fatalf("Restore: %v, want ErrInvalid", err)
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
				t.Errorf("dir after a refused restore: %v %v, want empty", entries, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "..", "escape")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a file escaped the dir: %v", err)
			}
		})
	}
}

func TestRestoreRefusesAHeldStore(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw := write(t, [2]string{backup.StoreName, "x"})
	if _, err := backup.Restore(bytes.NewReader(raw), dir); !errors.Is(err, backup.ErrInUse) {
		t.Errorf("Restore into a held store's dir: %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(bytes.NewReader(raw), dir); !errors.Is(err, backup.ErrNotEmpty) {
		t.Errorf("Restore into a closed store's dir: %v, want ErrNotEmpty", err)
	}
	fresh := filepath.Join(t.TempDir(), "new")
	if _, err := backup.Restore(bytes.NewReader(raw), fresh); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(fresh, backup.StoreName)); err != nil || string(got) != "x" {
		t.Errorf("restored store %q %v", got, err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("restored dir mode %v %v, want 0700", fi.Mode(), err)
	}
}
