// Package enginetest builds loopback BitTorrent swarms for tests: generated
// content with awkward shapes, .torrent data and magnets for it, and an
// in-process seeder (the engine's own client) on 127.0.0.1.
package enginetest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"
)

// File is one file of generated content: a slash-separated path inside the
// torrent and its size.
type File struct {
	Path string
	Size int64
}

// Content describes a torrent to generate. A single file has one File whose
// Path is the torrent's Name.
type Content struct {
	Name  string
	Files []File // for a multi-file torrent; empty for a single file
	Size  int64  // for a single file
	// Data, if set, is the single file's content instead of random bytes
	// (Size is then ignored).
	Data []byte
	// PieceLength defaults to 32 KiB, small so tests cross many pieces.
	PieceLength int64
	// Trackers are announce URLs put in the torrent.
	Trackers []string
	Seed     uint64 // seeds the pseudo-random bytes
}

// Torrent is generated content on disk with its metainfo.
type Torrent struct {
	// Root is the directory holding the content (Root/Name is the file or
	// folder).
	Root     string
	Name     string
	MetaInfo []byte
	InfoHash string // lowercase hex
}

// Generate writes c under a new temporary directory and builds its torrent.
// The bytes are pseudo-random with runs of NUL bytes; sizes need not divide
// into pieces.
func Generate(t testing.TB, c Content) *Torrent {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(c.Seed, 0x10de57))
	top := filepath.Join(root, c.Name)
	switch {
	case c.Data != nil:
		if err := os.WriteFile(top, c.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	case len(c.Files) == 0:
		writeRandom(t, top, c.Size, rng)
	default:
		for _, f := range c.Files {
			writeRandom(t, filepath.Join(top, filepath.FromSlash(f.Path)), f.Size, rng)
		}
	}
	pl := c.PieceLength
	if pl == 0 {
		pl = 32 << 10
	}
	data := Build(t, top, pl, c.Trackers...)
	return &Torrent{Root: root, Name: c.Name, MetaInfo: data, InfoHash: Parse(t, data).InfoHash()}
}

// Build makes a v1 .torrent of the file or folder at path with the
// engine's own metainfo builder, in pieces of pieceLength bytes,
// announcing to trackers.
func Build(t testing.TB, path string, pieceLength int64, trackers ...string) []byte {
	t.Helper()
	info := metainfo.Info{PieceLength: pieceLength}
	if err := info.BuildFromFilePath(path); err != nil {
		t.Fatalf("build info: %v", err)
	}
	mi := metainfo.MetaInfo{}
	if len(trackers) > 0 {
		mi.Announce = trackers[0]
		mi.AnnounceList = metainfo.AnnounceList{trackers}
	}
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		t.Fatalf("encode info: %v", err)
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		t.Fatalf("encode metainfo: %v", err)
	}
	return buf.Bytes()
}

func writeRandom(t testing.TB, path string, size int64, rng *rand.Rand) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	// A run of NUL bytes in every file that has room for one.
	if size > 64 {
		clear(b[size/3 : size/3+32])
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Magnet returns a magnet URI for tr with the given peers (x.pe) and
// trackers (tr), and dn set to its name.
func (tr *Torrent) Magnet(peers []string, trackers ...string) string {
	v := url.Values{}
	v.Set("dn", tr.Name)
	for _, p := range peers {
		v.Add("x.pe", p)
	}
	for _, u := range trackers {
		v.Add("tr", u)
	}
	return "magnet:?xt=urn:btih:" + tr.InfoHash + "&" + v.Encode()
}

// Hashes returns the sha256 of every file under dir/name, keyed by path
// relative to dir, for comparing a download with its source.
func Hashes(t testing.TB, dir, name string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	base := filepath.Join(dir, name)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatalf("hash %s: %v", base, err)
	}
	return out
}

// SeederOptions tune StartSeeder.
type SeederOptions struct {
	// UTP makes the seeder speak uTP only (no TCP).
	UTP bool
	// UploadRate caps the seeder's upload in bytes per second; 0 is
	// unlimited.
	UploadRate int
	// Host is the loopback address to listen on; "" is 127.0.0.1.
	Host string
	// NoPEX turns peer exchange off: the seeder dials no address that a
	// peer tells it of (a test counting who connects where needs that).
	NoPEX bool
}

// Seeder is an engine client on loopback seeding generated torrents.
type Seeder struct {
	cl       *torrent.Client
	torrents []*torrent.Torrent
	// Addr is the seeder's host:port.
	Addr string
}

// StartSeeder starts a seeder for trs on loopback (DHT, UPnP, LSD, IPv6
// off) and stops it when the test ends.
func StartSeeder(t testing.TB, opts SeederOptions, trs ...*Torrent) *Seeder {
	t.Helper()
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	cc := torrent.NewDefaultClientConfig()
	cc.ListenHost = func(string) string { return host }
	cc.ListenPort = 0
	cc.NoDHT = true
	cc.NoDefaultPortForwarding = true
	cc.DisableIPv6 = true
	cc.DisableWebtorrent = true
	cc.Seed = true
	cc.DisableUTP = !opts.UTP
	cc.DisablePEX = opts.NoPEX
	cc.DisableTCP = opts.UTP
	cc.MaxAllocPeerRequestDataPerConn = 16 << 20
	cc.UploadRateLimiter = rate.NewLimiter(rate.Inf, 16<<20)
	if opts.UploadRate > 0 {
		cc.UploadRateLimiter = rate.NewLimiter(rate.Limit(opts.UploadRate), 256<<10)
	}
	cc.DataDir = t.TempDir()
	cc.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   cc.DataDir,
		PieceCompletion: storage.NewMapPieceCompletion(),
		UsePartFiles:    generics.Some(false),
	})
	cl, err := torrent.NewClient(cc)
	if err != nil {
		t.Fatalf("start seeder: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	s := &Seeder{cl: cl, Addr: net.JoinHostPort(host, strconv.Itoa(cl.LocalPort()))}
	for _, tr := range trs {
		s.Seed(t, tr)
	}
	return s
}

// Seed adds tr, reading its data from tr.Root, and waits until every piece
// is verified.
func (s *Seeder) Seed(t testing.TB, tr *Torrent) {
	t.Helper()
	mi, err := metainfo.Load(bytes.NewReader(tr.MetaInfo))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		t.Fatal(err)
	}
	spec.Storage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   tr.Root,
		PieceCompletion: storage.NewMapPieceCompletion(),
		UsePartFiles:    generics.Some(false),
	})
	tt, _, err := s.cl.AddTorrentSpec(spec)
	if err != nil {
		t.Fatalf("seed %s: %v", tr.Name, err)
	}
	<-tt.GotInfo()
	if err := tt.VerifyData(); err != nil {
		t.Fatalf("verify seed data: %v", err)
	}
	select {
	case <-tt.Complete().On():
	case <-time.After(30 * time.Second):
		t.Fatalf("seeder: %s incomplete after verification", tr.Name)
	}
	s.torrents = append(s.torrents, tt)
}

// AddPeer makes the seeder dial addr (host:port) for every torrent it
// seeds, as a swarm's peers would: for clients that never dial a loopback
// peer themselves (Transmission 3.00 takes all of 127/8 for martian). A
// peer that does not have a torrent (yet) refuses the handshake, and the
// seeder forgets it: call AddPeer again to retry. Not concurrently with
// Seed.
func (s *Seeder) AddPeer(addr string) {
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return
	}
	for _, tt := range s.torrents {
		tt.AddPeers([]torrent.PeerInfo{{Addr: tcp, Source: torrent.PeerSourceDirect, Trusted: true}})
	}
}

// String names the seeder for test logs.
func (s *Seeder) String() string { return fmt.Sprintf("seeder@%s", s.Addr) }

// Close stops the seeder now (it also stops when the test ends).
func (s *Seeder) Close() { s.cl.Close() }

// MetaInfo is a parsed .torrent, for making variants of it.
type MetaInfo struct {
	mi   *metainfo.MetaInfo
	info metainfo.Info
}

// Parse parses .torrent data.
func Parse(t testing.TB, data []byte) *MetaInfo {
	t.Helper()
	mi, err := metainfo.Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	return &MetaInfo{mi: mi, info: info}
}

// InfoHash is the v1 info-hash (btih) in lowercase hex.
func (m *MetaInfo) InfoHash() string { return m.mi.HashInfoBytes().HexString() }

// Versions reports whether the info has v1 and v2 (BEP 52) metadata.
func (m *MetaInfo) Versions() (v1, v2 bool) { return m.info.HasV1(), m.info.HasV2() }

// DataFiles returns the paths of the data files, slash-separated and
// relative to the torrent's folder ("" for a single file), and the number
// of BEP 47 pad files in its v1 file list.
func (m *MetaInfo) DataFiles() (paths []string, pads int) {
	isPad := func(f metainfo.FileInfo) bool { return strings.ContainsRune(f.Attr, 'p') }
	for _, f := range m.info.UpvertedFiles() {
		if !isPad(f) {
			paths = append(paths, strings.Join(f.BestPath(), "/"))
		}
	}
	for _, f := range m.info.Files {
		if isPad(f) {
			pads++
		}
	}
	// A single file: v1 has no file list, v2 a tree of one file.
	if m.info.HasV1() && len(m.info.Files) == 0 || !m.info.HasV1() && len(paths) == 1 && !strings.Contains(paths[0], "/") {
		paths = []string{""}
	}
	return paths, pads
}

// InfoHashV2 is the v2 info-hash (btmh, BEP 52) in lowercase hex: the
// SHA-256 of the info dictionary.
func (m *MetaInfo) InfoHashV2() string {
	sum := sha256.Sum256(m.mi.InfoBytes)
	return fmt.Sprintf("%x", sum)
}

// WithTrackers returns the .torrent announcing to urls instead of its own
// trackers; the info dictionary, and so the info-hash, stays the same.
func (m *MetaInfo) WithTrackers(urls ...string) []byte {
	mi := *m.mi
	mi.Announce, mi.AnnounceList = "", nil
	if len(urls) > 0 {
		mi.Announce = urls[0]
		mi.AnnounceList = metainfo.AnnounceList{urls}
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// WithName returns the .torrent with the info's name changed: another
// info-hash for the same content.
func (m *MetaInfo) WithName(name string) []byte {
	info := m.info
	info.Name = name
	mi := *m.mi
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// WithPrivate returns the .torrent with the info's private flag set (BEP
// 27): another info-hash for the same content.
func (m *MetaInfo) WithPrivate() []byte {
	info := m.info
	private := true
	info.Private = &private
	mi := *m.mi
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// SameFiles compares the download of tr under downloadDir with its
// source, byte for byte, failing the test on any difference.
func SameFiles(t testing.TB, tr *Torrent, downloadDir string) {
	t.Helper()
	want := Hashes(t, tr.Root, tr.Name)
	got := Hashes(t, downloadDir, tr.Name)
	if len(got) != len(want) {
		t.Fatalf("downloaded %d files, want %d", len(got), len(want))
	}
	for p, h := range want {
		if got[p] != h {
			t.Errorf("%s differs from the source", p)
		}
	}
}

// MultiFile is a multi-file torrent named "multi" with nested dirs, an
// empty file and sizes that do not divide into pieces: a.bin 100003,
// dir/b.bin 65536, dir/sub/c.txt 7, dir/empty 0, z.bin 1234567.
func MultiFile(seed uint64) Content {
	return Content{
		Name: "multi",
		Files: []File{
			{Path: "a.bin", Size: 100_003},
			{Path: "dir/b.bin", Size: 65_536},
			{Path: "dir/sub/c.txt", Size: 7},
			{Path: "dir/empty", Size: 0},
			{Path: "z.bin", Size: 1_234_567},
		},
		Seed: seed,
	}
}

// StartLyingSeeder starts a seeder on host (another loopback address than
// the honest seeders', so that banning it bans no one else) that has
// verified tr's single file and then serves it with a byte in every 4 KiB
// changed: every piece it sends fails its hash.
func StartLyingSeeder(t testing.TB, tr *Torrent, host string) *Seeder {
	t.Helper()
	s := StartSeeder(t, SeederOptions{Host: host})
	root := t.TempDir()
	src, err := os.ReadFile(filepath.Join(tr.Root, tr.Name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, tr.Name), src, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Seed(t, &Torrent{Root: root, Name: tr.Name, MetaInfo: tr.MetaInfo, InfoHash: tr.InfoHash})
	lie := bytes.Clone(src)
	for i := 0; i < len(lie); i += 4096 {
		lie[i] ^= 0x5a
	}
	if err := os.WriteFile(filepath.Join(root, tr.Name), lie, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}
