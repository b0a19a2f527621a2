// Package mktorrent builds BitTorrent v1 metainfo (.torrent files, BEP 3)
// from a file or a directory on disk, for `lodestone create` (issue 19).
// The output depends only on the data, the names and the options: no
// creation date or creator is written, so the same file always gives
// the same info-hash (the README's first session relies on it).
package mktorrent

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Options tune a build.
type Options struct {
	// PieceLength is the piece size in bytes, a power of two of at least
	// 16 KiB; 0 picks one from the total size (PieceLengthFor).
	PieceLength int64
	// Trackers are announce URLs, one tier each.
	Trackers []string
	// Private sets the private flag (BEP 27): peers only from trackers.
	Private bool
}

// Torrent is a built .torrent.
type Torrent struct {
	// MetaInfo is the bencoded .torrent file.
	MetaInfo []byte
	// InfoHash is the SHA-1 of the bencoded info dictionary.
	InfoHash [20]byte
	// Name is the torrent's name: the file's or directory's base name.
	Name string
	// Size is the total length of the files; Pieces their piece count.
	Size        int64
	PieceLength int64
	Pieces      int
}

// Magnet returns the torrent's magnet URI with its name, its trackers and
// peers (host:port, x.pe) a client can fetch the metadata from.
func (t *Torrent) Magnet(trackers, peers []string) string {
	var b strings.Builder
	b.WriteString("magnet:?xt=urn:btih:" + hex.EncodeToString(t.InfoHash[:]))
	b.WriteString("&dn=" + url.QueryEscape(t.Name))
	for _, tr := range trackers {
		b.WriteString("&tr=" + url.QueryEscape(tr))
	}
	for _, p := range peers {
		// host:port needs no escaping in a query; kept readable.
		b.WriteString("&x.pe=" + p)
	}
	return b.String()
}

// PieceLengthFor picks a piece length for size bytes: the smallest power
// of two from 256 KiB up to 16 MiB that keeps the pieces at 2,000 or
// fewer (a metainfo of some 40 KB of hashes at most, below 32 GiB).
func PieceLengthFor(size int64) int64 {
	pl := int64(256 << 10)
	for pl < 16<<20 && size/pl >= 2000 {
		pl *= 2
	}
	return pl
}

// file is one file of the torrent, in the order of its pieces.
type file struct {
	abs  string
	path []string // relative to the torrent's root, by component
	size int64
}

// Build reads path (a regular file, or a directory whose regular files are
// taken in lexical order, symbolic links refused) and returns its
// torrent.
func Build(path string, opts Options) (*Torrent, error) {
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	name := filepath.Base(root)
	var files []file
	switch {
	case fi.Mode().IsRegular():
		files = []file{{abs: root, size: fi.Size()}}
	case fi.IsDir():
		if files, err = walk(root); err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no files", path)
		}
	default:
		return nil, fmt.Errorf("%s: not a regular file or a directory", path)
	}
	var size int64
	for _, f := range files {
		size += f.size
	}
	if size == 0 {
		return nil, fmt.Errorf("%s: no data (empty files only)", path)
	}
	pl := opts.PieceLength
	if pl == 0 {
		pl = PieceLengthFor(size)
	}
	if pl < 16<<10 || pl&(pl-1) != 0 {
		return nil, fmt.Errorf("piece length %d: want a power of two of at least 16 KiB", pl)
	}
	pieces, err := hashPieces(files, pl)
	if err != nil {
		return nil, err
	}
	info := dict{"name": name, "piece length": pl, "pieces": string(pieces)}
	if fi.Mode().IsRegular() {
		info["length"] = size
	} else {
		list := make([]any, len(files))
		for i, f := range files {
			p := make([]any, len(f.path))
			for j, c := range f.path {
				p[j] = c
			}
			list[i] = dict{"length": f.size, "path": p}
		}
		info["files"] = list
	}
	if opts.Private {
		info["private"] = int64(1)
	}
	var ib bytes.Buffer
	encode(&ib, info)
	top := dict{"info": rawValue(ib.Bytes())}
	if len(opts.Trackers) > 0 {
		top["announce"] = opts.Trackers[0]
		tiers := make([]any, len(opts.Trackers))
		for i, tr := range opts.Trackers {
			tiers[i] = []any{tr}
		}
		top["announce-list"] = tiers
	}
	var mb bytes.Buffer
	encode(&mb, top)
	return &Torrent{
		MetaInfo: mb.Bytes(), InfoHash: sha1.Sum(ib.Bytes()), Name: name,
		Size: size, PieceLength: pl, Pieces: len(pieces) / sha1.Size,
	}, nil
}

// walk lists the regular files under root in lexical order of their
// paths; a symbolic link or other special file is refused rather than
// followed or skipped silently.
func walk(root string) ([]file, error) {
	var files []file
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (links are not followed)", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		files = append(files, file{abs: p, path: strings.Split(filepath.ToSlash(rel), "/"), size: info.Size()})
		return nil
	})
	return files, err
}

// hashPieces returns the concatenated SHA-1 sums of the pieces of the
// files' data laid end to end.
func hashPieces(files []file, pl int64) ([]byte, error) {
	var sums []byte
	h := sha1.New()
	var inPiece int64
	buf := make([]byte, 1<<20)
	for _, f := range files {
		r, err := os.Open(f.abs)
		if err != nil {
			return nil, err
		}
		var read int64
		for {
			n, err := r.Read(buf[:min(int64(len(buf)), pl-inPiece)])
			h.Write(buf[:n])
			inPiece += int64(n)
			read += int64(n)
			if inPiece == pl {
				sums = h.Sum(sums)
				h.Reset()
				inPiece = 0
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				r.Close()
				return nil, err
			}
		}
		r.Close()
		if read != f.size {
			return nil, fmt.Errorf("%s changed while it was read (%d bytes, then %d)", f.abs, f.size, read)
		}
	}
	if inPiece > 0 {
		sums = h.Sum(sums)
	}
	return sums, nil
}

// dict is a bencoded dictionary; rawValue is bytes already bencoded.
type (
	dict     map[string]any
	rawValue []byte
)

// encode writes v bencoded: strings, int64, lists, dicts (keys sorted,
// as BEP 3 requires) and raw values.
func encode(w *bytes.Buffer, v any) {
	switch x := v.(type) {
	case string:
		w.WriteString(strconv.Itoa(len(x)) + ":" + x)
	case int64:
		w.WriteString("i" + strconv.FormatInt(x, 10) + "e")
	case []any:
		w.WriteByte('l')
		for _, e := range x {
			encode(w, e)
		}
		w.WriteByte('e')
	case dict:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.WriteByte('d')
		for _, k := range keys {
			encode(w, k)
			encode(w, x[k])
		}
		w.WriteByte('e')
	case rawValue:
		w.Write(x)
	default:
		panic(fmt.Sprintf("mktorrent: cannot bencode %T", v))
	}
}
