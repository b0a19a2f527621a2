package daemon_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// exported sends torrents/export for hash (a GET, or a form POST) and
// returns the status, Content-Type, Content-Disposition and body; edit
// may change the request before it is sent.
func (c *qbClient) exported(hash string, post bool, edit func(*http.Request)) (int, string, string, []byte) {
	c.t.Helper()
	q := url.Values{"hash": {hash}}
	req, err := http.NewRequestWithContext(ctxT(c.t, 30*time.Second), http.MethodGet, c.base+"torrents/export?"+q.Encode(), nil)
	if post {
		req, err = http.NewRequestWithContext(ctxT(c.t, 30*time.Second), http.MethodPost, c.base+"torrents/export", strings.NewReader(q.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), b
}

// TestQBittorrentExport checks torrents/export as qBittorrent answers it:
// a .torrent task's file byte for byte (by GET and by POST, the hash in
// any case), a magnet's once its metadata came from the swarm with the
// task's info-hash, 409 before the metadata, 404 for an unknown hash and
// 400 without one; a read key may export.
func TestQBittorrentExport(t *testing.T) {
	tr := enginetest.Generate(t, enginetest.MultiFile(181))
	mag := enginetest.Generate(t, enginetest.Content{Name: "qbx.bin", Size: 200_003, Seed: 182})
	none := enginetest.Generate(t, enginetest.Content{Name: "none.bin", Size: 1000, Seed: 183})
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{}, mag)
	d := daemontest.Start(t, daemontest.Options{})
	c := d.Client(t)
	qb := newQB(t, d)
	qb.login()

	if code, body := qb.upload(map[string]string{"paused": "true"}, map[string][]byte{"multi.torrent": tr.MetaInfo}); code != http.StatusOK || body != "Ok." {
		t.Fatalf("torrents/add: %d %q", code, body)
	}
	for _, post := range []bool{false, true} {
		code, ctype, disp, body := qb.exported(strings.ToUpper(tr.InfoHash), post, nil)
		if code != http.StatusOK || ctype != "application/x-bittorrent" || disp != `attachment; filename="`+tr.InfoHash+`.torrent"` {
			t.Errorf("export (POST %v): %d, Content-Type %q, Content-Disposition %q; want 200, application/x-bittorrent, the hash's file name",
				post, code, ctype, disp)
		}
		if !bytes.Equal(body, tr.MetaInfo) {
			t.Errorf("export (POST %v) differs from the .torrent added (%d bytes, want %d)", post, len(body), len(tr.MetaInfo))
		}
	}

	// A magnet with no peer has no metadata yet: qBittorrent's 409.
	m := addMagnet(t, c, none.Magnet(nil))
	if code, _, _, body := qb.exported(m.TaskID, false, nil); code != http.StatusConflict || string(body) != "Unable to export torrent file. Error: Missing metadata" {
		t.Errorf("export without metadata: %d %q, want 409 and qBittorrent's message", code, body)
	}

	// Once the swarm gave it, the magnet's .torrent has its info-hash.
	res, err := c.AddTask(ctxT(t, 10*time.Second), api.TaskAddParams{Type: api.TaskTypeMagnet,
		Data: mag.Magnet([]string{seeder.Addr}), MetadataOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, api.EventTaskMetadata, 60*time.Second, forTask(res.TaskID))
	code, _, _, body := qb.exported(res.TaskID, false, nil)
	if code != http.StatusOK {
		t.Fatalf("export of the magnet with its metadata: %d %q", code, body)
	}
	if got := enginetest.Parse(t, body).InfoHash(); got != mag.InfoHash {
		t.Errorf("the magnet's export has info-hash %s, want %s", got, mag.InfoHash)
	}

	// Exporting only reads: a read key's bearer may.
	key, err := c.CreateKey(ctxT(t, 10*time.Second), "reader", api.ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key.Key) }
	if code, _, _, body := newQB(t, d).exported(tr.InfoHash, false, bearer); code != http.StatusOK || !bytes.Equal(body, tr.MetaInfo) {
		t.Errorf("export with a read key: %d, %d bytes; want 200 and the .torrent", code, len(body))
	}

	if code, _, _, body := qb.exported(strings.Repeat("0", 40), false, nil); code != http.StatusNotFound || string(body) != "Not Found" {
		t.Errorf("export of an unknown hash: %d %q, want 404 Not Found", code, body)
	}
	if code, body := qb.do("torrents/export", nil, nil); code != http.StatusBadRequest {
		t.Errorf("export without hash: %d %q, want 400", code, body)
	}
}
