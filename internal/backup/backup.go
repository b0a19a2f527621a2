// Package backup owns the format of a Lodestone backup and its restore.
// A backup is a tar of the task store (a consistent copy, see
// store.WriteSnapshot), the API token when asked for, and last a manifest
// that names each file with its size and SHA-256, so a backup cut short or
// damaged is refused rather than restored. The daemon writes backups
// (GET /backup); the CLI checks them and restores them into an empty data
// dir. It imports nothing of the daemon's, so both can use it.
package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Format is the version of the backup format this package writes. Read
// refuses a backup of a newer format.
const Format = 1

// The names of a backup's entries. StoreName and TokenName are also the
// files' names in a data dir.
const (
	ManifestName = "manifest.json"
	StoreName    = "lodestone.db"
	TokenName    = "token"
)

// Manifest describes a backup. It is the backup's last entry.
type Manifest struct {
	// Format is the backup format (Format).
	Format int `json:"format"`
	// Version is the Lodestone version that wrote the backup.
	Version string `json:"version"`
	// Created is when the store's snapshot was taken.
	Created time.Time `json:"created"`
	// Engine is the engine core of the daemon that wrote it. The
	// piece-completion database is not in a backup: a restored daemon
	// verifies the pieces on disk by hashing them.
	Engine string `json:"engine"`
	// DownloadDir is the daemon's default download dir.
	DownloadDir string `json:"download_dir"`
	// DownloadDirs are the distinct dirs the tasks' data is in, sorted:
	// the absolute paths that must exist (or be moved to) after a
	// restore on another machine.
	DownloadDirs []string `json:"download_dirs"`
	// Files are the backup's other entries, in order.
	Files []File `json:"files"`
}

// File is one entry of a backup as the manifest records it.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Writer writes a backup. Add the files, then Close to write the
// manifest; a backup whose Close was not reached has no manifest, and Read
// refuses it.
type Writer struct {
	tw *tar.Writer
	m  Manifest
}

// NewWriter starts a backup on w described by m (its Format and Files are
// filled in by the Writer).
func NewWriter(w io.Writer, m Manifest) *Writer {
	m.Format = Format
	m.Files = nil
	return &Writer{tw: tar.NewWriter(w), m: m}
}

// Add writes the file name of size bytes read from r.
func (w *Writer) Add(name string, size int64, r io.Reader) error {
	err := w.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: w.m.Created,
	})
	if err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(w.tw, io.TeeReader(io.LimitReader(r, size), h))
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes, want %d", n, size)
	}
	if err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	w.m.Files = append(w.m.Files, File{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// Close writes the manifest and ends the tar. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	b, err := json.MarshalIndent(w.m, "", "  ")
	if err != nil {
		return fmt.Errorf("backup manifest: %w", err)
	}
	b = append(b, '\n')
	err = w.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: ManifestName, Size: int64(len(b)), Mode: 0o644, ModTime: w.m.Created,
	})
	if err == nil {
		_, err = w.tw.Write(b)
	}
	if err == nil {
		err = w.tw.Close()
	}
	if err != nil {
		return fmt.Errorf("backup manifest: %w", err)
	}
	return nil
}

// ErrInvalid is wrapped by Read's errors about the backup's content: not
// a backup, cut short, damaged, or of a newer format.
var ErrInvalid = errors.New("not a valid Lodestone backup")

// Read reads the backup from r, calling fn with each file's name and
// content (fn need not read it all), and returns its manifest once every
// file has been checked against it. An error from fn is returned as is.
// A caller must not trust what fn was given until Read returns nil.
func Read(r io.Reader, fn func(name string, r io.Reader) error) (Manifest, error) {
	invalid := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	tr := tar.NewReader(r)
	var (
		m       *Manifest
		seen    []File
		hasName = map[string]bool{}
	)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, invalid("%v", err)
		}
		if m != nil {
			return Manifest{}, invalid("%s after the manifest", hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			return Manifest{}, invalid("%s is not a regular file", hdr.Name)
		}
		if hasName[hdr.Name] {
			return Manifest{}, invalid("%s twice", hdr.Name)
		}
		hasName[hdr.Name] = true
		switch hdr.Name {
		case ManifestName:
			m = new(Manifest)
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(m); err != nil {
				return Manifest{}, invalid("manifest: %v", err)
			}
			continue
		case StoreName, TokenName:
		default:
			return Manifest{}, invalid("unknown entry %q", hdr.Name)
		}
		h := sha256.New()
		tee := io.TeeReader(tr, h)
		if err := fn(hdr.Name, tee); err != nil {
			return Manifest{}, err
		}
		if _, err := io.Copy(h, tr); err != nil { // what fn left unread
			return Manifest{}, invalid("%s: %v", hdr.Name, err)
		}
		seen = append(seen, File{Name: hdr.Name, Size: hdr.Size, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	if m == nil {
		return Manifest{}, invalid("no manifest (the backup was cut short)")
	}
	if m.Format < 1 || m.Format > Format {
		return Manifest{}, invalid("format %d; this Lodestone reads format %d", m.Format, Format)
	}
	if len(seen) != len(m.Files) {
		return Manifest{}, invalid("%d files, the manifest lists %d", len(seen), len(m.Files))
	}
	for i, f := range m.Files {
		if seen[i] != f {
			return Manifest{}, invalid("%s does not match the manifest (size %d, sha256 %s; want %d, %s)",
				f.Name, seen[i].Size, seen[i].SHA256, f.Size, f.SHA256)
		}
	}
	if !hasName[StoreName] {
		return Manifest{}, invalid("no %s", StoreName)
	}
	return *m, nil
}
