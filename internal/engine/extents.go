package engine

import (
	"bytes"
	"fmt"

	"github.com/anacrolix/torrent/metainfo"
)

// Extent is a run of a torrent's bytes, [From, To).
type Extent struct{ From, To int64 }

// FileExtents returns where each data file of the .torrent data lies in
// the torrent's bytes (in the order of FileStats, pad files left out),
// and the piece length: which pieces hold which file, for the service's
// check of files found on disk.
func FileExtents(metaInfo []byte) (files []Extent, pieceLength int64, err error) {
	mi, err := metainfo.Load(bytes.NewReader(metaInfo))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: info dictionary: %w", ErrBadTorrent, err)
	}
	for _, e := range newLayout(&info).extents {
		files = append(files, Extent{e.from, e.to})
	}
	return files, info.PieceLength, nil
}
