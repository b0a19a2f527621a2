package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

func TestParseMagnet(t *testing.T) {
	const ih = "0123456789abcdef0123456789abcdef01234567"
	good := []struct{ uri, name string }{
		{"magnet:?xt=urn:btih:" + ih, ih},
		{"magnet:?xt=urn:btih:" + strings.ToUpper(ih) + "&dn=Hello+World", "Hello World"},
		{"  magnet:?xt=urn:btih:" + ih + "&tr=udp://127.0.0.1:6969&tr=http://127.0.0.1/a", ih},
	}
	for _, g := range good {
		spec, err := ParseMagnet(strings.TrimSpace(g.uri))
		if err != nil {
			t.Errorf("ParseMagnet(%q): %v", g.uri, err)
			continue
		}
		if spec.ID != ih || spec.Name != g.name || spec.Size != 0 {
			t.Errorf("ParseMagnet(%q) = %+v", g.uri, spec)
		}
	}
	for _, bad := range []string{
		"",
		"http://x/y",
		"magnet:?dn=x",
		"magnet:?xt=urn:btih:xyz",
		"magnet:?xt=urn:btih:" + ih + "&tr=file:///etc/passwd",
		"magnet:?xt=urn:btih:" + ih + "&tr=javascript:alert(1)",
		"magnet:?xt=urn:btih:" + ih + "&tr=http://",
	} {
		if _, err := ParseMagnet(bad); !errors.Is(err, ErrBadMagnet) {
			t.Errorf("ParseMagnet(%q) = %v, want ErrBadMagnet", bad, err)
		}
	}
}

func TestParseTorrentRejects(t *testing.T) {
	for name, data := range map[string]string{
		"empty":       "",
		"text":        "hello",
		"no info":     "d8:announce3:abce",
		"deep":        strings.Repeat("l", 1<<20) + strings.Repeat("e", 1<<20),
		"info a list": "d4:infoli1eee",
		"huge":        strings.Repeat("x", MaxTorrentSize+1),
	} {
		if _, err := ParseTorrent([]byte(data)); !errors.Is(err, ErrBadTorrent) {
			t.Errorf("%s: %v, want ErrBadTorrent", name, err)
		}
	}
}

// infoTorrent bencodes a .torrent around info.
func infoTorrent(t *testing.T, info metainfo.Info, trackers ...string) []byte {
	t.Helper()
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	mi := metainfo.MetaInfo{InfoBytes: ib}
	if len(trackers) > 0 {
		mi.AnnounceList = metainfo.AnnounceList{trackers}
	}
	var b bytes.Buffer
	if err := mi.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestParseTorrentBounds(t *testing.T) {
	ok := metainfo.Info{Name: "x", PieceLength: 16384, Length: 20000, Pieces: make([]byte, 40)}
	if _, err := ParseTorrent(infoTorrent(t, ok)); err != nil {
		t.Fatalf("valid torrent refused: %v", err)
	}
	many := make([]metainfo.FileInfo, MaxFiles+1)
	for i := range many {
		many[i] = metainfo.FileInfo{Path: []string{strconv.Itoa(i)}}
	}
	trackers := make([]string, MaxTrackers+1)
	for i := range trackers {
		trackers[i] = "http://t" + strconv.Itoa(i) + ".example/announce"
	}
	for name, tc := range map[string]struct {
		info     metainfo.Info
		trackers []string
		want     string
	}{
		"piece length 0":       {metainfo.Info{Name: "x", PieceLength: 0, Length: 1, Pieces: make([]byte, 20)}, nil, "piece length"},
		"piece length 1 GiB":   {metainfo.Info{Name: "x", PieceLength: 1 << 30, Length: 1, Pieces: make([]byte, 20)}, nil, "piece length"},
		"negative length":      {metainfo.Info{Name: "x", PieceLength: 16384, Length: -5, Pieces: make([]byte, 20)}, nil, "length"},
		"2 PiB":                {metainfo.Info{Name: "x", PieceLength: 1 << 29, Length: 2 << 50, Pieces: make([]byte, 20)}, nil, "length"},
		"too few piece hashes": {metainfo.Info{Name: "x", PieceLength: 16384, Length: 1 << 30, Pieces: make([]byte, 20)}, nil, "piece hashes"},
		"ragged pieces":        {metainfo.Info{Name: "x", PieceLength: 16384, Length: 1, Pieces: make([]byte, 21)}, nil, "multiple of 20"},
		"too many files":       {metainfo.Info{Name: "x", PieceLength: 16384, Files: many}, nil, "files"},
		"too many trackers":    {ok, trackers, "trackers"},
	} {
		_, err := ParseTorrent(infoTorrent(t, tc.info, tc.trackers...))
		if !errors.Is(err, ErrBadTorrent) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadTorrent mentioning %q", name, err, tc.want)
		}
	}
}

func TestParseMagnetBounds(t *testing.T) {
	base := "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"
	var trs, pes strings.Builder
	for i := range MaxTrackers + 1 {
		fmt.Fprintf(&trs, "&tr=http://t%d.example/a", i)
		fmt.Fprintf(&pes, "&x.pe=127.0.0.1:%d", 1000+i)
	}
	for name, tc := range map[string]struct{ uri, want string }{
		"thousands of tr=": {base + trs.String(), "trackers"},
		"too many x.pe":    {base + pes.String(), "peers"},
		"too long":         {base + "&dn=" + strings.Repeat("a", MaxMagnetSize), "bytes"},
	} {
		_, err := ParseMagnet(tc.uri)
		if !errors.Is(err, ErrBadMagnet) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadMagnet mentioning %q", name, err, tc.want)
		}
	}
	// A hostile dn is sanitised for display.
	spec, err := ParseMagnet(base + "&dn=" + url.QueryEscape("evil\u202Egpj.exe\x00/../x"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "evil_gpj.exe__.._x" {
		t.Errorf("dn sanitised to %q", spec.Name)
	}
}

// padInfo is a v1 info of pl-byte pieces: a.bin (100 bytes), a pad file
// to the piece's end, and b.bin (50 bytes), with zeroed piece hashes.
func padInfo(pl int64) metainfo.Info {
	files := []metainfo.FileInfo{
		{Path: []string{"a.bin"}, Length: 100},
		{Path: []string{".pad", strconv.FormatInt(pl-100, 10)}, Length: pl - 100, ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"}},
		{Path: []string{"b.bin"}, Length: 50},
	}
	return metainfo.Info{Name: "padded", PieceLength: pl, Files: files, Pieces: make([]byte, 40)}
}

// BEP 47: pad files count toward the piece count, not toward the size or
// the files of a task.
func TestParseTorrentPadFiles(t *testing.T) {
	spec, err := ParseTorrent(infoTorrent(t, padInfo(1024)))
	if err != nil {
		t.Fatalf("torrent with a pad file refused: %v", err)
	}
	if spec.Size != 150 || spec.NumFiles != 2 {
		t.Errorf("size %d, %d files; want 150 bytes in 2 files (no pad file)", spec.Size, spec.NumFiles)
	}
	// Still refused: a piece count that disagrees with the length even
	// with the pad files counted.
	short := padInfo(1024)
	short.Pieces = make([]byte, 20)
	if _, err := ParseTorrent(infoTorrent(t, short)); !errors.Is(err, ErrBadTorrent) || !strings.Contains(err.Error(), "1 piece hashes for 1074 bytes (150 of data, 924 of pad files)") {
		t.Errorf("1 hash for 2 pieces: %v", err)
	}
	// Nothing but pad files.
	pads := padInfo(1024)
	pads.Files = pads.Files[1:2]
	pads.Pieces = make([]byte, 20)
	if _, err := ParseTorrent(infoTorrent(t, pads)); !errors.Is(err, ErrBadTorrent) {
		t.Errorf("only pad files: %v", err)
	}
}

// readCorpus returns the bytes of a committed fuzz corpus entry.
func readCorpus(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
	if !ok {
		t.Fatalf("%s: not a []byte corpus entry", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(body), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}

// The creators' torrents in the fuzz corpus: every one is accepted with
// its data files alone, except v2-only ones and a hybrid with an empty
// file after others, refused as unsupported.
func TestParseTorrentCreators(t *testing.T) {
	paths, err := filepath.Glob("testdata/fuzz/FuzzParseTorrent/creator-*")
	if err != nil || len(paths) < 21 {
		t.Fatalf("creator corpus: %d files, %v", len(paths), err)
	}
	// Data files of the shapes (see the names): three 3, utf 2, zero 3
	// (transmission-create leaves its empty file out).
	wantFiles := map[string]int{"three": 3, "utf": 2, "zero": 3}
	wantSize := map[string]int64{"three": 700_001 + 1 + 2_300_017, "utf": 12_345 + 777, "zero": 100_000 + 300_001}
	for _, p := range paths {
		name := strings.TrimPrefix(filepath.Base(p), "creator-")
		shape := name[strings.LastIndex(name, "-")+1:]
		spec, err := ParseTorrent(readCorpus(t, p))
		switch {
		case strings.Contains(name, "-v2-"):
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "BEP 52 v2-only") {
				t.Errorf("%s: %v, want ErrUnsupported naming BEP 52 v2-only", name, err)
			}
			continue
		case name == "libtorrent-hybrid-zero":
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"empty" is an empty file`) {
				t.Errorf("%s: %v, want ErrUnsupported naming the empty file", name, err)
			}
			continue
		case err != nil:
			t.Errorf("%s: refused: %v", name, err)
			continue
		}
		files := wantFiles[shape]
		if name == "transmission-zero" {
			files--
		}
		if spec.NumFiles != files || spec.Size != wantSize[shape] {
			t.Errorf("%s: %d files, %d bytes; want %d, %d", name, spec.NumFiles, spec.Size, files, wantSize[shape])
		}
	}
}

func TestParseV2Only(t *testing.T) {
	if _, err := ParseMagnet("magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32) + "&dn=x"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "BEP 52 v2-only") {
		t.Errorf("v2-only magnet: %v", err)
	}
	// A hybrid magnet (btih and btmh) is a v1 magnet.
	const ih = "0123456789abcdef0123456789abcdef01234567"
	if spec, err := ParseMagnet("magnet:?xt=urn:btih:" + ih + "&xt=urn:btmh:1220" + strings.Repeat("ab", 32)); err != nil || spec.ID != ih {
		t.Errorf("hybrid magnet: %+v, %v", spec, err)
	}
}
