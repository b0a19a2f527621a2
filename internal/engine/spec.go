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

// MaxTorrentSize caps .torrent data accepted from users, checked before any
// parsing.
const MaxTorrentSize = 10 << 20

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
	if info.PieceLength <= 0 {
		return Spec{}, fmt.Errorf("%w: piece length %d", ErrBadTorrent, info.PieceLength)
	}
	if info.TotalLength() < 0 {
		return Spec{}, fmt.Errorf("%w: negative length", ErrBadTorrent)
	}
	return Spec{
		ID:       mi.HashInfoBytes().HexString(),
		Name:     info.BestName(),
		Size:     info.TotalLength(),
		MetaInfo: data,
		NumFiles: len(info.UpvertedFiles()),
	}, nil
}

// ParseMagnet validates a magnet URI with a v1 (btih) info-hash and returns
// its Spec. The error wraps ErrBadMagnet.
func ParseMagnet(uri string) (Spec, error) {
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
	for _, tr := range m.Trackers {
		if err := checkTrackerURL(tr); err != nil {
			return Spec{}, fmt.Errorf("%w: %w", ErrBadMagnet, err)
		}
	}
	id := m.InfoHash.HexString()
	name := m.DisplayName
	if name == "" {
		name = id
	}
	return Spec{ID: id, Name: name, Magnet: uri}, nil
}

// checkTrackerURL accepts http, https and udp tracker URLs only.
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
