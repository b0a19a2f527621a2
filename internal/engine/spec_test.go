package engine

import (
	"errors"
	"strings"
	"testing"
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
