package native

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/lodestone-bt/lodestone/internal/engine/safepath"
)

// Meta is what the core needs to know of a v1 torrent.
type Meta struct {
	InfoHash    [20]byte
	Name        string
	PieceLength int64
	Hashes      [][20]byte
	// Dir is the download dir the files lie in: the core opens every
	// file through a handle held on it (see storage).
	Dir string
	// Files are in the torrent's v1 order, with their paths on disk, each
	// below Dir. Pad files (BEP 47) are listed, marked Pad, and never
	// written.
	Files    []File
	Length   int64
	Trackers []string // announce URLs, every tier flattened
	// InfoBytes is the bencoded info dictionary, served to peers that
	// ask for it (BEP 9).
	InfoBytes []byte
	// Private torrents (BEP 27) get peers from their trackers only: no
	// peer exchange, no DHT.
	Private bool
}

// File is one file of a torrent.
type File struct {
	Path   string // on disk; "" for a pad file
	Length int64
	Pad    bool
}

// ErrUnsupported is returned for torrents this core cannot download yet
// (v2-only torrents).
var ErrUnsupported = errors.New("native: unsupported torrent")

// ParseTorrent reads .torrent data and lays its files out under dir, each
// where the engine would put it: dir joined with its safepath.Paths path,
// so no name can leave dir.
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
		Dir:         dir,
		InfoHash:    sha1.Sum(infoBytes),
		Name:        safepath.Name(info.BestName()),
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
	files, err := layOut(&info, dir)
	if err != nil {
		return Meta{}, err
	}
	m.Files = files
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

// layOut returns info's v1 files (the ones this core downloads, pad files
// included) with their paths under dir: each data file's is the path
// safepath.Paths gives the engine's file at the same place among the data
// files, so both cores write a task to the same files. For a v1 torrent
// the engine's files are the v1 list; for a hybrid one they are the v2
// file tree, which must then hold the same data files (length and path)
// in the same order, or the torrent is refused with ErrUnsupported.
func layOut(info *metainfo.Info, dir string) ([]File, error) {
	safe := safepath.Paths(info)
	var paths []string
	var data []metainfo.FileInfo // the engine's data files
	for i, f := range info.UpvertedFiles() {
		if !safepath.IsPad(&f) {
			paths = append(paths, safe[i])
			data = append(data, f)
		}
	}
	var files []File
	k := 0
	for f := range info.UpvertedV1Files() {
		if safepath.IsPad(&f) {
			files = append(files, File{Length: f.Length, Pad: true})
			continue
		}
		if k == len(data) || data[k].Length != f.Length ||
			len(info.Files) != 0 && !slices.Equal(data[k].BestPath(), f.BestPath()) {
			return nil, fmt.Errorf("%w: the v1 file list and the v2 file tree differ", ErrUnsupported)
		}
		files = append(files, File{Path: filepath.Join(dir, filepath.FromSlash(paths[k])), Length: f.Length})
		k++
	}
	if k != len(data) {
		return nil, fmt.Errorf("%w: the v1 file list and the v2 file tree differ", ErrUnsupported)
	}
	return files, nil
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
