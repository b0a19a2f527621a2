package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// The qBittorrent API's torrents/* changes, driven over loopback as
// qBittorrent's clients drive them, checked against what Lodestone did
// (through its own WebSocket API) and against the disk.

// want sends a form POST to endpoint and fails the test unless the
// answer has status code and that body; a body ending in "*" is a prefix
// ("*" alone: any body).
func (c *qbClient) want(endpoint string, form url.Values, code int, body string) string {
	c.t.Helper()
	got, b := c.do(endpoint, form, nil)
	prefix, wild := strings.CutSuffix(body, "*")
	if got != code || (wild && !strings.HasPrefix(b, prefix)) || (!wild && b != body) {
		c.t.Fatalf("%s %v: %d %q, want %d %q", endpoint, form, got, b, code, body)
	}
	return b
}

// ok sends a form POST and wants 200 with an empty body.
func (c *qbClient) ok(endpoint string, form url.Values) {
	c.t.Helper()
	c.want(endpoint, form, http.StatusOK, "")
}

// upload sends torrents/add as a multipart form, as Sonarr sends a
// .torrent: fields, and files by file name under "torrents".
func (c *qbClient) upload(fields map[string]string, files map[string][]byte) (int, string) {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			c.t.Fatal(err)
		}
	}
	for name, data := range files {
		fw, err := mw.CreateFormFile("torrents", name)
		if err != nil {
			c.t.Fatal(err)
		}
		fw.Write(data)
	}
	if err := mw.Close(); err != nil {
		c.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctxT(c.t, 60*time.Second), http.MethodPost, c.base+"torrents/add", &buf)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getJSON reads endpoint's JSON answer into v.
func (c *qbClient) getJSON(endpoint string, form url.Values, v any) {
	c.t.Helper()
	code, body := c.do(endpoint, form, nil)
	if code != http.StatusOK {
		c.t.Fatalf("%s: %d %q", endpoint, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		c.t.Fatalf("%s: %q: %v", endpoint, body, err)
	}
}

// noTask is an info-hash of no task.
const noTask = "0123456789abcdef0123456789abcdef01234567"

func complete(tk api.Task) bool { return tk.Size > 0 && tk.Completed == tk.Size }

func trackerURLsOf(t *testing.T, d *daemontest.Daemon, id string) []string {
	t.Helper()
	trs, err := d.Client(t).TaskTrackers(ctxT(t, 10*time.Second), id)
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, tr := range trs {
		urls = append(urls, tr.URL)
	}
	return urls
}

// TestQBittorrentAdd adds torrents as Sonarr and the WebUI do: a magnet
// (with the seeder as x.pe) by urls, and a .torrent by multipart upload
// with a save path, tags, stopped and a download limit. Both really
// download where asked; the answers are qBittorrent's: "Ok." when
// something was added, "Fails." for a torrent it already has or nothing
// usable, 415 for a file that is not a torrent.
func TestQBittorrentAdd(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	trFile := enginetest.Generate(t, enginetest.Content{Name: "qb-file.bin", Size: 1_000_003, Seed: 71, Trackers: []string{tracker.URL}})
	trMagnet := enginetest.Generate(t, enginetest.MultiFile(72))
	idle := enginetest.Generate(t, enginetest.Content{Name: "idle.bin", Size: 3000, Seed: 74})
	other := enginetest.Generate(t, enginetest.Content{Name: "other.bin", Size: 3000, Seed: 75})
	seeder.Seed(t, trFile)
	seeder.Seed(t, trMagnet)
	d := daemontest.Start(t, daemontest.Options{})
	ws := d.Client(t)
	c := newQB(t, d)
	c.login()

	// A magnet by urls, tagged and sequential, downloads to the default
	// directory.
	c.want("torrents/add", url.Values{
		"urls": {trMagnet.Magnet([]string{seeder.Addr})}, "tags": {"tv, hd,"}, "sequentialDownload": {"true"},
	}, http.StatusOK, "Ok.")
	mag := waitTask(t, ws, trMagnet.InfoHash, "magnet downloaded", 90*time.Second, complete)
	if !slices.Equal(mag.Labels, []string{"tv", "hd"}) || !mag.Sequential || mag.DownloadDir != d.Dirs.Download {
		t.Errorf("magnet task: labels %q, sequential %v, dir %s", mag.Labels, mag.Sequential, mag.DownloadDir)
	}
	enginetest.SameFiles(t, trMagnet, d.Dirs.Download)

	// A .torrent uploaded stopped with a save path: added stopped, then
	// started, it downloads there.
	save := filepath.Join(d.Dirs.Download, "qb", "saved")
	code, body := c.upload(map[string]string{
		"savepath": save, "stopped": "true", "tags": "movies", "dlLimit": "1000000", "contentLayout": "Original",
		"skip_checking": "false", "autoTMM": "false", "firstLastPiecePrio": "true",
	}, map[string][]byte{"qb-file.torrent": trFile.MetaInfo})
	if code != http.StatusOK || body != "Ok." {
		t.Fatalf("upload .torrent: %d %q", code, body)
	}
	file := stateOf(t, ws, trFile.InfoHash)
	if file.State != api.StatePaused || file.DownloadDir != save || !slices.Equal(file.Labels, []string{"movies"}) || file.DownloadRateLimit != 1_000_000 {
		t.Errorf("uploaded task: %+v", file)
	}
	var limits map[string]int64
	c.getJSON("torrents/downloadLimit", url.Values{"hashes": {strings.ToUpper(trFile.InfoHash) + "|" + idle.InfoHash}}, &limits)
	if limits[strings.ToUpper(trFile.InfoHash)] != 1_000_000 || limits[idle.InfoHash] != -1 {
		t.Errorf("torrents/downloadLimit: %v", limits)
	}
	c.ok("torrents/start", url.Values{"hashes": {trFile.InfoHash}})
	waitTask(t, ws, trFile.InfoHash, "uploaded torrent downloaded", 90*time.Second, complete)
	enginetest.SameFiles(t, trFile, save)

	// What it has already is not added again: "Fails.", unless something
	// else in the same request is added.
	c.want("torrents/add", url.Values{"urls": {trMagnet.Magnet(nil)}}, http.StatusOK, "Fails.")
	if code, body := c.upload(nil, map[string][]byte{"again.torrent": trFile.MetaInfo}); code != http.StatusOK || body != "Fails." {
		t.Errorf("upload of a torrent it has: %d %q, want Fails.", code, body)
	}
	// A bare info-hash is a magnet; 4.x's "paused" is honoured.
	c.want("torrents/add", url.Values{"urls": {trMagnet.InfoHash + "\r\n" + strings.ToUpper(idle.InfoHash)}, "paused": {"true"}}, http.StatusOK, "Ok.")
	if tk := stateOf(t, ws, idle.InfoHash); tk.State != api.StatePaused {
		t.Errorf("task added by info-hash: state %s, want paused", tk.State)
	}
	// Nothing usable: "Fails.".
	for _, u := range []string{"/etc/passwd", "file:///etc/passwd", "not a url", "magnet:?xt=urn:btih:nothex"} {
		c.want("torrents/add", url.Values{"urls": {u}}, http.StatusOK, "Fails.")
	}
	c.want("torrents/add", url.Values{}, http.StatusOK, "Fails.")
	// A save path outside the download roots is refused.
	c.want("torrents/add", url.Values{"urls": {other.Magnet(nil)}, "savepath": {t.TempDir()}}, http.StatusOK, "Fails.")
	if _, err := ws.GetTask(ctxT(t, 10*time.Second), other.InfoHash); err == nil {
		t.Error("a torrent refused for its save path was added")
	}
	// A file that is not a torrent: 415 with qBittorrent's text.
	if code, body := c.upload(nil, map[string][]byte{"junk.torrent": []byte("d4:junk")}); code != http.StatusUnsupportedMediaType ||
		body != "Error: 'junk.torrent' is not a valid torrent file." {
		t.Errorf("upload of junk: %d %q, want 415", code, body)
	}
	c.want("torrents/add", url.Values{"urls": {other.Magnet(nil)}, "dlLimit": {"fast"}}, http.StatusBadRequest, "*")
	if n := len(listTasks(t, ws)); n != 3 {
		t.Errorf("%d tasks, want 3", n)
	}
}

// TestQBittorrentControl changes downloaded tasks through every torrents/*
// action and checks what Lodestone did: states, file priorities (a
// skipped file is not downloaded), trackers, limits, the data moved by
// setLocation and deleted (or kept) by delete; bad input gets
// qBittorrent's status and text.
func TestQBittorrentControl(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	one := enginetest.Generate(t, enginetest.Content{Name: "qb-one.bin", Size: 500_001, Seed: 81})
	mc := enginetest.MultiFile(82)
	mc.Trackers = []string{tracker.URL}
	multi := enginetest.Generate(t, mc)
	nometa := enginetest.Generate(t, enginetest.Content{Name: "nometa.bin", Size: 3000, Seed: 83})
	seeder.Seed(t, one)
	seeder.Seed(t, multi)
	d := daemontest.Start(t, daemontest.Options{})
	ws := d.Client(t)
	c := newQB(t, d)
	c.login()

	c.want("torrents/add", url.Values{"urls": {one.Magnet([]string{seeder.Addr})}}, http.StatusOK, "Ok.")
	if code, body := c.upload(map[string]string{"stopped": "true"}, map[string][]byte{"multi.torrent": multi.MetaInfo}); code != http.StatusOK || body != "Ok." {
		t.Fatalf("upload multi: %d %q", code, body)
	}
	c.want("torrents/add", url.Values{"urls": {nometa.InfoHash}, "stopped": {"true"}}, http.StatusOK, "Ok.")

	// filePrio: the checks in qBittorrent's order, then z.bin (index 4)
	// skipped before the download starts.
	h := multi.InfoHash
	for _, tc := range []struct {
		form url.Values
		code int
		body string
	}{
		{url.Values{"hash": {h}, "id": {"4"}}, http.StatusBadRequest, "Missing required parameters: priority"},
		{url.Values{"hash": {h}, "id": {"4"}, "priority": {"high"}}, http.StatusBadRequest, "Priority must be an integer"},
		{url.Values{"hash": {h}, "id": {"4"}, "priority": {"3"}}, http.StatusBadRequest, "Priority is not valid"},
		{url.Values{"hash": {noTask}, "id": {"4"}, "priority": {"0"}}, http.StatusNotFound, "Not Found"},
		{url.Values{"hash": {nometa.InfoHash}, "id": {"0"}, "priority": {"0"}}, http.StatusConflict, "Torrent's metadata has not yet downloaded"},
		{url.Values{"hash": {h}, "id": {"4|x"}, "priority": {"0"}}, http.StatusBadRequest, "File IDs must be integers"},
		{url.Values{"hash": {h}, "id": {"5"}, "priority": {"0"}}, http.StatusConflict, "File ID is not valid"},
	} {
		c.want("torrents/filePrio", tc.form, tc.code, tc.body)
	}
	c.ok("torrents/filePrio", url.Values{"hash": {strings.ToUpper(h)}, "id": {"4"}, "priority": {"0"}})
	c.ok("torrents/filePrio", url.Values{"hash": {h}, "id": {"0|1"}, "priority": {"7"}})
	prios := map[int]string{}
	for _, f := range taskFiles(t, ws, h) {
		prios[f.Index] = f.Priority
	}
	if prios[4] != api.PrioritySkip || prios[0] != api.PriorityHigh || prios[1] != api.PriorityHigh || prios[2] != api.PriorityNormal {
		t.Errorf("file priorities after filePrio: %v", prios)
	}
	// resume is 4.x's start.
	c.ok("torrents/resume", url.Values{"hashes": {h}})
	waitTask(t, ws, one.InfoHash, "magnet downloaded", 90*time.Second, complete)
	waitUntilAPI(t, "the wanted files of multi downloaded", 90*time.Second, func() bool {
		for _, f := range taskFiles(t, ws, h) {
			if f.Index != 4 && f.Completed != f.Size {
				return false
			}
		}
		return true
	})
	if files := taskFiles(t, ws, h); files[4].Completed == files[4].Size {
		t.Errorf("the skipped file was downloaded: %+v", files[4])
	}

	// stop/start and pause/resume, on several hashes at once ("|", any
	// case, unknown ones ignored) and on "all".
	both := one.InfoHash + "|" + strings.ToUpper(h) + "|" + noTask
	c.ok("torrents/stop", url.Values{"hashes": {both}})
	for _, id := range []string{one.InfoHash, h} {
		if tk := stateOf(t, ws, id); tk.State != api.StatePaused {
			t.Errorf("%s after stop: %s", id, tk.State)
		}
	}
	c.ok("torrents/start", url.Values{"hashes": {"all"}})
	waitTask(t, ws, one.InfoHash, "started", 30*time.Second, func(tk api.Task) bool { return tk.State == api.StateSeeding })
	c.ok("torrents/pause", url.Values{"hashes": {one.InfoHash}})
	waitTask(t, ws, one.InfoHash, "paused", 30*time.Second, func(tk api.Task) bool { return tk.State == api.StatePaused })
	// setForceStart value=true resumes.
	c.ok("torrents/setForceStart", url.Values{"hashes": {one.InfoHash}, "value": {"true"}})
	waitTask(t, ws, one.InfoHash, "force-started", 30*time.Second, func(tk api.Task) bool { return tk.State == api.StateSeeding })
	c.ok("torrents/recheck", url.Values{"hashes": {one.InfoHash}})
	waitTask(t, ws, one.InfoHash, "seeding after recheck", 60*time.Second, func(tk api.Task) bool {
		return tk.State == api.StateSeeding && complete(tk)
	})
	c.ok("torrents/stop", url.Values{"hashes": {nometa.InfoHash}})

	// Sequential order flips; rate limits set and read back.
	c.ok("torrents/toggleSequentialDownload", url.Values{"hashes": {one.InfoHash}})
	if !stateOf(t, ws, one.InfoHash).Sequential {
		t.Error("toggleSequentialDownload did not make the task sequential")
	}
	c.ok("torrents/toggleSequentialDownload", url.Values{"hashes": {one.InfoHash}})
	if stateOf(t, ws, one.InfoHash).Sequential {
		t.Error("a second toggleSequentialDownload did not undo it")
	}
	c.ok("torrents/setUploadLimit", url.Values{"hashes": {one.InfoHash + "|" + h}, "limit": {"65536"}})
	c.ok("torrents/setDownloadLimit", url.Values{"hashes": {one.InfoHash}, "limit": {"-1"}})
	var up map[string]int64
	c.getJSON("torrents/uploadLimit", url.Values{"hashes": {one.InfoHash + "|" + h}}, &up)
	if up[one.InfoHash] != 65536 || up[h] != 65536 || stateOf(t, ws, one.InfoHash).DownloadRateLimit != 0 {
		t.Errorf("limits: upload %v, task %+v", up, stateOf(t, ws, one.InfoHash))
	}
	c.ok("torrents/setUploadLimit", url.Values{"hashes": {h}, "limit": {"0"}})
	if l := stateOf(t, ws, h).UploadRateLimit; l != 0 {
		t.Errorf("upload limit 0 left %d, want none (0)", l)
	}

	// Trackers: add (newline-separated), edit, remove ("|"-separated).
	t1, t2, t3 := "http://127.0.0.1:1/announce", "http://127.0.0.1:2/announce", "http://127.0.0.1:3/announce"
	c.ok("torrents/addTrackers", url.Values{"hash": {h}, "urls": {t1 + "\n\n" + t2 + "\n"}})
	if got := trackerURLsOf(t, d, h); !slices.Contains(got, t1) || !slices.Contains(got, t2) {
		t.Errorf("after addTrackers: %q", got)
	}
	c.want("torrents/editTracker", url.Values{"hash": {h}, "origUrl": {t3}, "newUrl": {"http://127.0.0.1:4/announce"}}, http.StatusConflict, "Tracker not found")
	c.want("torrents/editTracker", url.Values{"hash": {h}, "origUrl": {t1}, "newUrl": {t2}}, http.StatusConflict, "New tracker URL already exists")
	c.want("torrents/editTracker", url.Values{"hash": {h}, "origUrl": {t1}, "newUrl": {"nonsense"}}, http.StatusBadRequest, "New tracker URL is invalid")
	c.ok("torrents/editTracker", url.Values{"hash": {h}, "origUrl": {t1}, "newUrl": {t3}})
	if got := trackerURLsOf(t, d, h); slices.Contains(got, t1) || !slices.Contains(got, t3) {
		t.Errorf("after editTracker: %q", got)
	}
	c.ok("torrents/removeTrackers", url.Values{"hash": {h}, "urls": {t2 + "|" + t3 + "|http://not.there/announce"}})
	if got := trackerURLsOf(t, d, h); slices.Contains(got, t2) || slices.Contains(got, t3) {
		t.Errorf("after removeTrackers: %q", got)
	}
	c.want("torrents/addTrackers", url.Values{"hash": {noTask}, "urls": {t1}}, http.StatusNotFound, "Not Found")
	c.want("torrents/addTrackers", url.Values{"hash": {h}, "urls": {"ftp://127.0.0.1/x"}}, http.StatusBadRequest, "*")

	// setLocation moves the data into a directory inside the roots, and
	// refuses one outside.
	moved := filepath.Join(d.Dirs.Download, "moved")
	c.want("torrents/setLocation", url.Values{"hashes": {one.InfoHash}, "location": {" "}}, http.StatusBadRequest, "Save path cannot be empty")
	if body := c.want("torrents/setLocation", url.Values{"hashes": {one.InfoHash}, "location": {t.TempDir()}}, http.StatusConflict, "*"); !strings.HasPrefix(body, "Cannot make save path") {
		t.Errorf("setLocation outside the roots: %q", body)
	}
	c.ok("torrents/setLocation", url.Values{"hashes": {one.InfoHash}, "location": {moved}})
	if tk := stateOf(t, ws, one.InfoHash); tk.DownloadDir != moved {
		t.Errorf("after setLocation: dir %s, want %s", tk.DownloadDir, moved)
	}
	enginetest.SameFiles(t, one, moved)
	if _, err := os.Stat(filepath.Join(d.Dirs.Download, "qb-one.bin")); !os.IsNotExist(err) {
		t.Errorf("the old copy is still there: %v", err)
	}

	// What Lodestone does not have: accepted and changes nothing, or
	// (rename) refused with 409.
	for _, ep := range []string{"torrents/toggleFirstLastPiecePrio", "torrents/setSuperSeeding", "torrents/setAutoManagement"} {
		c.ok(ep, url.Values{"hashes": {h}, "value": {"true"}, "enable": {"false"}})
	}
	c.want("torrents/rename", url.Values{"hash": {h}, "name": {"new name"}}, http.StatusConflict, "*")
	c.want("torrents/rename", url.Values{"hash": {h}, "name": {" "}}, http.StatusConflict, "Incorrect torrent name")
	c.want("torrents/rename", url.Values{"hash": {noTask}, "name": {"x"}}, http.StatusNotFound, "Not Found")

	// Missing parameters: 400 naming them; GET of a change: 405.
	for _, ep := range []string{"torrents/stop", "torrents/start", "torrents/delete", "torrents/recheck", "torrents/setLocation",
		"torrents/setDownloadLimit", "torrents/addTrackers", "torrents/removeTrackers", "torrents/editTracker", "torrents/setForceStart"} {
		c.want(ep, url.Values{"unrelated": {"1"}}, http.StatusBadRequest, "Missing required parameters: *")
	}
	c.want("torrents/setLocation", url.Values{}, http.StatusBadRequest, "Missing required parameters: hashes, location")
	c.want("torrents/editTracker", url.Values{"hash": {h}, "newUrl": {t1}}, http.StatusBadRequest, "Missing required parameters: origUrl")
	if code, _ := c.do("torrents/delete?hashes=all&deleteFiles=true", nil, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET torrents/delete: %d, want 405", code)
	}

	// delete keeps the data without deleteFiles (as Sonarr sends it) and
	// deletes it with deleteFiles=true.
	c.ok("torrents/delete", url.Values{"hashes": {one.InfoHash}})
	c.ok("torrents/delete", url.Values{"hashes": {h + "|" + nometa.InfoHash}, "deleteFiles": {"true"}})
	if n := len(listTasks(t, ws)); n != 0 {
		t.Errorf("%d tasks left after delete", n)
	}
	enginetest.SameFiles(t, one, moved)
	waitUntilAPI(t, "multi's data deleted", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(d.Dirs.Download, "multi", "a.bin"))
		return os.IsNotExist(err)
	})
}

// TestQBittorrentTags drives qBittorrent's tags, which are Lodestone's
// labels: created tags are listed before any task has them and survive a
// restart; addTags/removeTags change the tasks' labels; deleteTags
// removes a tag from the list and from every task.
func TestQBittorrentTags(t *testing.T) {
	a := enginetest.Generate(t, enginetest.Content{Name: "tag-a.bin", Size: 3000, Seed: 91})
	b := enginetest.Generate(t, enginetest.Content{Name: "tag-b.bin", Size: 3000, Seed: 92})
	d := daemontest.Start(t, daemontest.Options{})
	ws := d.Client(t)
	c := newQB(t, d)
	c.login()
	if code, body := c.upload(map[string]string{"stopped": "true", "tags": "keep"}, map[string][]byte{"a.torrent": a.MetaInfo, "b.torrent": b.MetaInfo}); code != http.StatusOK || body != "Ok." {
		t.Fatalf("upload: %d %q", code, body)
	}
	tags := func() []string {
		var v []string
		c.getJSON("torrents/tags", nil, &v)
		return v
	}
	labels := func(id string) []string { return stateOf(t, ws, id).Labels }
	// sync/maindata's full update lists the same tags.
	syncTags := func() []string {
		var v struct {
			Tags []string `json:"tags"`
		}
		c.getJSON("sync/maindata?rid=0", nil, &v)
		return v.Tags
	}

	c.want("torrents/createTags", url.Values{}, http.StatusBadRequest, "Missing required parameters: tags")
	c.ok("torrents/createTags", url.Values{"tags": {"alpha, beta,,gamma," + strings.Repeat("x", 65)}})
	if got := tags(); !slices.Equal(got, []string{"alpha", "beta", "gamma", "keep"}) {
		t.Errorf("tags after createTags: %q", got)
	}
	if got := syncTags(); !slices.Equal(got, []string{"alpha", "beta", "gamma", "keep"}) {
		t.Errorf("sync/maindata's tags after createTags: %q", got)
	}
	c.ok("torrents/addTags", url.Values{"hashes": {a.InfoHash + "|" + b.InfoHash}, "tags": {"alpha,fresh"}})
	if la, lb := labels(a.InfoHash), labels(b.InfoHash); !slices.Equal(la, []string{"keep", "alpha", "fresh"}) || !slices.Equal(lb, la) {
		t.Errorf("labels after addTags: %q, %q", la, lb)
	}
	c.ok("torrents/removeTags", url.Values{"hashes": {a.InfoHash}, "tags": {"alpha"}})
	c.ok("torrents/removeTags", url.Values{"hashes": {b.InfoHash}})
	if la, lb := labels(a.InfoHash), labels(b.InfoHash); !slices.Equal(la, []string{"keep", "fresh"}) || len(lb) != 0 {
		t.Errorf("labels after removeTags: %q, %q", la, lb)
	}
	c.ok("torrents/deleteTags", url.Values{"tags": {"beta,fresh"}})
	if got, la := tags(), labels(a.InfoHash); !slices.Equal(got, []string{"alpha", "gamma", "keep"}) || !slices.Equal(la, []string{"keep"}) {
		t.Errorf("after deleteTags: tags %q, labels of a %q", got, la)
	}
	c.want("torrents/addTags", url.Values{"hashes": {a.InfoHash}}, http.StatusBadRequest, "Missing required parameters: tags")

	// Created tags are kept in the store.
	dirs := d.Dirs
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c = newQB(t, d)
	c.login()
	if got := tags(); !slices.Equal(got, []string{"alpha", "gamma", "keep"}) {
		t.Errorf("tags after a restart: %q", got)
	}
	if got := syncTags(); !slices.Equal(got, []string{"alpha", "gamma", "keep"}) {
		t.Errorf("sync/maindata's tags after a restart: %q", got)
	}
}

// TestQBittorrentCategories drives qBittorrent's categories over
// Lodestone's: create (with qBittorrent's checks and answers), edit, list,
// remove; a torrent added in a category downloads into its save path, one
// added in an unknown category creates it, and setCategory moves a task's
// data into its new category's directory.
func TestQBittorrentCategories(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	tr := enginetest.Generate(t, enginetest.Content{Name: "qb-cat.bin", Size: 400_009, Seed: 101, Trackers: []string{tracker.URL}})
	idle := enginetest.Generate(t, enginetest.Content{Name: "cat-idle.bin", Size: 3000, Seed: 102})
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	ws := d.Client(t)
	c := newQB(t, d)
	c.login()
	dl := d.Dirs.Download
	type category struct {
		Name         string  `json:"name"`
		SavePath     string  `json:"savePath"`
		DownloadPath *string `json:"download_path"`
	}
	categories := func() map[string]category {
		var v map[string]category
		c.getJSON("torrents/categories", nil, &v)
		return v
	}

	c.want("torrents/createCategory", url.Values{"savePath": {dl}}, http.StatusBadRequest, "Missing required parameters: category")
	c.want("torrents/createCategory", url.Values{"category": {""}}, http.StatusBadRequest, "Category cannot be empty")
	c.want("torrents/createCategory", url.Values{"category": {"a//b"}}, http.StatusConflict, "Incorrect category name")
	c.ok("torrents/createCategory", url.Values{"category": {"tv"}, "savePath": {filepath.Join(dl, "tv")}})
	c.want("torrents/createCategory", url.Values{"category": {"tv"}}, http.StatusConflict, "Unable to create category")
	if body := c.want("torrents/createCategory", url.Values{"category": {"elsewhere"}, "savePath": {t.TempDir()}}, http.StatusConflict, "*"); !strings.HasPrefix(body, "Unable to create category") {
		t.Errorf("createCategory outside the roots: %q", body)
	}
	c.ok("torrents/createCategory", url.Values{"category": {"films/hd"}, "savePath": {filepath.Join(dl, "films")},
		"downloadPathEnabled": {"true"}, "downloadPath": {filepath.Join(dl, "incoming")}})
	c.ok("torrents/editCategory", url.Values{"category": {"tv"}, "savePath": {filepath.Join(dl, "tv2")}})
	c.want("torrents/editCategory", url.Values{"category": {"nope"}, "savePath": {dl}}, http.StatusConflict, "Unable to edit category")
	c.want("torrents/editCategory", url.Values{"category": {"tv"}}, http.StatusBadRequest, "Missing required parameters: savePath")
	got := categories()
	films := got["films/hd"]
	if len(got) != 2 || got["tv"] != (category{Name: "tv", SavePath: filepath.Join(dl, "tv2")}) ||
		films.SavePath != filepath.Join(dl, "films") || films.DownloadPath == nil || *films.DownloadPath != filepath.Join(dl, "incoming") {
		t.Errorf("torrents/categories: %+v", got)
	}

	// Added in a category: downloads into its save path.
	if code, body := c.upload(map[string]string{"category": "tv"}, map[string][]byte{"cat.torrent": tr.MetaInfo}); code != http.StatusOK || body != "Ok." {
		t.Fatalf("upload in tv: %d %q", code, body)
	}
	tk := waitTask(t, ws, tr.InfoHash, "downloaded in its category", 90*time.Second, complete)
	if tk.Category != "tv" || tk.DownloadDir != filepath.Join(dl, "tv2") {
		t.Errorf("task added in tv: category %q, dir %s", tk.Category, tk.DownloadDir)
	}
	enginetest.SameFiles(t, tr, filepath.Join(dl, "tv2"))
	// Added in an unknown category: it is created, with the default
	// save path.
	c.want("torrents/add", url.Values{"urls": {idle.Magnet(nil)}, "category": {"fresh"}, "stopped": {"true"}}, http.StatusOK, "Ok.")
	if tk := stateOf(t, ws, idle.InfoHash); tk.Category != "fresh" {
		t.Errorf("task added in an unknown category: category %q", tk.Category)
	}
	if _, ok := categories()["fresh"]; !ok {
		t.Error("the unknown category of an add was not created")
	}

	// setCategory: unknown is 409; "" leaves the category, the data
	// stays; another category moves the data there.
	c.want("torrents/setCategory", url.Values{"hashes": {tr.InfoHash}, "category": {"nope"}}, http.StatusConflict, "Incorrect category name")
	c.want("torrents/setCategory", url.Values{"hashes": {tr.InfoHash}}, http.StatusBadRequest, "Missing required parameters: category")
	c.ok("torrents/setCategory", url.Values{"hashes": {tr.InfoHash + "|" + idle.InfoHash}, "category": {""}})
	if a, b := stateOf(t, ws, tr.InfoHash), stateOf(t, ws, idle.InfoHash); a.Category != "" || b.Category != "" || a.DownloadDir != filepath.Join(dl, "tv2") {
		t.Errorf("after setCategory \"\": %q in %s, %q", a.Category, a.DownloadDir, b.Category)
	}
	c.ok("torrents/createCategory", url.Values{"category": {"moved"}, "savePath": {filepath.Join(dl, "moved")}})
	c.ok("torrents/setCategory", url.Values{"hashes": {tr.InfoHash}, "category": {"moved"}})
	if tk := stateOf(t, ws, tr.InfoHash); tk.Category != "moved" || tk.DownloadDir != filepath.Join(dl, "moved") {
		t.Errorf("after setCategory moved: %q in %s", tk.Category, tk.DownloadDir)
	}
	enginetest.SameFiles(t, tr, filepath.Join(dl, "moved"))

	// removeCategories: unknown names are ignored; the tasks leave it.
	c.want("torrents/removeCategories", url.Values{}, http.StatusBadRequest, "Missing required parameters: categories")
	c.ok("torrents/removeCategories", url.Values{"categories": {"moved\nnope\n\ntv"}})
	if got := categories(); len(got) != 2 {
		t.Errorf("after removeCategories: %+v", got)
	}
	if tk := stateOf(t, ws, tr.InfoHash); tk.Category != "" || tk.DownloadDir != filepath.Join(dl, "moved") {
		t.Errorf("task of a removed category: %q in %s", tk.Category, tk.DownloadDir)
	}
}

// TestQBittorrentQueue checks topPrio and friends: 409 "Torrent queueing
// must be enabled" while Lodestone's queue is off (no download or seed
// limit), as Sonarr expects; with it on, they reorder the queue, several
// tasks keeping their order among themselves.
func TestQBittorrentQueue(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	ws := d.Client(t)
	c := newQB(t, d)
	c.login()
	var ids []string
	for i := range 3 {
		tr := enginetest.Generate(t, enginetest.Content{Name: "queue-" + string(rune('a'+i)) + ".bin", Size: 3000, Seed: uint64(110 + i)})
		if code, body := c.upload(map[string]string{"stopped": "true"}, map[string][]byte{"q.torrent": tr.MetaInfo}); code != http.StatusOK || body != "Ok." {
			t.Fatalf("upload: %d %q", code, body)
		}
		ids = append(ids, tr.InfoHash)
	}
	a, b, cc := ids[0], ids[1], ids[2]
	order := func() []string {
		tasks := listTasks(t, ws)
		slices.SortFunc(tasks, func(x, y api.Task) int { return x.QueuePosition - y.QueuePosition })
		var out []string
		for i, tk := range tasks {
			if tk.QueuePosition != i {
				t.Fatalf("queue positions are not 0..n-1: %+v", tasks)
			}
			out = append(out, tk.TaskID)
		}
		return out
	}
	if got := order(); !slices.Equal(got, []string{a, b, cc}) {
		t.Fatalf("initial order: %q", got)
	}

	zero := 0
	if _, err := ws.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{MaxActiveDownloads: &zero, MaxActiveSeeds: &zero}); err != nil {
		t.Fatal(err)
	}
	c.want("torrents/topPrio", url.Values{}, http.StatusBadRequest, "Missing required parameters: hashes")
	for _, ep := range []string{"torrents/topPrio", "torrents/bottomPrio", "torrents/increasePrio", "torrents/decreasePrio"} {
		c.want(ep, url.Values{"hashes": {cc}}, http.StatusConflict, "Torrent queueing must be enabled")
	}
	if got := order(); !slices.Equal(got, []string{a, b, cc}) {
		t.Fatalf("order after refused moves: %q", got)
	}

	two := 2
	if _, err := ws.SetSettings(ctxT(t, 10*time.Second), api.SessionSetParams{MaxActiveDownloads: &two}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		ep, hashes string
		want       []string
	}{
		{"torrents/topPrio", cc + "|" + b, []string{b, cc, a}},
		{"torrents/bottomPrio", b + "|" + noTask, []string{cc, a, b}},
		{"torrents/increasePrio", a + "|" + b, []string{a, b, cc}},
		{"torrents/decreasePrio", strings.ToUpper(a) + "|" + b, []string{cc, a, b}},
		{"torrents/bottomPrio", "all", []string{cc, a, b}},
	} {
		c.ok(step.ep, url.Values{"hashes": {step.hashes}})
		if got := order(); !slices.Equal(got, step.want) {
			t.Errorf("%s %s: order %q, want %q", step.ep, step.hashes, got, step.want)
		}
	}
}

// TestQBittorrentShareLimits checks seeding limits as Sonarr sets them:
// on add and with setShareLimits (minutes; -2 the session's, -1 none) they
// show in the task's limits (seconds), and a seeding time limit of 0 makes
// a seeding task in a real swarm stop seeding. reannounce reaches the
// tracker.
func TestQBittorrentShareLimits(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	tr := enginetest.Generate(t, enginetest.Content{Name: "qb-share.bin", Size: 300_007, Seed: 121, Trackers: []string{tracker.URL}})
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	ws := d.Client(t)
	c := newQB(t, d)
	c.login()

	c.want("torrents/add", url.Values{"urls": {tr.Magnet(nil, tracker.URL)}, "ratioLimit": {"abc"}}, http.StatusBadRequest, "*")
	if code, body := c.upload(map[string]string{"ratioLimit": "1.5", "seedingTimeLimit": "60", "inactiveSeedingTimeLimit": "-1"},
		map[string][]byte{"share.torrent": tr.MetaInfo}); code != http.StatusOK || body != "Ok." {
		t.Fatalf("upload: %d %q", code, body)
	}
	tk := waitTask(t, ws, tr.InfoHash, "downloaded and seeding", 90*time.Second, func(tk api.Task) bool {
		return complete(tk) && tk.State == api.StateSeeding
	})
	if tk.SeedRatioLimit != 1.5 || tk.SeedTimeLimit != 3600 || tk.SeedIdleLimit != api.SeedLimitNone {
		t.Errorf("limits after add: ratio %v, time %d, idle %d", tk.SeedRatioLimit, tk.SeedTimeLimit, tk.SeedIdleLimit)
	}

	// reannounce: the tracker hears from the task again.
	before := tracker.Announces()
	c.ok("torrents/reannounce", url.Values{"hashes": {tr.InfoHash}})
	waitUntilAPI(t, "a reannounce", 30*time.Second, func() bool { return tracker.Announces() > before })

	// As Sonarr sends it: no inactiveSeedingTimeLimit, which stays.
	c.want("torrents/setShareLimits", url.Values{"hashes": {tr.InfoHash}, "ratioLimit": {"2"}}, http.StatusBadRequest, "Missing required parameters: seedingTimeLimit")
	c.want("torrents/setShareLimits", url.Values{"hashes": {tr.InfoHash}, "ratioLimit": {"x"}, "seedingTimeLimit": {"-2"}}, http.StatusBadRequest, "*")
	c.ok("torrents/setShareLimits", url.Values{"hashes": {tr.InfoHash}, "ratioLimit": {"-5"}, "seedingTimeLimit": {"-2"}})
	tk = stateOf(t, ws, tr.InfoHash)
	if tk.SeedRatioLimit != api.SeedLimitNone || tk.SeedTimeLimit != api.SeedLimitSession || tk.SeedIdleLimit != api.SeedLimitNone {
		t.Errorf("limits after setShareLimits -5/-2: ratio %v, time %d, idle %d", tk.SeedRatioLimit, tk.SeedTimeLimit, tk.SeedIdleLimit)
	}
	// A seeding time limit of 0: it has seeded long enough and stops.
	c.ok("torrents/setShareLimits", url.Values{"hashes": {tr.InfoHash}, "ratioLimit": {"-1"}, "seedingTimeLimit": {"0"}, "inactiveSeedingTimeLimit": {"-2"}})
	tk = waitTask(t, ws, tr.InfoHash, "seeding stopped by its limit", 30*time.Second, func(tk api.Task) bool { return tk.State == api.StateFinished })
	if tk.SeedTimeLimit != 0 || tk.SeedIdleLimit != api.SeedLimitSession {
		t.Errorf("limits after setShareLimits -1/0/-2: time %d, idle %d", tk.SeedTimeLimit, tk.SeedIdleLimit)
	}
	// A finished task has nothing to announce: skipped, not an error.
	c.ok("torrents/reannounce", url.Values{"hashes": {tr.InfoHash}})
}
