package qbittorrent

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// exportAnswers adds the swarm's .torrent (stopped) and a magnet nobody
// seeds to srv, then asks torrents/export for each, for an unknown hash
// and without a hash. It checks on its own that the .torrent's export
// has the torrent's info-hash, and returns each answer for comparison:
// the status with the body (or, for a .torrent file, its info-hash) and
// the Content-Type.
func exportAnswers(t *testing.T, srv *server, sw *swarm, none *enginetest.Torrent) map[string]string {
	s := &session{t: t, srv: srv}
	if r := s.login(srv.user, srv.pass); r.status != http.StatusOK || r.body != "Ok." {
		t.Fatalf("%s: login: %v", srv.name, r)
	}
	body, ctype := multipartForm(t, []formPart{
		{name: "urls", data: []byte(none.Magnet(nil))},
		{name: "torrents", file: "multi.torrent", data: sw.multi.MetaInfo},
		{name: "paused", data: []byte("true")},
		{name: "stopped", data: []byte("true")},
	})
	if r := s.do(http.MethodPost, "torrents/add", nil, body, ctype, nil); r.status != http.StatusOK {
		t.Fatalf("%s: torrents/add: %v", srv.name, r)
	}
	// qBittorrent adds in the background: wait until both are listed.
	waitUntil(t, srv.name+": both torrents listed", 30*time.Second, func() bool {
		r := s.get("torrents/info", nil)
		return r.status == http.StatusOK && strings.Contains(r.body, sw.multi.InfoHash) && strings.Contains(r.body, none.InfoHash)
	})

	got := map[string]string{}
	for name, q := range map[string]url.Values{
		".torrent":               {"hash": {sw.multi.InfoHash}},
		"magnet before metadata": {"hash": {none.InfoHash}},
		"unknown hash":           {"hash": {strings.Repeat("0", 40)}},
		"without hash":           nil,
	} {
		r := s.get("torrents/export", q)
		b := fmt.Sprintf("%q", r.body)
		if r.status == http.StatusOK {
			ih := enginetest.Parse(t, []byte(r.body)).InfoHash()
			if name == ".torrent" && ih != sw.multi.InfoHash {
				t.Errorf("%s: the .torrent's export has info-hash %s, want %s", srv.name, ih, sw.multi.InfoHash)
			}
			b = "a .torrent of " + ih
		}
		got[name] = fmt.Sprintf("HTTP %d %s", r.status, b)
		if r.status == http.StatusOK {
			got[name+" Content-Type"] = r.header.Get("Content-Type")
		}
	}
	return got
}

// TestExport asks qbittorrent-nox 4.5.2 and Lodestone for the .torrent
// of the same torrents (torrents/export, which qBittorrent has since
// 4.5): both give a file with the torrent's info-hash, and answer the
// same to a magnet before its metadata, an unknown hash and a missing
// one, but for the allow-listed differences.
func TestExport(t *testing.T) {
	t.Parallel()
	sw := startSwarm(t, 190)
	none := enginetest.Generate(t, enginetest.Content{Name: "nobody.bin", Size: 5_000, Seed: 199})
	seen := map[string]map[string]string{}
	for _, start := range []func(*testing.T) *server{startReference, startLodestone} {
		srv := start(t)
		t.Run(srv.name, func(t *testing.T) { seen[srv.name] = exportAnswers(t, srv, sw, none) })
	}
	ref, lod := seen[referenceName], seen[lodestoneName]
	if ref == nil || lod == nil {
		t.Fatal("a server's answers are missing; nothing to compare")
	}
	diff := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(ref)) {
		if r, l := ref[name], lod[name]; r != l {
			diff["export "+name] = fmt.Sprintf("%s, qbittorrent-nox: %s", l, r)
		}
	}
	checkDiffs(t, diff, func(id string) bool { return strings.HasPrefix(id, "export ") })
}
