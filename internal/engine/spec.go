package engine

import (
	"bytes"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
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

// ErrBadTorrent and ErrBadMagnet classify input that cannot become a task;
// ErrUnsupported, a valid torrent or magnet that Lodestone cannot
// download. Errors returned by ParseTorrent and ParseMagnet wrap one of
// them.
var (
	ErrBadTorrent  = errors.New("bad torrent data")
	ErrBadMagnet   = errors.New("bad magnet URI")
	ErrUnsupported = errors.New("unsupported torrent")
)

// errV2Only is why a BEP 52 v2-only torrent or magnet is refused: tasks
// are named by their v1 info-hash, which such a torrent does not have.
const errV2Only = "BEP 52 v2-only torrents (no v1 info-hash) cannot be downloaded yet; a v1 or hybrid v1+v2 torrent of the same content can"

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
	// Paths are where the files go, relative to the download dir, in
	// the order of FileStats (pad files left out); nil when unknown.
	Paths []string
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
		if info.HasV2() {
			return Spec{}, fmt.Errorf("%w: %s", ErrUnsupported, errV2Only)
		}
		return Spec{}, fmt.Errorf("%w: neither v1 nor v2 metadata", ErrBadTorrent)
	}
	if err := checkInfo(&info); err != nil {
		return Spec{}, fmt.Errorf("%w: %w", ErrBadTorrent, err)
	}
	if err := checkEngineCan(&info); err != nil {
		return Spec{}, err
	}
	if n := len(mi.UpvertedAnnounceList().DistinctValues()); n > MaxTrackers {
		return Spec{}, fmt.Errorf("%w: %d trackers, more than %d", ErrBadTorrent, n, MaxTrackers)
	}
	l := newLayout(&info)
	return Spec{
		ID:       mi.HashInfoBytes().HexString(),
		Name:     SanitizeName(info.BestName()),
		Size:     l.size,
		MetaInfo: data,
		NumFiles: len(l.paths),
		Paths:    osPaths(l.paths),
	}, nil
}

// checkInfo bounds what an info dictionary with v1 metadata declares:
// piece length, file count, sizes, and a piece count that matches the v1
// length, pad files included (BEP 47). Of a hybrid, the v2 file tree must
// hold the same data in as many pieces (BEP 52).
func checkInfo(info *metainfo.Info) error {
	if info.PieceLength < MinPieceLength || info.PieceLength > MaxPieceLength {
		return fmt.Errorf("piece length %d outside %d..%d", info.PieceLength, MinPieceLength, MaxPieceLength)
	}
	if n := len(info.Files); n > MaxFiles {
		return fmt.Errorf("%d files, more than %d", n, MaxFiles)
	}
	var total, data int64 // v1 length, pad files included; data files alone
	for f := range info.UpvertedV1Files() {
		if f.Length < 0 || f.Length > MaxTotalSize {
			return fmt.Errorf("file length %d out of range", f.Length)
		}
		if total += f.Length; total > MaxTotalSize {
			return fmt.Errorf("total size over %d bytes", int64(MaxTotalSize))
		}
		if !isPadFile(&f) {
			data += f.Length
		}
	}
	if len(info.Files) > 0 && !slices.ContainsFunc(info.Files, func(f metainfo.FileInfo) bool { return !isPadFile(&f) }) {
		return errors.New("no files but pad files")
	}
	if len(info.Pieces)%20 != 0 {
		return fmt.Errorf("pieces field of %d bytes is not a multiple of 20", len(info.Pieces))
	}
	got := int64(len(info.Pieces) / 20)
	if want := (total + info.PieceLength - 1) / info.PieceLength; got != want {
		if total != data {
			return fmt.Errorf("%d piece hashes for %d bytes (%d of data, %d of pad files) in pieces of %d (want %d)", got, total, data, total-data, info.PieceLength, want)
		}
		return fmt.Errorf("%d piece hashes for %d bytes in pieces of %d (want %d)", got, total, info.PieceLength, want)
	}
	if info.HasV2() {
		return checkV2Tree(info, got, data)
	}
	return nil
}

// checkV2Tree checks a hybrid's v2 file tree against its v1 half: v1Pieces
// piece hashes over data bytes of data files.
func checkV2Tree(info *metainfo.Info, v1Pieces, data int64) error {
	if err := info.FileTree.Validate(); err != nil {
		return fmt.Errorf("v2 file tree: %w", err)
	}
	if pl := info.PieceLength; pl < 16<<10 || pl&(pl-1) != 0 {
		return fmt.Errorf("v2 piece length %d is not a power of two of at least 16 KiB", pl)
	}
	var pieces, total int64
	var files int
	var err error
	info.FileTree.Walk(nil, func(_ []string, ft *metainfo.FileTree) {
		if err != nil || ft.IsDir() {
			return
		}
		files++
		n := ft.File.Length
		switch {
		case files > MaxFiles:
			err = fmt.Errorf("v2 file tree: more than %d files", MaxFiles)
		case n > MaxTotalSize || total+n > MaxTotalSize:
			err = fmt.Errorf("v2 file tree: total size over %d bytes", int64(MaxTotalSize))
		default:
			total += n
			pieces += (n + info.PieceLength - 1) / info.PieceLength
		}
	})
	switch {
	case err != nil:
		return err
	case pieces != v1Pieces:
		return fmt.Errorf("hybrid torrent: %d v1 piece hashes, but its v2 file tree has %d pieces", v1Pieces, pieces)
	case total != data:
		return fmt.Errorf("hybrid torrent: %d bytes in v1 files, %d in its v2 file tree", data, total)
	}
	return nil
}

// checkEngineCan refuses valid metadata that the engine cannot download,
// with an error wrapping ErrUnsupported; the storage refuses it too when a
// magnet's metadata arrives (the engine asks it before anything else).
//
// The engine (v1.62.0) treats a torrent with v2 metadata as one file per
// piece, but counts an empty file after another file as a second file of
// the last piece before it, and panics with its client lock held: a
// download, or a whole daemon, that never recovers. libtorrent and
// qBittorrent make such hybrid torrents of any folder with an empty file.
func checkEngineCan(info *metainfo.Info) error {
	if !info.HasV2() {
		return nil
	}
	data := false
	for f := range info.UpvertedFilesIter() {
		if f.Length > 0 {
			data = true
		} else if data {
			return fmt.Errorf("%w: %q is an empty file after other files in a torrent with v2 (BEP 52) metadata, which the engine (anacrolix/torrent %s) cannot download yet; a v1 torrent of the same content can", ErrUnsupported, strings.Join(f.BestPath(), "/"), Version)
		}
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
	if v2OnlyMagnet(uri) {
		return Spec{}, fmt.Errorf("%w: %s", ErrUnsupported, errV2Only)
	}
	if err := checkBase32Hashes(uri); err != nil {
		return Spec{}, err
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

// v2OnlyMagnet reports a magnet with a v2 info-hash (xt=urn:btmh:) and no
// v1 one (xt=urn:btih:).
func v2OnlyMagnet(uri string) bool {
	_, query, _ := strings.Cut(uri, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return false
	}
	v1, v2 := false, false
	for _, xt := range q["xt"] {
		xt = strings.ToLower(xt)
		v1 = v1 || strings.HasPrefix(xt, "urn:btih:")
		v2 = v2 || strings.HasPrefix(xt, "urn:btmh:")
	}
	return v2 && !v1
}

// checkBase32Hashes refuses a 32-character btih info-hash that does not
// decode to 20 bytes: base32 padding ("…======") decodes to fewer, and the
// engine (v1.62.0) panics on that instead of returning an error (found by
// FuzzParseMagnet). The magnet is read as the engine reads it.
func checkBase32Hashes(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return nil // the engine's parse reports it
	}
	var ih [20]byte
	for _, xt := range u.Query()["xt"] {
		encoded, found := strings.CutPrefix(xt, "urn:btih:")
		if !found || len(encoded) != 32 {
			continue
		}
		if n, err := base32.StdEncoding.Decode(ih[:], []byte(encoded)); err != nil || n != len(ih) {
			return fmt.Errorf("%w: btih info-hash %q is not 32 base32 characters of 20 bytes", ErrBadMagnet, encoded)
		}
	}
	return nil
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

// osPaths turns slash-separated paths into the OS's form.
func osPaths(slash []string) []string {
	out := make([]string, len(slash))
	for i, p := range slash {
		out[i] = filepath.FromSlash(p)
	}
	return out
}
