package engine

import (
	"errors"
	"io/fs"
	"sort"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/lodestone-bt/lodestone/internal/engine/safepath"
)

// Pad files (BEP 47). A torrent may list, between its files, padding
// files of zero bytes (attr "p") that align the next file to a piece
// boundary: libtorrent and qBittorrent make them for v1+v2 hybrid
// torrents and for "optimize alignment", BitComet for v1 torrents. Their
// bytes count toward the v1 length and piece hashes, but they are not
// data: no client writes them to disk. The engine reads a hybrid
// torrent's files from its v2 file tree, where padding is implied, but
// treats a v1 torrent's pad files as ordinary files. Lodestone hides them
// everywhere: they are not listed, not counted in sizes, never created on
// disk (padStorage serves their zeros), and never wanted.

// isPadFile reports whether f is a BEP 47 pad file (safepath.IsPad, the
// rule the native core shares).
func isPadFile(f *metainfo.FileInfo) bool { return safepath.IsPad(f) }

// layout is a torrent's data files as Lodestone shows them: the engine's
// files less pad files, in the engine's order.
type layout struct {
	// paths are the data files' SafePaths.
	paths []string
	// engine is each data file's index among the engine's files.
	engine []int
	// extents are the data files' bytes in the torrent. The engine gives
	// offsets in file order (v1 list, or the v2 tree's sorted walk), so
	// they are sorted too.
	extents []extent
	// size is the sum of the data files' lengths.
	size int64
	// padded: the engine's file list has pad files (a v1 torrent).
	padded bool
}

// extent is a run of bytes of the torrent.
type extent struct{ from, to int64 }

// firstExtent returns the index of the first of exts (sorted) ending
// after off.
func firstExtent(exts []extent, off int64) int {
	return sort.Search(len(exts), func(i int) bool { return exts[i].to > off })
}

// completeOnDisk is the check both file storages (diskStorage, padStorage) make of
// a piece the completion store calls complete: c, the store's answer for
// the piece's bytes [off, off+n), becomes not complete when a data file
// under it (exts, sorted) is gone or shorter than the piece needs —
// deleted or truncated while Lodestone was away. size returns data file
// k's size; gone, when not nil, is told of such a file and the size it
// has (0 when gone).
func completeOnDisk(c storage.Completion, exts []extent, off, n int64, size func(k int) (int64, error), gone func(k int, size int64)) storage.Completion {
	if !c.Ok || !c.Complete || c.Err != nil {
		return c
	}
	end := off + n
	for k := firstExtent(exts, off); k < len(exts) && exts[k].from < end; k++ {
		need := min(end, exts[k].to) - exts[k].from
		sz, err := size(k)
		if errors.Is(err, fs.ErrNotExist) || err == nil && sz < need {
			if gone != nil {
				gone(k, sz)
			}
			c.Complete = false
			return c
		}
		if err != nil {
			c.Err, c.Complete = err, false
			return c
		}
	}
	return c
}

// newLayout computes the layout of info.
func newLayout(info *metainfo.Info) *layout {
	safe := SafePaths(info)
	l := &layout{}
	for i, f := range info.UpvertedFiles() {
		if isPadFile(&f) {
			l.padded = true
			continue
		}
		l.paths = append(l.paths, safe[i])
		l.engine = append(l.engine, i)
		l.extents = append(l.extents, extent{f.TorrentOffset, f.TorrentOffset + f.Length})
		l.size += f.Length
	}
	return l
}

// dataIn returns how many bytes of data files lie in the sorted,
// non-overlapping spans: one walk over both lists.
func (l *layout) dataIn(spans []extent) int64 {
	var n int64
	e := 0
	for _, s := range spans {
		for e < len(l.extents) && l.extents[e].to <= s.from {
			e++
		}
		for k := e; k < len(l.extents) && l.extents[k].from < s.to; k++ {
			if lo, hi := max(s.from, l.extents[k].from), min(s.to, l.extents[k].to); hi > lo {
				n += hi - lo
			}
		}
	}
	return n
}

// fileStats returns the data files with the bytes of each that lie in
// done, the verified spans.
func (l *layout) fileStats(done []extent) []FileStat {
	out := make([]FileStat, len(l.paths))
	for i, e := range l.extents {
		var n int64
		for _, s := range done {
			if lo, hi := max(e.from, s.from), min(e.to, s.to); hi > lo {
				n += hi - lo
			}
		}
		out[i] = FileStat{Path: l.paths[i], Size: e.to - e.from, Completed: n}
	}
	return out
}

// dataFileIndex returns the data file index (as in FileStats) of path.
func (l *layout) dataFileIndex(path string) (int, bool) {
	for i, p := range l.paths {
		if p == path {
			return i, true
		}
	}
	return 0, false
}
