package engine

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// torrentSpec turns a validated Spec into the engine's spec. Web seeds
// (url-list, ws=) and metainfo sources (xs=, as=) are not used: they make
// the engine fetch arbitrary URLs, which a torrent from a stranger should
// not be able to direct.
func torrentSpec(spec Spec) (*torrent.TorrentSpec, error) {
	var ts *torrent.TorrentSpec
	if len(spec.MetaInfo) > 0 {
		mi, err := metainfo.Load(bytes.NewReader(spec.MetaInfo))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadTorrent, err)
		}
		ts, err = torrent.TorrentSpecFromMetaInfoErr(mi)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadTorrent, err)
		}
	}
	if spec.Magnet != "" {
		ms, err := torrent.TorrentSpecFromMagnetUri(spec.Magnet)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadMagnet, err)
		}
		ms.Sources = nil
		if ts == nil {
			ts = ms
		} else {
			// Metadata known from an earlier session: keep the magnet's
			// trackers and peers too.
			ts.Trackers = append(ts.Trackers, ms.Trackers...)
			ts.PeerAddrs = append(ts.PeerAddrs, ms.PeerAddrs...)
		}
	}
	if ts == nil {
		return nil, fmt.Errorf("%w: neither metainfo nor magnet", ErrBadTorrent)
	}
	ts.Sources = nil
	ts.Webseeds = nil
	// Trackers with other schemes (file:, javascript:, ws: …) are dropped,
	// not announced to.
	for i, tier := range ts.Trackers {
		ts.Trackers[i] = slices.DeleteFunc(slices.Clone(tier), func(u string) bool { return checkTrackerURL(u) != nil })
	}
	return ts, nil
}

func newTorrent(id string, t *torrent.Torrent, werr *atomicError, writeFailed func(error), book *trackerBook) *anacrolixTorrent {
	tt := &anacrolixTorrent{id: id, t: t, book: book, werr: werr}
	t.SetOnWriteChunkError(writeFailed)
	return tt
}

// writeFailedFunc returns what a failed write of torrent id's data does,
// whether the engine wrote a chunk or the storage a buffered piece: the
// error stops the torrent (Torrent.WriteError) and is alerted. It runs
// under the engine's lock, or the storage's: record and hand off only.
func writeFailedFunc(id string, werr *atomicError, alert func(Alert)) func(error) {
	return func(err error) {
		werr.Store(err)
		alert(Alert{TaskID: id, Level: LevelError, Message: "storage write failed: " + err.Error()})
	}
}

func encodeMetaInfo(mi *metainfo.MetaInfo) ([]byte, error) {
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		return nil, fmt.Errorf("encode metainfo: %w", err)
	}
	return buf.Bytes(), nil
}

func ipPortAddr(ap netip.AddrPort) net.Addr {
	return &net.TCPAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())}
}

// atomicError holds an error for concurrent readers.
type atomicError struct{ v atomic.Pointer[error] }

func (a *atomicError) Store(err error) {
	if err == nil {
		a.v.Store(nil)
		return
	}
	a.v.Store(&err)
}

func (a *atomicError) Load() error {
	if p := a.v.Load(); p != nil {
		return *p
	}
	return nil
}
