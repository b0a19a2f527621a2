package native

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// Meta is what the core needs to know of a v1 torrent.
type Meta struct {
	InfoHash    [20]byte
	Name        string
	PieceLength int64
	Hashes      [][20]byte
	// Files are in the torrent's order, with their paths on disk. Pad
	// files (BEP 47) are listed, marked Pad, and never written.
	Files    []File
	Length   int64
	Trackers []string // announce URLs, every tier flattened
	// InfoBytes is the bencoded info dictionary, served to peers that
	// ask for it (BEP 9).
	InfoBytes []byte
	// Private torrents (BEP 27) get peers from their trackers only: no
	// peer exchange.
	Private bool
}

// File is one file of a torrent.
type File struct {
	Path   string // on disk
	Length int64
	Pad    bool
}

// ErrUnsupported is returned for torrents this core cannot download yet
// (v2-only torrents).
var ErrUnsupported = errors.New("native: unsupported torrent")

// ParseTorrent reads .torrent data and lays its files out under dir. Path
// components that could leave dir ("..", absolute, empty, with a
// separator or NUL) are refused.
func ParseTorrent(data []byte, dir string) (Meta, error) {
	mi, err := metainfo.Load(bytes.NewReader(data))
	if err != nil {
		return Meta{}, fmt.Errorf("native: parse torrent: %w", err)
	}
	var trackers []string
	for _, tier := range mi.UpvertedAnnounceList() {
		trackers = append(trackers, tier...)
	}
	return ParseInfo(mi.InfoBytes, dir, trackers)
}

// ParseInfo reads a bencoded info dictionary (from a .torrent, or fetched
// from peers for a magnet) and lays its files out under dir, as
// ParseTorrent does.
func ParseInfo(infoBytes []byte, dir string, trackers []string) (Meta, error) {
	var info metainfo.Info
	if err := bencode.Unmarshal(infoBytes, &info); err != nil {
		return Meta{}, fmt.Errorf("native: parse info: %w", err)
	}
	if !info.HasV1() {
		return Meta{}, fmt.Errorf("%w: no v1 pieces", ErrUnsupported)
	}
	m := Meta{
		InfoHash:    sha1.Sum(infoBytes),
		Name:        info.BestName(),
		PieceLength: info.PieceLength,
		Trackers:    trackers,
		InfoBytes:   infoBytes,
		Private:     info.Private != nil && *info.Private,
	}
	if m.PieceLength <= 0 || m.PieceLength > 64<<20 {
		return Meta{}, fmt.Errorf("native: piece length %d out of range", m.PieceLength)
	}
	if len(info.Pieces)%20 != 0 {
		return Meta{}, errors.New("native: pieces field is not a list of SHA-1 sums")
	}
	for i := 0; i < len(info.Pieces); i += 20 {
		m.Hashes = append(m.Hashes, [20]byte(info.Pieces[i:i+20]))
	}
	if err := safeComponent(m.Name); err != nil {
		return Meta{}, fmt.Errorf("native: torrent name: %w", err)
	}
	root := filepath.Join(dir, m.Name)
	if len(info.Files) == 0 {
		m.Files = []File{{Path: root, Length: info.Length}}
	}
	for _, f := range info.Files {
		path := f.BestPath()
		parts := []string{root}
		for _, c := range path {
			if err := safeComponent(c); err != nil {
				return Meta{}, fmt.Errorf("native: file path %q: %w", strings.Join(path, "/"), err)
			}
			parts = append(parts, c)
		}
		if len(path) == 0 {
			return Meta{}, errors.New("native: file with an empty path")
		}
		m.Files = append(m.Files, File{Path: filepath.Join(parts...), Length: f.Length, Pad: strings.ContainsRune(f.Attr, 'p')})
	}
	for _, f := range m.Files {
		if f.Length < 0 {
			return Meta{}, errors.New("native: negative file length")
		}
		m.Length += f.Length
	}
	if want := (m.Length + m.PieceLength - 1) / m.PieceLength; int64(len(m.Hashes)) != want {
		return Meta{}, fmt.Errorf("native: %d piece hashes for %d bytes in pieces of %d", len(m.Hashes), m.Length, m.PieceLength)
	}
	return m, nil
}

func safeComponent(c string) error {
	switch {
	case c == "" || c == "." || c == "..":
		return fmt.Errorf("component %q not allowed", c)
	case strings.ContainsAny(c, "/\\\x00"):
		return fmt.Errorf("component %q has a separator or NUL", c)
	}
	return nil
}

// pieceLen is the length of piece i.
func (m *Meta) pieceLen(i int) int {
	if i == len(m.Hashes)-1 {
		if r := m.Length % m.PieceLength; r != 0 {
			return int(r)
		}
	}
	return int(m.PieceLength)
}
