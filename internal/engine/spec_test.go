package engine

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
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
