package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// Bounds on what a torrent or magnet may declare. Anything beyond them is
// refused with ErrBadTorrent or ErrBadMagnet before the engine sees it.
const (
	// MaxTorrentSize caps .torrent data, checked before any parsing.
	MaxTorrentSize = 10 << 20
	// MinPieceLength and MaxPieceLength bound the piece length (real
	// torrents use 16 KiB to 64 MiB).
	MinPieceLength = 1 << 10
	MaxPieceLength = 512 << 20
	// MaxFiles caps the files of one torrent.
	MaxFiles = 100_000
	// MaxTotalSize caps the declared total size (1 PiB).
	MaxTotalSize = 1 << 50
	// MaxTrackers caps trackers of a torrent (all tiers) or a magnet.
	MaxTrackers = 200
	// MaxMagnetSize caps a magnet URI; MaxMagnetPeers its x.pe peers.
	MaxMagnetSize  = 64 << 10
	MaxMagnetPeers = 200
)

// ErrBadTorrent and ErrBadMagnet classify input that cannot become a task.
// Errors returned by ParseTorrent and ParseMagnet wrap one of them.
var (
	ErrBadTorrent = errors.New("bad torrent data")
	ErrBadMagnet  = errors.New("bad magnet URI")
)

// Spec describes a torrent to add: either a magnet or full metainfo.
type Spec struct {
	// ID is the lowercase hex v1 info-hash.
	ID string
	// Name is the torrent's name, or the magnet's dn, or the ID.
	Name string
	// Size is the total length, 0 when unknown (a magnet).
	Size int64
	// MetaInfo is the bencoded .torrent, when known.
	MetaInfo []byte
	// Magnet is the magnet URI, for a magnet.
	Magnet string
	// NumFiles is the number of files, 0 when unknown (a magnet).
	NumFiles int
	// DownloadDir is where the data goes; "" means Config.DownloadDir.
	DownloadDir string
}

// ParseTorrent validates .torrent data and returns its Spec. The error wraps
// ErrBadTorrent.
func ParseTorrent(data []byte) (Spec, error) {
	if len(data) > MaxTorrentSize {
		return Spec{}, fmt.Errorf("%w: %d bytes exceeds the limit of %d", ErrBadTorrent, len(data), MaxTorrentSize)
	}
	var mi metainfo.MetaInfo
	d := bencode.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&mi); err != nil {
		return Spec{}, fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	if len(mi.InfoBytes) == 0 {
		return Spec{}, fmt.Errorf("%w: no info dictionary", ErrBadTorrent)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return Spec{}, fmt.Errorf("%w: info dictionary: %w", ErrBadTorrent, err)
	}
	if !info.HasV1() {
		return Spec{}, fmt.Errorf("%w: v2-only torrents are not supported", ErrBadTorrent)
	}
	if err := checkInfo(&info); err != nil {
		return Spec{}, fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	if n := len(mi.UpvertedAnnounceList().DistinctValues()); n > MaxTrackers {
		return Spec{}, fmt.Errorf("%w: %d trackers, more than %d", ErrBadTorrent, n, MaxTrackers)
	}
	return Spec{
		ID:       mi.HashInfoBytes().HexString(),
		Name:     SanitizeName(info.BestName()),
		Size:     info.TotalLength(),
		MetaInfo: data,
		NumFiles: len(info.UpvertedFiles()),
	}, nil
}

// checkInfo bounds what an info dictionary declares: piece length, file
// count, sizes, and a piece count that matches the total length.
func checkInfo(info *metainfo.Info) error {
	if info.PieceLength < MinPieceLength || info.PieceLength > MaxPieceLength {
		return fmt.Errorf("piece length %d outside %d..%d", info.PieceLength, MinPieceLength, MaxPieceLength)
	}
	if n := len(info.Files); n > MaxFiles {
		return fmt.Errorf("%d files, more than %d", n, MaxFiles)
	}
	var total int64
	for _, f := range info.UpvertedFiles() {
		if f.Length < 0 || f.Length > MaxTotalSize {
			return fmt.Errorf("file length %d out of range", f.Length)
		}
		if total += f.Length; total > MaxTotalSize {
			return fmt.Errorf("total size over %d bytes", int64(MaxTotalSize))
		}
	}
	if len(info.Pieces)%20 != 0 {
		return fmt.Errorf("pieces field of %d bytes is not a multiple of 20", len(info.Pieces))
	}
	want := (total + info.PieceLength - 1) / info.PieceLength
	if got := int64(len(info.Pieces) / 20); got != want {
		return fmt.Errorf("%d piece hashes for %d bytes in pieces of %d (want %d)", got, total, info.PieceLength, want)
	}
	return nil
}

// ParseMagnet validates a magnet URI with a v1 (btih) info-hash and returns
// its Spec. The error wraps ErrBadMagnet.
func ParseMagnet(uri string) (Spec, error) {
	if len(uri) > MaxMagnetSize {
		return Spec{}, fmt.Errorf("%w: %d bytes, more than %d", ErrBadMagnet, len(uri), MaxMagnetSize)
	}
	if !strings.HasPrefix(strings.ToLower(uri), "magnet:") {
		return Spec{}, fmt.Errorf("%w: not a magnet: URI", ErrBadMagnet)
	}
	m, err := metainfo.ParseMagnetUri(uri)
	if err != nil {
		return Spec{}, fmt.Errorf("%w: %w", ErrBadMagnet, err)
	}
	if m.InfoHash.IsZero() {
		return Spec{}, fmt.Errorf("%w: no btih info-hash", ErrBadMagnet)
	}
	if len(m.Trackers) > MaxTrackers {
		return Spec{}, fmt.Errorf("%w: %d trackers, more than %d", ErrBadMagnet, len(m.Trackers), MaxTrackers)
	}
	if n := len(m.Params["x.pe"]); n > MaxMagnetPeers {
		return Spec{}, fmt.Errorf("%w: %d peers (x.pe), more than %d", ErrBadMagnet, n, MaxMagnetPeers)
	}
	for _, tr := range m.Trackers {
		if err := checkTrackerURL(tr); err != nil {
			return Spec{}, fmt.Errorf("%w: %w", ErrBadMagnet, err)
		}
	}
	id := m.InfoHash.HexString()
	name := id
	if m.DisplayName != "" {
		name = SanitizeName(m.DisplayName)
	}
	return Spec{ID: id, Name: name, Magnet: uri}, nil
}

// checkTrackerURL accepts http, https and udp tracker URLs only. Whether
// the address is allowed (not loopback or private) is checked when the
// engine connects: see Config.AllowPrivateTrackers.
func checkTrackerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("tracker %q: %w", s, err)
	}
	switch u.Scheme {
	case "http", "https", "udp":
	default:
		return fmt.Errorf("tracker %q: scheme %q not supported", s, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("tracker %q: no host", s)
	}
	return nil
}
