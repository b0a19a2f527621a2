package engine

import (
	"errors"
	"regexp"
	"testing"
)

var hexID = regexp.MustCompile(`^[0-9a-f]{40}$`)

// FuzzParseTorrent: untrusted .torrent bytes are accepted with a sane
// spec or refused with ErrBadTorrent (ErrUnsupported for valid ones the
// engine cannot download); never a panic or a stack overflow. The corpus
// in testdata holds the output of every torrent creator the interop tests
// use (creator-*: libtorrent v1, v1 with pad files, hybrid and v2,
// mktorrent, transmission-create, the engine's builder).
func FuzzParseTorrent(f *testing.F) {
	for _, s := range []string{
		"d4:infod6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
		"d4:infod5:filesld6:lengthi1e4:pathl1:aeee4:name1:d12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
		"d4:infod6:lengthi-5e4:name1:a12:piece lengthi0e6:pieces0:ee",
		"llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllleeeeee", "i1e", "", "d", "5:ab",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParseTorrent(data)
		if err != nil {
			if !errors.Is(err, ErrBadTorrent) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error not ErrBadTorrent or ErrUnsupported: %v", err)
			}
			return
		}
		if !hexID.MatchString(spec.ID) || spec.Size < 0 || spec.NumFiles < 1 {
			t.Fatalf("accepted with %+v", spec)
		}
	})
}

// FuzzParseMagnet: any string is a btih magnet with a hex id and only
// http(s)/udp trackers, or refused with ErrBadMagnet (ErrUnsupported for
// a v2-only one).
func FuzzParseMagnet(f *testing.F) {
	for _, s := range []string{
		"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x&tr=udp://127.0.0.1:1",
		"magnet:?xt=urn:btih:CIQD2NVXUM3BDNUQKZAOFLJL5E2JIDOS", "magnet:?xt=urn:btmh:1220aa", "magnet:", "magnet:?xt=%zz",
		"magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&tr=javascript:x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		spec, err := ParseMagnet(uri)
		if err != nil {
			if !errors.Is(err, ErrBadMagnet) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error not ErrBadMagnet or ErrUnsupported: %v", err)
			}
			return
		}
		if !hexID.MatchString(spec.ID) || spec.Name == "" || spec.Magnet != uri {
			t.Fatalf("accepted %q as %+v", uri, spec)
		}
	})
}
