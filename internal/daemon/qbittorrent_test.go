package daemon_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/qbittorrent"
)

// qbClient is a client of the qBittorrent API as qBittorrent's own
// clients behave: a cookie jar for the SID.
type qbClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newQB(t *testing.T, d *daemontest.Daemon) *qbClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &qbClient{t: t, base: "http://" + d.APIAddr() + qbittorrent.Prefix, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// do sends one request to endpoint (e.g. "auth/login"): a form POST when
// form is not nil, else a GET. edit may change the request before it is
// sent. It returns the status and body.
func (c *qbClient) do(endpoint string, form url.Values, edit func(*http.Request)) (int, string) {
	c.t.Helper()
	method, body := http.MethodGet, io.Reader(nil)
	if form != nil {
		method, body = http.MethodPost, strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctxT(c.t, 30*time.Second), method, c.base+endpoint, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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
	return resp.StatusCode, string(b)
}

// login logs in with the daemon's token.
func (c *qbClient) login() {
	c.t.Helper()
	if code, body := c.do("auth/login", url.Values{"username": {"admin"}, "password": {daemontest.Token}}, nil); code != http.StatusOK || body != "Ok." {
		c.t.Fatalf("login: %d %q", code, body)
	}
}

// TestQBittorrentAuth checks the qBittorrent API's gates as qBittorrent
// answers them: 403 "Forbidden" before login (which is how Sonarr tells
// it must log in), "Fails." for a wrong password and a ban after many, a
// SID cookie or a bearer token after, qBittorrent's CSRF rule, the Host
// gate, POST-only changes, and logout.
func TestQBittorrentAuth(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newQB(t, d)

	if code, body := c.do("app/webapiVersion", nil, nil); code != http.StatusForbidden || body != "Forbidden" {
		t.Fatalf("webapiVersion before login: %d %q, want 403 Forbidden", code, body)
	}
	if code, body := c.do("auth/login", url.Values{"username": {"admin"}, "password": {"wrong"}}, nil); code != http.StatusOK || body != "Fails." {
		t.Fatalf("wrong password: %d %q, want 200 Fails.", code, body)
	}
	if code, body := c.do("auth/login", url.Values{"username": {"admin"}, "password": {daemontest.Token}}, nil); code != http.StatusOK || body != "Ok." {
		t.Fatalf("right password: %d %q", code, body)
	}
	u, _ := url.Parse(c.base)
	var sid string
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == qbittorrent.SIDCookie {
			sid = ck.Value
		}
	}
	if sid == "" {
		t.Fatal("login set no SID cookie")
	}
	if code, body := c.do("app/webapiVersion", nil, nil); code != http.StatusOK || body != qbittorrent.WebAPIVersion {
		t.Fatalf("webapiVersion after login: %d %q", code, body)
	}
	if code, body := c.do("app/version", nil, nil); code != http.StatusOK || !strings.HasPrefix(body, "v") {
		t.Fatalf("app/version: %d %q", code, body)
	}

	// qBittorrent's CSRF rule: a foreign Origin or Referer is refused
	// even with the session cookie.
	for _, h := range []string{"Origin", "Referer"} {
		code, _ := c.do("auth/logout", url.Values{}, func(r *http.Request) { r.Header.Set(h, "http://evil.example/x") })
		if code != http.StatusUnauthorized {
			t.Errorf("logout with a foreign %s: %d, want 401", h, code)
		}
	}
	// A same-host Referer passes.
	if code, _ := c.do("app/version", nil, func(r *http.Request) { r.Header.Set("Referer", "http://"+d.APIAddr()+"/") }); code != http.StatusOK {
		t.Errorf("same-host Referer: %d, want 200", code)
	}
	// A name rebound to the daemon is refused by the Host gate.
	if code, _ := c.do("app/version", nil, func(r *http.Request) { r.Host = "evil.example" }); code != http.StatusForbidden {
		t.Errorf("rebound Host: %d, want 403", code)
	}
	if code, _ := c.do("auth/logout", nil, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("GET auth/logout: %d, want 405", code)
	}
	if code, _ := c.do("no/such", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d, want 404", code)
	}

	// A bearer token passes without a session; a wrong one does not.
	bare := &qbClient{t: t, base: c.base, http: &http.Client{Timeout: 30 * time.Second}}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if code, _ := bare.do("app/version", nil, bearer(daemontest.Token)); code != http.StatusOK {
		t.Errorf("bearer token: %d, want 200", code)
	}
	if code, _ := bare.do("app/version", nil, bearer("wrong")); code != http.StatusForbidden {
		t.Errorf("wrong bearer token: %d, want 403", code)
	}

	// Logout ends the session: the old SID no longer works.
	if code, _ := c.do("auth/logout", url.Values{}, nil); code != http.StatusOK {
		t.Fatalf("logout: %d", code)
	}
	old := func(r *http.Request) { r.AddCookie(&http.Cookie{Name: qbittorrent.SIDCookie, Value: sid}) }
	if code, _ := bare.do("app/version", nil, old); code != http.StatusForbidden {
		t.Errorf("SID after logout: %d, want 403", code)
	}

	// Wrong passwords in a row end in qBittorrent's ban message.
	var banned bool
	for range 30 {
		code, body := bare.do("auth/login", url.Values{"username": {"admin"}, "password": {"guess"}}, nil)
		if code == http.StatusForbidden && strings.Contains(body, "banned") {
			banned = true
			break
		}
		if code != http.StatusOK || body != "Fails." {
			t.Fatalf("wrong password: %d %q", code, body)
		}
	}
	if !banned {
		t.Error("30 wrong passwords in a row were never banned")
	}
}

// query GETs endpoint with query and decodes the 200 answer into v.
func (c *qbClient) query(endpoint string, query url.Values, v any) {
	c.t.Helper()
	if query != nil {
		endpoint += "?" + query.Encode()
	}
	code, body := c.do(endpoint, nil, nil)
	if code != http.StatusOK {
		c.t.Fatalf("%s: %d %q", endpoint, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		c.t.Fatalf("%s: %v in %q", endpoint, err, body)
	}
}

// info lists torrents/info with query.
func (c *qbClient) info(query url.Values) []map[string]any {
	c.t.Helper()
	var list []map[string]any
	c.query("torrents/info", query, &list)
	return list
}

// hashesOf returns the hashes of a torrents/info answer.
func hashesOf(list []map[string]any) []string {
	var out []string
	for _, o := range list {
		out = append(out, o["hash"].(string))
	}
	slices.Sort(out)
	return out
}

// maindata is one sync/maindata answer.
type maindata struct {
	RID         int                       `json:"rid"`
	FullUpdate  bool                      `json:"full_update"`
	Torrents    map[string]map[string]any `json:"torrents"`
	Removed     []string                  `json:"torrents_removed"`
	Tags        []string                  `json:"tags"`
	TagsRemoved []string                  `json:"tags_removed"`
	Categories  map[string]map[string]any `json:"categories"`
	CatsRemoved []string                  `json:"categories_removed"`
	Trackers    map[string][]string       `json:"trackers"`
	TrRemoved   []string                  `json:"trackers_removed"`
	ServerState map[string]any            `json:"server_state"`
}

func (c *qbClient) maindata(rid int) maindata {
	c.t.Helper()
	var m maindata
	c.query("sync/maindata", url.Values{"rid": {strconv.Itoa(rid)}}, &m)
	if m.RID == 0 {
		c.t.Fatalf("maindata without a rid: %+v", m)
	}
	return m
}

// TestQBittorrentReads drives the read endpoints through a real
// download from a loopback seeder: torrents/info with each filter as the
// task goes stopped → downloading → seeding, tags and category filters,
// sort and paging; properties, files, trackers (the pseudo trackers
// first), pieceStates and webseeds, with qBittorrent's 400 and 404; app
// and transfer reads; sync/maindata full then deltas (a new torrent
// whole with its tracker, a progress change as a partial object with
// only the changed fields, a removal in torrents_removed and
// trackers_removed, a category's removal, a rid from the future answered
// in full) and sync/torrentPeers with the seeder listed.
func TestQBittorrentReads(t *testing.T) {
	// A slow seeder (3 MB in some 6 s), so the task is seen downloading.
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{UploadRate: 512 << 10})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	tr := enginetest.Generate(t, enginetest.Content{Name: "qb.bin", Size: 3_000_017, Seed: 71, Trackers: []string{tracker.URL}})
	other := enginetest.Generate(t, enginetest.MultiFile(72))
	seeder.Seed(t, tr)
	seeder.Seed(t, other)
	d := daemontest.Start(t, daemontest.Options{})
	wc := d.Client(t)
	c := newQB(t, d)
	c.login()

	// Nothing yet: a full update with no torrents and the server state.
	m0 := c.maindata(0)
	if !m0.FullUpdate || len(m0.Torrents) != 0 || m0.ServerState["connection_status"] != "connected" {
		t.Fatalf("first maindata: %+v", m0)
	}
	if _, ok := m0.ServerState["dl_info_speed"]; !ok {
		t.Errorf("server_state without dl_info_speed: %v", m0.ServerState)
	}

	ctx := ctxT(t, 30*time.Second)
	res, err := wc.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(tr.MetaInfo), Paused: true, Labels: []string{"tv"}})
	if err != nil {
		t.Fatal(err)
	}
	hash := res.TaskID
	if _, err := wc.SetCategory(ctx, api.Category{Name: "films"}); err != nil {
		t.Fatal(err)
	}
	res2, err := wc.AddTask(ctx, api.TaskAddParams{Type: api.TaskTypeTorrent, Data: base64.StdEncoding.EncodeToString(other.MetaInfo), Paused: true, Category: "films"})
	if err != nil {
		t.Fatal(err)
	}
	hash2 := res2.TaskID

	// The delta from the empty state has both torrents whole, the tag
	// and the category.
	m1 := c.maindata(m0.RID)
	if m1.FullUpdate || len(m1.Torrents) != 2 || m1.Torrents[hash]["name"] != "qb.bin" || m1.Torrents[hash]["state"] != "stoppedDL" ||
		m1.Torrents[hash]["tags"] != "tv" || !slices.Equal(m1.Tags, []string{"tv"}) || m1.Torrents[hash2]["category"] != "films" ||
		m1.Categories["films"]["name"] != "films" || m1.Categories["films"]["savePath"] == nil ||
		!slices.Equal(m1.Trackers[tracker.URL], []string{hash}) {
		t.Fatalf("maindata after adding: %+v", m1)
	}
	if _, ok := m1.Torrents[hash]["hash"]; ok {
		t.Error("maindata's torrent objects carry hash: it is their key")
	}

	// Stopped: in stopped, downloading (qBittorrent counts stoppedDL
	// there), not in completed, seeding or active.
	for filter, want := range map[string][]string{
		"all": {hash, hash2}, "stopped": {hash, hash2}, "paused": {hash, hash2}, "downloading": {hash, hash2},
		"completed": nil, "seeding": nil, "active": nil, "running": nil, "errored": nil,
	} {
		slices.Sort(want)
		if got := hashesOf(c.info(url.Values{"filter": {filter}})); !slices.Equal(got, want) {
			t.Errorf("filter=%s while stopped: %v, want %v", filter, got, want)
		}
	}
	if got := hashesOf(c.info(url.Values{"tag": {"tv"}})); !slices.Equal(got, []string{hash}) {
		t.Errorf("tag=tv: %v", got)
	}
	if got := hashesOf(c.info(url.Values{"tag": {""}})); !slices.Equal(got, []string{hash2}) {
		t.Errorf("tag= (untagged): %v", got)
	}
	if got := hashesOf(c.info(url.Values{"category": {"films"}})); !slices.Equal(got, []string{hash2}) {
		t.Errorf("category=films: %v", got)
	}
	if got := hashesOf(c.info(url.Values{"category": {""}})); !slices.Equal(got, []string{hash}) {
		t.Errorf("category= (none): %v", got)
	}
	if got := c.info(url.Values{"sort": {"name"}, "reverse": {"true"}, "limit": {"1"}}); len(got) != 1 || got[0]["name"] != "qb.bin" {
		t.Errorf("sort=name reverse limit=1: %v", hashesOf(got))
	}
	if code, body := c.do("torrents/info?sort=bogus", nil, nil); code != http.StatusBadRequest || body != "'sort' parameter is invalid" {
		t.Errorf("bad sort: %d %q", code, body)
	}

	// A task limit shows in dl_limit (and is lifted below).
	slow := int64(1 << 20)
	if _, err := wc.SetTask(ctx, api.TaskSetParams{TaskID: hash, DownloadRateLimit: &slow}); err != nil {
		t.Fatal(err)
	}
	if err := wc.ResumeTask(ctx, hash); err != nil {
		t.Fatal(err)
	}
	var peers struct {
		RID        int                       `json:"rid"`
		FullUpdate bool                      `json:"full_update"`
		Peers      map[string]map[string]any `json:"peers"`
	}
	waitUntilAPI(t, "the seeder in sync/torrentPeers", 30*time.Second, func() bool {
		c.query("sync/torrentPeers", url.Values{"hash": {hash}, "rid": {"0"}}, &peers)
		// Its progress once its bitfield has come.
		return peers.Peers[seeder.Addr]["progress"] == 1.0
	})
	if p := peers.Peers[seeder.Addr]; !peers.FullUpdate || p["ip"] != "127.0.0.1" || p["connection"] != "BT" || p["progress"] != 1.0 {
		t.Errorf("torrentPeers: %+v", peers)
	}
	// With that rid: a delta, the seeder's unchanged fields left out.
	var peers2 struct {
		RID        int                       `json:"rid"`
		FullUpdate bool                      `json:"full_update"`
		Peers      map[string]map[string]any `json:"peers"`
	}
	c.query("sync/torrentPeers", url.Values{"hash": {hash}, "rid": {strconv.Itoa(peers.RID)}}, &peers2)
	if _, ok := peers2.Peers[seeder.Addr]["ip"]; peers2.FullUpdate || ok || peers2.RID == peers.RID {
		t.Errorf("torrentPeers delta: %+v", peers2)
	}
	if got := hashesOf(c.info(url.Values{"filter": {"running"}})); !slices.Equal(got, []string{hash}) {
		t.Errorf("filter=running while downloading: %v", got)
	}
	if got := hashesOf(c.info(url.Values{"filter": {"downloading"}, "hashes": {strings.ToUpper(hash)}})); !slices.Equal(got, []string{hash}) {
		t.Errorf("filter=downloading, hashes in upper case: %v", got)
	}
	// Downloading (past any check of the data on disk), the seeder
	// counted.
	var mid map[string]any
	waitUntilAPI(t, "qb.bin downloading from the seeder", 30*time.Second, func() bool {
		mid = c.info(url.Values{"hashes": {hash}})[0]
		st := mid["state"]
		return (st == "downloading" || st == "stalledDL") && mid["num_seeds"].(float64) >= 1
	})
	if mid["trackers_count"] != 1.0 || mid["dl_limit"] != float64(slow) || mid["progress"].(float64) >= 1 {
		t.Errorf("while downloading: trackers_count %v dl_limit %v progress %v", mid["trackers_count"], mid["dl_limit"], mid["progress"])
	}
	mMid := c.maindata(m1.RID)

	// Lift the limit; wait for it to finish.
	var none int64
	if _, err := wc.SetTask(ctx, api.TaskSetParams{TaskID: hash, DownloadRateLimit: &none}); err != nil {
		t.Fatal(err)
	}
	waitUntilAPI(t, "qb.bin completed", 60*time.Second, func() bool {
		return slices.Equal(hashesOf(c.info(url.Values{"filter": {"completed"}})), []string{hash})
	})
	done := c.info(url.Values{"hashes": {hash}})[0]
	if done["progress"] != 1.0 || done["amount_left"] != 0.0 || done["size"] != 3_000_017.0 || done["total_size"] != 3_000_017.0 ||
		done["save_path"] != d.Dirs.Download || done["content_path"] != d.Dirs.Download+"/qb.bin" || done["completion_on"].(float64) <= 0 ||
		done["eta"] != 8640000.0 || done["infohash_v1"] != hash || done["tracker"] != tracker.URL && done["tracker"] != "" {
		t.Errorf("completed torrent: %v", done)
	}
	if st := done["state"]; st != "uploading" && st != "stalledUP" {
		t.Errorf("state when complete: %v", st)
	}
	// The facts: not private, the session's limits (-2), queue position
	// 0 once complete and 1-based for the incomplete one.
	if done["private"] != false || done["ratio_limit"] != -2.0 || done["seeding_time_limit"] != -2.0 || done["priority"] != 0.0 {
		t.Errorf("completed torrent: private %v ratio_limit %v seeding_time_limit %v priority %v", done["private"], done["ratio_limit"], done["seeding_time_limit"], done["priority"])
	}
	if p := c.info(url.Values{"hashes": {hash2}})[0]["priority"]; p != 2.0 {
		t.Errorf("priority of the second, incomplete task: %v, want 2", p)
	}
	for filter, want := range map[string][]string{"seeding": {hash}, "completed": {hash}, "stopped": {hash2}, "downloading": {hash2}} {
		if got := hashesOf(c.info(url.Values{"filter": {filter}})); !slices.Equal(got, want) {
			t.Errorf("filter=%s when complete: %v, want %v", filter, got, want)
		}
	}

	// The delta since mid-download: this torrent's changed fields only;
	// the other, unchanged, is not there.
	m2 := c.maindata(mMid.RID)
	if m2.FullUpdate {
		t.Fatalf("maindata delta came as a full update: %+v", m2)
	}
	delta := m2.Torrents[hash]
	if delta["progress"] != 1.0 || delta["amount_left"] != 0.0 {
		t.Errorf("delta of the completed torrent: %v", delta)
	}
	for _, k := range []string{"name", "save_path", "total_size", "tags", "infohash_v1"} {
		if _, ok := delta[k]; ok {
			t.Errorf("delta carries the unchanged field %s: %v", k, delta)
		}
	}
	if _, ok := m2.Torrents[hash2]; ok {
		t.Errorf("delta carries the unchanged torrent: %v", m2.Torrents[hash2])
	}

	// properties, files, trackers, pieceStates, webseeds.
	var props map[string]any
	c.query("torrents/properties", url.Values{"hash": {hash}}, &props)
	if props["hash"] != hash || props["name"] != "qb.bin" || props["total_size"] != 3_000_017.0 || props["pieces_num"].(float64) < 1 ||
		props["pieces_have"] != props["pieces_num"] || props["save_path"] != d.Dirs.Download || props["total_downloaded"].(float64) < 3_000_017 ||
		props["addition_date"].(float64) <= 0 || props["completion_date"].(float64) <= 0 || props["has_metadata"] != true {
		t.Errorf("properties: %v", props)
	}
	var files []map[string]any
	c.query("torrents/files", url.Values{"hash": {hash}}, &files)
	if len(files) != 1 || files[0]["name"] != "qb.bin" || files[0]["size"] != 3_000_017.0 || files[0]["progress"] != 1.0 ||
		files[0]["priority"] != 1.0 || files[0]["is_seed"] != true || files[0]["index"] != 0.0 {
		t.Errorf("files: %v", files)
	}
	c.query("torrents/files", url.Values{"hash": {hash2}}, &files)
	if len(files) != 5 || files[1]["name"] != "multi/dir/b.bin" || files[1]["progress"] != 0.0 {
		t.Errorf("files of the multi-file torrent: %v", files)
	}
	c.query("torrents/files", url.Values{"hash": {hash2}, "indexes": {"4|0"}}, &files)
	if len(files) != 2 || files[0]["index"] != 4.0 || files[1]["index"] != 0.0 {
		t.Errorf("files with indexes=4|0: %v", files)
	}
	if code, body := c.do("torrents/files?hash="+hash2+"&indexes=9", nil, nil); code != http.StatusConflict || !strings.Contains(body, "out of bounds") {
		t.Errorf("files with an index out of bounds: %d %q", code, body)
	}
	var trackers []map[string]any
	c.query("torrents/trackers", url.Values{"hash": {hash}}, &trackers)
	if len(trackers) != 4 || trackers[0]["url"] != "** [DHT] **" || trackers[1]["url"] != "** [PeX] **" || trackers[2]["url"] != "** [LSD] **" ||
		trackers[0]["status"] != 0.0 || trackers[3]["url"] != tracker.URL {
		t.Errorf("trackers: %v", trackers)
	}
	var pieces []int
	c.query("torrents/pieceStates", url.Values{"hash": {hash}}, &pieces)
	if len(pieces) != int(props["pieces_num"].(float64)) || slices.ContainsFunc(pieces, func(p int) bool { return p != 2 }) {
		t.Errorf("pieceStates of a complete torrent: %v", pieces)
	}
	var seeds []any
	c.query("torrents/webseeds", url.Values{"hash": {hash}}, &seeds)
	if len(seeds) != 0 {
		t.Errorf("webseeds: %v", seeds)
	}
	for _, ep := range []string{"torrents/properties", "torrents/files", "torrents/trackers", "torrents/pieceStates", "torrents/webseeds", "sync/torrentPeers"} {
		if code, body := c.do(ep+"?hash=0000000000000000000000000000000000000000", nil, nil); code != http.StatusNotFound || body != "Not Found" {
			t.Errorf("%s of an unknown hash: %d %q, want 404 Not Found", ep, code, body)
		}
	}
	if code, body := c.do("torrents/properties", nil, nil); code != http.StatusBadRequest || body != "Missing required parameters: hash" {
		t.Errorf("properties without hash: %d %q", code, body)
	}
	if code, body := c.do("torrents/count", nil, nil); code != http.StatusOK || body != "2" {
		t.Errorf("count: %d %q", code, body)
	}

	// app and transfer reads, and the limits set through them.
	var prefs map[string]any
	c.query("app/preferences", nil, &prefs)
	if prefs["save_path"] != d.Dirs.Download || prefs["max_ratio_enabled"] != false || prefs["dht"] != false || prefs["queueing_enabled"] == nil {
		t.Errorf("preferences: save_path %v max_ratio_enabled %v dht %v", prefs["save_path"], prefs["max_ratio_enabled"], prefs["dht"])
	}
	if code, _ := c.do("app/setPreferences", url.Values{"json": {`{"max_ratio_enabled":true,"max_ratio":1.5,"max_seeding_time_enabled":true,"max_seeding_time":60,"up_limit":2048,"locale":"fr"}`}}, nil); code != http.StatusOK {
		t.Fatalf("setPreferences: %d", code)
	}
	c.query("app/preferences", nil, &prefs)
	if prefs["max_ratio_enabled"] != true || prefs["max_ratio"] != 1.5 || prefs["max_seeding_time"] != 60.0 || prefs["up_limit"] != 2048.0 {
		t.Errorf("preferences after setPreferences: %v %v %v %v", prefs["max_ratio_enabled"], prefs["max_ratio"], prefs["max_seeding_time"], prefs["up_limit"])
	}
	if code, body := c.do("app/setPreferences", url.Values{"json": {"{not json"}}, nil); code != http.StatusBadRequest {
		t.Errorf("setPreferences with bad json: %d %q", code, body)
	}
	if code, _ := c.do("transfer/setDownloadLimit", url.Values{"limit": {"4096"}}, nil); code != http.StatusOK {
		t.Errorf("setDownloadLimit: %d", code)
	}
	if code, body := c.do("transfer/downloadLimit", nil, nil); body != "4096" {
		t.Errorf("downloadLimit: %d %q", code, body)
	}
	var xfer map[string]any
	c.query("transfer/info", nil, &xfer)
	if xfer["dl_rate_limit"] != 4096.0 || xfer["up_rate_limit"] != 2048.0 || xfer["dl_info_data"].(float64) < 3_000_017 || xfer["connection_status"] != "connected" {
		t.Errorf("transfer/info: %v", xfer)
	}
	if code, body := c.do("app/defaultSavePath", nil, nil); body != d.Dirs.Download {
		t.Errorf("defaultSavePath: %d %q", code, body)
	}
	if code, _ := c.do("app/shutdown", url.Values{}, nil); code != http.StatusForbidden {
		t.Errorf("shutdown: %d, want 403", code)
	}
	if code, body := c.do("transfer/speedLimitsMode", nil, nil); body != "0" {
		t.Errorf("speedLimitsMode: %d %q", code, body)
	}
	var build map[string]any
	c.query("app/buildInfo", nil, &build)
	if build["bitness"] != 64.0 && build["bitness"] != 32.0 {
		t.Errorf("buildInfo: %v", build)
	}

	// A label added through Lodestone's own API (task.changed): the
	// torrent's tags and the new tag in the delta, with the changed
	// server_state limit.
	labels := []string{"tv", "hd"}
	if _, err := wc.SetTask(ctx, api.TaskSetParams{TaskID: hash, Labels: &labels}); err != nil {
		t.Fatal(err)
	}
	var m3 maindata
	waitUntilAPI(t, "the new label in maindata", 10*time.Second, func() bool {
		m3 = c.maindata(m2.RID)
		return m3.Torrents[hash]["tags"] != nil
	})
	if m3.FullUpdate || m3.Torrents[hash]["tags"] != "tv, hd" || !slices.Equal(m3.Tags, []string{"hd"}) || m3.ServerState["dl_rate_limit"] != 4096.0 {
		t.Errorf("maindata after a label and a limit: %+v", m3)
	}

	// A removal shows in torrents_removed, its tag in tags_removed.
	if err := wc.RemoveTask(ctx, hash, false); err != nil {
		t.Fatal(err)
	}
	var m4 maindata
	waitUntilAPI(t, "the removal in maindata", 30*time.Second, func() bool {
		m4 = c.maindata(m3.RID)
		return len(m4.Removed) > 0
	})
	if m4.FullUpdate || !slices.Equal(m4.Removed, []string{hash}) || !slices.Equal(m4.TagsRemoved, []string{"hd", "tv"}) ||
		!slices.Equal(m4.TrRemoved, []string{tracker.URL}) {
		t.Errorf("maindata after the removal: %+v", m4)
	}
	// Removing the category: categories_removed, and the torrent's
	// category field changes.
	if err := wc.RemoveCategory(ctx, "films"); err != nil {
		t.Fatal(err)
	}
	var m5 maindata
	waitUntilAPI(t, "the category's removal in maindata", 30*time.Second, func() bool {
		m5 = c.maindata(m4.RID)
		// The category list is read at each request, the torrent's field
		// follows task.changed: both come, perhaps in two polls.
		return len(m5.CatsRemoved) > 0 && m5.Torrents[hash2]["category"] != nil
	})
	if !slices.Equal(m5.CatsRemoved, []string{"films"}) || m5.Torrents[hash2]["category"] != "" {
		t.Errorf("maindata after removing the category: %+v", m5)
	}
	// A rid from the future (never given) gets everything.
	if m := c.maindata(m5.RID + 1000); !m.FullUpdate || len(m.Torrents) != 1 || m.Torrents[hash2] == nil {
		t.Errorf("maindata with an unknown rid: %+v", m)
	}
}

// TestQBittorrentOwnListener checks --qbittorrent-addr: a second
// listener that serves only /api/v2/ (the web UI, /ws and the
// Transmission RPC are 404 there), behind the same gates: 403 before
// login, a wrong Host refused, the token's login accepted.
func TestQBittorrentOwnListener(t *testing.T) {
	cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
	cfg.QBittorrentAddr = "127.0.0.1:0"
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	addr := d.QBittorrentAddr()
	if addr == "" || addr == d.APIAddr() {
		t.Fatalf("qbittorrent addr %q (api %q)", addr, d.APIAddr())
	}
	jar, _ := cookiejar.New(nil)
	c := &qbClient{t: t, base: "http://" + addr + qbittorrent.Prefix, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	if code, body := c.do("app/webapiVersion", nil, nil); code != http.StatusForbidden || body != "Forbidden" {
		t.Fatalf("before login: %d %q", code, body)
	}
	if code, _ := c.do("app/version", nil, func(r *http.Request) { r.Host = "evil.example" }); code != http.StatusForbidden {
		t.Errorf("rebound Host: %d, want 403", code)
	}
	c.login()
	if code, body := c.do("app/webapiVersion", nil, nil); code != http.StatusOK || body != qbittorrent.WebAPIVersion {
		t.Errorf("after login: %d %q", code, body)
	}
	var prefs map[string]any
	c.query("app/preferences", nil, &prefs)
	if _, port, _ := strings.Cut(addr, ":"); prefs["web_ui_port"] != mustFloat(t, port) {
		t.Errorf("web_ui_port %v, want %s", prefs["web_ui_port"], port)
	}
	for _, p := range []string{"/", "/ws", "/transmission/rpc", "/metrics", "/api/v2"} {
		resp, err := c.http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && !(p == "/api/v2" && resp.StatusCode == http.StatusMovedPermanently) {
			t.Errorf("GET %s on the qBittorrent listener: %d, want 404", p, resp.StatusCode)
		}
	}
}

func mustFloat(t *testing.T, s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestQBittorrentAddrConfig checks --qbittorrent-addr's validation: a
// malformed address, and one reachable from other machines without an
// explicit token, are refused at start, as for --api-addr.
func TestQBittorrentAddrConfig(t *testing.T) {
	cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
	for addr, want := range map[string]string{
		"nonsense":     "qbittorrent-addr",
		"0.0.0.0:8080": "explicit --token",
		":8080":        "explicit --token",
	} {
		c := cfg
		c.Token = ""
		c.QBittorrentAddr = addr
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("qbittorrent-addr %q: %v, want an error with %q", addr, err, want)
		}
	}
	cfg.QBittorrentAddr = "0.0.0.0:8080"
	cfg.Token = daemontest.Token
	if err := cfg.Validate(); err != nil {
		t.Errorf("a LAN qbittorrent-addr with a token: %v", err)
	}
	cfg.QBittorrentAddr = "127.0.0.1:8080"
	cfg.Token = ""
	if err := cfg.Validate(); err != nil {
		t.Errorf("a loopback qbittorrent-addr: %v", err)
	}
}
