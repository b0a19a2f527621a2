package daemon_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/store"
	"github.com/lodestone-bt/lodestone/internal/transmission"
)

// trpc is a client of the Transmission RPC as Transmission's own clients
// behave: Basic auth, and the session id learnt from a 409.
type trpc struct {
	t       *testing.T
	url     string
	pass    string
	session string
}

func newTRPC(t *testing.T, d *daemontest.Daemon) *trpc {
	return &trpc{t: t, url: "http://" + d.APIAddr() + transmission.Path, pass: daemontest.Token}
}

// post sends one request with the client's credentials and session id.
func (c *trpc) post(body string, edit func(*http.Request)) *http.Response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctxT(c.t, 30*time.Second), http.MethodPost, c.url, bytes.NewBufferString(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth("ignored", c.pass)
	if c.session != "" {
		req.Header.Set(transmission.SessionIDHeader, c.session)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// trpcReply is the legacy protocol's response.
type trpcReply struct {
	Result    string          `json:"result"`
	Arguments json.RawMessage `json:"arguments"`
	Tag       json.RawMessage `json:"tag"`
}

// call runs method, doing the 409 handshake first when needed, and
// returns the reply.
func (c *trpc) call(method string, args any) trpcReply {
	c.t.Helper()
	b, err := json.Marshal(map[string]any{"method": method, "arguments": args, "tag": 7})
	if err != nil {
		c.t.Fatal(err)
	}
	resp := c.post(string(b), nil)
	if resp.StatusCode == http.StatusConflict {
		c.session = resp.Header.Get(transmission.SessionIDHeader)
		resp = c.post(string(b), nil)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s: HTTP %d: %s", method, resp.StatusCode, body)
	}
	var r trpcReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	if string(r.Tag) != "7" {
		c.t.Errorf("%s: tag %s, want 7", method, r.Tag)
	}
	return r
}

// ok runs method and fails the test unless it succeeds.
func (c *trpc) ok(method string, args any) json.RawMessage {
	c.t.Helper()
	r := c.call(method, args)
	if r.Result != "success" {
		c.t.Fatalf("%s(%v): result %q", method, args, r.Result)
	}
	return r.Arguments
}

// trpcTorrent is the part of a torrent-get entry the tests read.
type trpcTorrent struct {
	ID             int      `json:"id"`
	HashString     string   `json:"hashString"`
	Name           string   `json:"name"`
	DownloadDir    string   `json:"downloadDir"`
	TotalSize      int64    `json:"totalSize"`
	LeftUntilDone  int64    `json:"leftUntilDone"`
	HaveValid      int64    `json:"haveValid"`
	PercentDone    float64  `json:"percentDone"`
	Status         int      `json:"status"`
	Error          int      `json:"error"`
	ErrorString    string   `json:"errorString"`
	DownloadedEver int64    `json:"downloadedEver"`
	AddedDate      int64    `json:"addedDate"`
	DoneDate       int64    `json:"doneDate"`
	Labels         []string `json:"labels"`
	FileCount      int      `json:"fileCount"`
	PieceCount     int      `json:"pieceCount"`
	Eta            int64    `json:"eta"`
	SeedRatioMode  *int     `json:"seedRatioMode"`
	KebabFileCount int      `json:"file-count"`
}

var trpcFields = []string{"id", "hashString", "name", "downloadDir", "totalSize", "leftUntilDone",
	"haveValid", "percentDone", "status", "error", "errorString", "downloadedEver", "addedDate",
	"doneDate", "labels", "fileCount", "pieceCount", "eta", "seedRatioMode", "file-count"}

func (c *trpc) get(ids any) []trpcTorrent {
	c.t.Helper()
	args := map[string]any{"fields": trpcFields}
	if ids != nil {
		args["ids"] = ids
	}
	var r struct {
		Torrents []trpcTorrent `json:"torrents"`
	}
	if err := json.Unmarshal(c.ok("torrent-get", args), &r); err != nil {
		c.t.Fatal(err)
	}
	return r.Torrents
}

func (c *trpc) one(id any) trpcTorrent {
	c.t.Helper()
	ts := c.get(id)
	if len(ts) != 1 {
		c.t.Fatalf("torrent-get %v: %d torrents, want 1", id, len(ts))
	}
	return ts[0]
}

// waitStatus polls torrent-get until the torrent's status is want.
func (c *trpc) waitStatus(id int, want int, what string) trpcTorrent {
	c.t.Helper()
	var last trpcTorrent
	waitUntilAPI(c.t, what, 90*time.Second, func() bool {
		last = c.one(id)
		return last.Status == want
	})
	return last
}

// TestTransmissionRPCGates: the RPC passes the API's own gates (Basic
// auth with the token, the Host check), then Transmission's session-id
// handshake; errors are results, never crashes.
func TestTransmissionRPCGates(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	body := `{"method":"session-get"}`

	resp := c.post(body, func(r *http.Request) { r.Header.Del("Authorization") })
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: HTTP %d, WWW-Authenticate %q; want 401 with a challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp = c.post(body, func(r *http.Request) { r.SetBasicAuth("admin", "wrong-password") })
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: HTTP %d, want 401", resp.StatusCode)
	}
	resp = c.post(body, func(r *http.Request) { r.Host = "rebound.example:9091" })
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("rebound Host: HTTP %d, want 403", resp.StatusCode)
	}

	// The handshake: 409 with the session id and the RPC version, then
	// the same request with the id passes; a stale id is refused again.
	resp = c.post(body, nil)
	session := resp.Header.Get(transmission.SessionIDHeader)
	if resp.StatusCode != http.StatusConflict || session == "" || resp.Header.Get(transmission.RPCVersionHeader) == "" {
		t.Fatalf("no session id: HTTP %d, headers %v; want 409 with %s and %s", resp.StatusCode, resp.Header,
			transmission.SessionIDHeader, transmission.RPCVersionHeader)
	}
	c.session = "stale" + session
	if resp = c.post(body, nil); resp.StatusCode != http.StatusConflict || resp.Header.Get(transmission.SessionIDHeader) != session {
		t.Errorf("stale session id: HTTP %d, want 409 with the current id", resp.StatusCode)
	}
	c.session = session

	var sess struct {
		RPCVersion int    `json:"rpc-version"`
		Version    string `json:"version"`
		SessionID  string `json:"session-id"`
	}
	if err := json.Unmarshal(c.ok("session-get", nil), &sess); err != nil {
		t.Fatal(err)
	}
	if sess.RPCVersion < 15 || sess.SessionID != session {
		t.Errorf("session-get = %+v, want rpc-version >= 15 and session-id %s", sess, session)
	}
	// Sonarr reads the version as Transmission's "major.minor (…)" and
	// refuses one below 2.40.
	var major, minor int
	if n, _ := fmt.Sscanf(sess.Version, "%d.%d", &major, &minor); n != 2 || major*100+minor < 240 {
		t.Errorf("session-get version %q: want major.minor >= 2.40", sess.Version)
	}

	for _, tc := range []struct {
		method string
		args   any
		want   string
	}{
		{"no-such-method", nil, "method name not recognized"},
		{"torrent-get", map[string]any{}, "no fields specified"},
		{"torrent-get", map[string]any{"fields": []string{"id"}, "ids": map[string]any{"x": 1}}, ""},
		{"torrent-add", map[string]any{}, "no filename or metainfo specified"},
		{"torrent-add", map[string]any{"metainfo": "bm90IGEgdG9ycmVudA=="}, "invalid or corrupt torrent file"},
		{"torrent-add", map[string]any{"filename": "/etc/passwd"}, ""},
		{"torrent-add", map[string]any{"paused": "yes please"}, ""},
	} {
		r := c.call(tc.method, tc.args)
		if r.Result == "success" || (tc.want != "" && r.Result != tc.want) {
			t.Errorf("%s(%v): result %q, want %q", tc.method, tc.args, r.Result, cmp.Or(tc.want, "an error"))
		}
	}
	resp = c.post(`{"method":`, nil)
	var r trpcReply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK || r.Result == "success" {
		t.Errorf("truncated JSON: HTTP %d, %+v, %v; want 200 and an error result", resp.StatusCode, r, err)
	}

	// A task added through the WebSocket API is a duplicate to the RPC,
	// though the RPC never listed it before.
	tr := enginetest.Generate(t, enginetest.Content{Name: "ws.bin", Size: 5000, Seed: 64})
	addTorrent(t, d.Client(t), tr)
	var dup struct {
		Added     any `json:"torrent-added"`
		Duplicate *struct {
			ID         int    `json:"id"`
			HashString string `json:"hashString"`
		} `json:"torrent-duplicate"`
	}
	if err := json.Unmarshal(c.ok("torrent-add", map[string]any{
		"metainfo": base64.StdEncoding.EncodeToString(tr.MetaInfo),
	}), &dup); err != nil {
		t.Fatal(err)
	}
	if dup.Added != nil || dup.Duplicate == nil || dup.Duplicate.HashString != tr.InfoHash || dup.Duplicate.ID <= 0 {
		t.Errorf("torrent-add of a task added through the WebSocket API: %+v, want torrent-duplicate", dup)
	}

	// A restart gives a new session id.
	dirs := d.Dirs
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c2 := newTRPC(t, d)
	c2.session = session
	if resp = c2.post(body, nil); resp.StatusCode != http.StatusConflict || resp.Header.Get(transmission.SessionIDHeader) == session {
		t.Errorf("after restart, the old session id: HTTP %d, id %q; want 409 and a new id", resp.StatusCode, resp.Header.Get(transmission.SessionIDHeader))
	}
}

// TestTransmissionRPCDownload drives a real download through the RPC as
// Transmission's clients do: add a .torrent (paused, labelled) and a
// magnet, read the fields and status, start, stop, verify; the ids stay
// across a restart; remove with data deletes the files.
func TestTransmissionRPCDownload(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	trFile := enginetest.Generate(t, enginetest.Content{Name: "trpc.bin", Size: 2_000_003, Seed: 61, Trackers: []string{tracker.URL}})
	trMagnet := enginetest.Generate(t, enginetest.MultiFile(62))
	seeder.Seed(t, trFile)
	seeder.Seed(t, trMagnet)
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)

	type added struct {
		ID         int    `json:"id"`
		HashString string `json:"hashString"`
		Name       string `json:"name"`
	}
	var add struct {
		Added     *added `json:"torrent-added"`
		Duplicate *added `json:"torrent-duplicate"`
	}
	// A task added and removed first: its id is never used again, so
	// the ids below are not the ones a fresh count would give.
	gone := enginetest.Generate(t, enginetest.Content{Name: "gone.bin", Size: 1000, Seed: 63})
	if err := json.Unmarshal(c.ok("torrent-add", map[string]any{
		"metainfo": base64.StdEncoding.EncodeToString(gone.MetaInfo), "paused": true,
	}), &add); err != nil || add.Added == nil {
		t.Fatalf("torrent-add gone.bin: %+v, %v", add, err)
	}
	goneID := add.Added.ID
	c.ok("torrent-remove", map[string]any{"ids": goneID})
	if left := c.get(nil); len(left) != 0 {
		t.Fatalf("after removing gone.bin: %+v", left)
	}
	add.Added = nil

	metainfo := base64.StdEncoding.EncodeToString(trFile.MetaInfo)
	if err := json.Unmarshal(c.ok("torrent-add", map[string]any{
		"metainfo": metainfo, "paused": true, "labels": []string{"tv-sonarr"},
	}), &add); err != nil {
		t.Fatal(err)
	}
	if add.Added == nil || add.Added.HashString != trFile.InfoHash || add.Added.Name != "trpc.bin" || add.Added.ID == goneID {
		t.Fatalf("torrent-add .torrent: %+v, want torrent-added %s trpc.bin", add, trFile.InfoHash)
	}
	fileID := add.Added.ID
	add.Added = nil
	if err := json.Unmarshal(c.ok("torrent-add", map[string]any{"metainfo": metainfo}), &add); err != nil {
		t.Fatal(err)
	}
	if add.Duplicate == nil || add.Added != nil || add.Duplicate.ID != fileID || add.Duplicate.HashString != trFile.InfoHash {
		t.Fatalf("torrent-add again: %+v, want torrent-duplicate with id %d", add, fileID)
	}
	add.Duplicate = nil
	if err := json.Unmarshal(c.ok("torrent-add", map[string]any{
		"filename": trMagnet.Magnet([]string{seeder.Addr}),
	}), &add); err != nil {
		t.Fatal(err)
	}
	if add.Added == nil || add.Added.HashString != trMagnet.InfoHash || add.Added.ID == fileID || add.Added.ID == goneID {
		t.Fatalf("torrent-add magnet: %+v, want torrent-added %s with a new id", add, trMagnet.InfoHash)
	}
	magnetID := add.Added.ID

	// Paused: stopped, nothing done, the labels kept.
	got := c.one(fileID)
	if got.Status != 0 || got.HashString != trFile.InfoHash || got.TotalSize != 2_000_003 ||
		got.LeftUntilDone != got.TotalSize || got.PercentDone != 0 || len(got.Labels) != 1 || got.Labels[0] != "tv-sonarr" ||
		got.DownloadDir != d.Dirs.Download || got.AddedDate == 0 || got.FileCount != 1 || got.PieceCount == 0 {
		t.Errorf("paused torrent: %+v", got)
	}
	// By hash too, and all of them when ids is absent.
	if byHash := c.one([]any{trFile.InfoHash}); byHash.ID != fileID {
		t.Errorf("torrent-get by hash: id %d, want %d", byHash.ID, fileID)
	}
	if all := c.get(nil); len(all) != 2 {
		t.Errorf("torrent-get without ids: %d torrents, want 2", len(all))
	}

	// The magnet downloads to seeding (6) with everything counted.
	done := c.waitStatus(magnetID, 6, "magnet seeding")
	if done.PercentDone != 1 || done.LeftUntilDone != 0 || done.HaveValid != done.TotalSize || done.TotalSize == 0 ||
		done.DoneDate == 0 || done.DownloadedEver == 0 || done.Error != 0 || done.FileCount != 5 || done.KebabFileCount != 5 ||
		done.SeedRatioMode == nil || *done.SeedRatioMode != 0 {
		t.Errorf("magnet after download: %+v", done)
	}
	enginetest.SameFiles(t, trMagnet, d.Dirs.Download)

	// Start the paused one; stop it once done; start and verify it again.
	c.ok("torrent-start", map[string]any{"ids": []int{fileID}})
	c.waitStatus(fileID, 6, ".torrent seeding")
	c.ok("torrent-stop", map[string]any{"ids": fileID})
	c.waitStatus(fileID, 0, ".torrent stopped")
	c.ok("torrent-start", map[string]any{"ids": []string{trFile.InfoHash}})
	c.waitStatus(fileID, 6, ".torrent seeding again")
	c.ok("torrent-verify", map[string]any{"ids": []int{fileID}})
	if v := c.waitStatus(fileID, 6, ".torrent seeding after verify"); v.PercentDone != 1 {
		t.Errorf("after verify: %+v", v)
	}

	// The ids are the same after a restart.
	dirs := d.Dirs
	d.Stop(t)
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c = newTRPC(t, d)
	if a, b := c.one(fileID), c.one(magnetID); a.HashString != trFile.InfoHash || b.HashString != trMagnet.InfoHash {
		t.Errorf("after restart: id %d is %s, id %d is %s", fileID, a.HashString, magnetID, b.HashString)
	}

	// Remove with data: the task and its file are gone; the magnet's
	// task, removed without, leaves its files.
	c.ok("torrent-remove", map[string]any{"ids": []int{fileID}, "delete-local-data": true})
	c.ok("torrent-remove", map[string]any{"ids": []string{trMagnet.InfoHash}})
	if left := c.get(nil); len(left) != 0 {
		t.Errorf("after torrent-remove: %+v left", left)
	}
	waitUntilAPI(t, "data deleted", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(d.Dirs.Download, "trpc.bin"))
		return os.IsNotExist(err)
	})
	enginetest.SameFiles(t, trMagnet, d.Dirs.Download)
	// A new task never gets a removed one's id.
	if err := json.Unmarshal(c.ok("torrent-add", map[string]any{"metainfo": metainfo, "paused": true}), &add); err != nil {
		t.Fatal(err)
	}
	if add.Added == nil || add.Added.ID == fileID || add.Added.ID == magnetID || add.Added.ID == goneID {
		t.Errorf("torrent-add after remove: %+v, want a new id (not %d, %d or %d)", add, goneID, fileID, magnetID)
	}
}

// raw posts body as it is (after the handshake) and returns the status
// and the body of the reply.
func (c *trpc) raw(body string) (int, []byte) {
	c.t.Helper()
	resp := c.post(body, nil)
	if resp.StatusCode == http.StatusConflict {
		c.session = resp.Header.Get(transmission.SessionIDHeader)
		resp = c.post(body, nil)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// torrents runs torrent-get for fields and returns the entries as maps.
func (c *trpc) torrents(ids any, fields ...string) []map[string]json.RawMessage {
	c.t.Helper()
	args := map[string]any{"fields": fields}
	if ids != nil {
		args["ids"] = ids
	}
	var r struct {
		Torrents []map[string]json.RawMessage `json:"torrents"`
	}
	if err := json.Unmarshal(c.ok("torrent-get", args), &r); err != nil {
		c.t.Fatal(err)
	}
	return r.Torrents
}

// field decodes one field of a torrent-get entry.
func field[T any](t *testing.T, m map[string]json.RawMessage, name string) T {
	t.Helper()
	var v T
	raw, ok := m[name]
	if !ok {
		t.Fatalf("torrent-get: no field %q in %v", name, m)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("torrent-get field %q = %s: %v", name, raw, err)
	}
	return v
}

// addTR adds tr through the RPC with extra arguments and returns its id.
func (c *trpc) addTR(tr *enginetest.Torrent, extra map[string]any) int {
	c.t.Helper()
	args := map[string]any{"metainfo": base64.StdEncoding.EncodeToString(tr.MetaInfo)}
	maps.Copy(args, extra)
	var r struct {
		Added *struct {
			ID int `json:"id"`
		} `json:"torrent-added"`
	}
	if err := json.Unmarshal(c.ok("torrent-add", args), &r); err != nil || r.Added == nil {
		c.t.Fatalf("torrent-add %s: %+v, %v", tr.Name, r, err)
	}
	return r.Added.ID
}

type fileStat struct {
	BytesCompleted int64 `json:"bytesCompleted"`
	Wanted         bool  `json:"wanted"`
	Priority       int   `json:"priority"`
}

// TestTransmissionRPCTorrentSet: torrent-add's and torrent-set's file
// choices change what downloads; labels, rate limits (kB/s, with the
// switch apart from the value) and trackers (added by URL, removed by
// id) are set; camelCase and kebab-case names both work.
func TestTransmissionRPCTorrentSet(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	tracker := enginetest.StartTracker(t, seeder.Addr)
	content := enginetest.MultiFile(71)
	content.Trackers = []string{tracker.URL}
	tr := enginetest.Generate(t, content)
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	ws := d.Client(t)

	// z.bin (index 4) unwanted from the start, in kebab-case.
	id := c.addTR(tr, map[string]any{"paused": true, "files-unwanted": []int{4}})
	got := c.torrents(id, "wanted", "fileStats", "priorities", "sizeWhenDone", "totalSize")[0]
	if w := field[[]int](t, got, "wanted"); !slices.Equal(w, []int{1, 1, 1, 1, 0}) {
		t.Errorf("wanted after torrent-add files-unwanted [4]: %v", w)
	}
	if size, total := field[int64](t, got, "sizeWhenDone"), field[int64](t, got, "totalSize"); size != total-1_234_567 {
		t.Errorf("sizeWhenDone %d, want totalSize %d less z.bin", size, total)
	}
	// dir/b.bin high, in camelCase's neighbour spelling.
	c.ok("torrent-set", map[string]any{"ids": []int{id}, "priority-high": []int{1}})
	c.ok("torrent-start", map[string]any{"ids": id})
	waitUntilAPI(t, "the wanted files downloaded", 90*time.Second, func() bool {
		m := c.torrents(id, "leftUntilDone", "percentDone")[0]
		return field[int64](t, m, "leftUntilDone") == 0 && field[float64](t, m, "percentDone") == 1
	})
	got = c.torrents(id, "fileStats", "files", "priorities")[0]
	stats := field[[]fileStat](t, got, "fileStats")
	files := field[[]struct {
		Length int64  `json:"length"`
		Name   string `json:"name"`
	}](t, got, "files")
	for i, s := range stats[:4] {
		if s.BytesCompleted != files[i].Length || !s.Wanted {
			t.Errorf("file %s: %+v, want all %d bytes, wanted", files[i].Name, s, files[i].Length)
		}
	}
	if stats[4].Wanted || stats[4].BytesCompleted >= files[4].Length/2 {
		t.Errorf("unwanted z.bin: %+v of %d bytes, want unwanted and (but for pieces shared with wanted files) not downloaded", stats[4], files[4].Length)
	}
	if p := field[[]int](t, got, "priorities"); !slices.Equal(p, []int{0, 1, 0, 0, 0}) {
		t.Errorf("priorities %v, want b.bin's 1", p)
	}
	// Wanted again (camelCase): the rest downloads.
	c.ok("torrent-set", map[string]any{"ids": []string{tr.InfoHash}, "filesWanted": []int{4}})
	waitUntilAPI(t, "z.bin downloaded", 90*time.Second, func() bool {
		s := field[[]fileStat](t, c.torrents(id, "fileStats")[0], "fileStats")
		return s[4].Wanted && s[4].BytesCompleted == files[4].Length
	})
	enginetest.SameFiles(t, tr, d.Dirs.Download)
	// The service notes payload moving at its next poll.
	waitUntilAPI(t, "activityDate set", 30*time.Second, func() bool {
		got = c.torrents(id, "activityDate", "secondsDownloading", "isPrivate", "addedDate")[0]
		return field[int64](t, got, "activityDate") >= field[int64](t, got, "addedDate")
	})
	if field[bool](t, got, "isPrivate") || field[int64](t, got, "secondsDownloading") < 0 {
		t.Errorf("facts after the download: %v", got)
	}
	c.ok("torrent-reannounce", map[string]any{"ids": []int{id}})
	// A stopped torrent has nothing to announce: skipped, and still
	// success, as Transmission answers.
	c.ok("torrent-stop", map[string]any{"ids": []int{id}})
	c.ok("torrent-reannounce", map[string]any{"ids": []int{id}})
	c.ok("torrent-start", map[string]any{"ids": []int{id}})
	if r := c.call("torrent-set", map[string]any{"ids": id, "files-wanted": []int{5}}); r.Result == "success" {
		t.Errorf("torrent-set files-wanted [5] of 5 files: %q, want an error", r.Result)
	}

	// Labels.
	c.ok("torrent-set", map[string]any{"ids": id, "labels": []string{"tv", "sonarr"}})
	if l := field[[]string](t, c.torrents(id, "labels")[0], "labels"); !slices.Equal(l, []string{"tv", "sonarr"}) {
		t.Errorf("labels %v", l)
	}

	// Limits in kB/s (1000 bytes); a value without its switch on is kept
	// for when the switch is turned on.
	c.ok("torrent-set", map[string]any{"ids": id, "downloadLimit": 200, "downloadLimited": true, "uploadLimit": 50})
	task, err := ws.GetTask(ctxT(t, 10*time.Second), tr.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	if task.DownloadRateLimit != 200_000 || task.UploadRateLimit != 0 {
		t.Errorf("after downloadLimit 200 on, uploadLimit 50 (off): task limits %d/%d, want 200000/0", task.DownloadRateLimit, task.UploadRateLimit)
	}
	got = c.torrents(id, "downloadLimit", "downloadLimited", "uploadLimit", "uploadLimited")[0]
	if field[int64](t, got, "downloadLimit") != 200 || !field[bool](t, got, "downloadLimited") ||
		field[int64](t, got, "uploadLimit") != 50 || field[bool](t, got, "uploadLimited") {
		t.Errorf("limits read back: %v", got)
	}
	c.ok("torrent-set", map[string]any{"ids": id, "uploadLimited": true, "download-limited": false})
	if task, err = ws.GetTask(ctxT(t, 10*time.Second), tr.InfoHash); err != nil {
		t.Fatal(err)
	}
	if task.DownloadRateLimit != 0 || task.UploadRateLimit != 50_000 {
		t.Errorf("after uploadLimited on, downloadLimited off: task limits %d/%d, want 0/50000", task.DownloadRateLimit, task.UploadRateLimit)
	}

	// Trackers: added by URL, removed by the id torrent-get gives.
	extra := "http://127.0.0.1:9/announce"
	c.ok("torrent-set", map[string]any{"ids": id, "trackerAdd": []string{extra}})
	type trk struct {
		ID       int    `json:"id"`
		Announce string `json:"announce"`
	}
	trs := field[[]trk](t, c.torrents(id, "trackers")[0], "trackers")
	if len(trs) != 2 {
		t.Fatalf("trackers after trackerAdd: %+v", trs)
	}
	i := slices.IndexFunc(trs, func(x trk) bool { return x.Announce == extra })
	if i < 0 {
		t.Fatalf("added tracker missing: %+v", trs)
	}
	stats2 := field[[]map[string]any](t, c.torrents(id, "trackerStats")[0], "trackerStats")
	if len(stats2) != 2 || stats2[i]["announce"] != extra || stats2[i]["id"] != float64(trs[i].ID) {
		t.Errorf("trackerStats %v, want the added tracker with id %d", stats2, trs[i].ID)
	}
	c.ok("torrent-set", map[string]any{"ids": id, "tracker-remove": []int{trs[i].ID}})
	if trs = field[[]trk](t, c.torrents(id, "trackers")[0], "trackers"); len(trs) != 1 || trs[0].Announce != tracker.URL {
		t.Errorf("trackers after trackerRemove: %+v, want only %s", trs, tracker.URL)
	}
	if r := c.call("torrent-set", map[string]any{"ids": id, "trackerRemove": []int{7}}); r.Result == "success" {
		t.Errorf("trackerRemove of an unknown id: %q, want an error", r.Result)
	}
}

// TestTransmissionRPCSetLocation: torrent-set-location with move moves the
// data; without move it is refused while the data is still where the
// task is, and points the task at data moved there by hand otherwise.
func TestTransmissionRPCSetLocation(t *testing.T) {
	seeder := enginetest.StartSeeder(t, enginetest.SeederOptions{})
	tr := enginetest.Generate(t, enginetest.MultiFile(72))
	seeder.Seed(t, tr)
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	var add struct {
		Added struct {
			ID int `json:"id"`
		} `json:"torrent-added"`
	}
	if err := json.Unmarshal(c.ok("torrent-add", map[string]any{"filename": tr.Magnet([]string{seeder.Addr})}), &add); err != nil {
		t.Fatal(err)
	}
	id := add.Added.ID
	c.waitStatus(id, 6, "seeding")

	moved := filepath.Join(d.Dirs.Download, "moved")
	c.ok("torrent-set-location", map[string]any{"ids": id, "location": moved, "move": true})
	waitUntilAPI(t, "moved and seeding", 60*time.Second, func() bool {
		g := c.one(id)
		return g.DownloadDir == moved && g.Status == 6
	})
	enginetest.SameFiles(t, tr, moved)
	if _, err := os.Stat(filepath.Join(d.Dirs.Download, tr.Name)); !os.IsNotExist(err) {
		t.Errorf("after the move, the old copy: %v, want it gone", err)
	}

	// Without move, while the data is still in moved: refused, nothing
	// changes.
	r := c.call("torrent-set-location", map[string]any{"ids": []int{id}, "location": d.Dirs.Download})
	if r.Result == "success" || !strings.Contains(r.Result, "move") {
		t.Errorf("set-location without move, data in place: %q, want a refusal", r.Result)
	}
	if g := c.one(id); g.DownloadDir != moved {
		t.Errorf("after the refusal the task is in %s, want %s", g.DownloadDir, moved)
	}
	if r := c.call("torrent-set-location", map[string]any{"ids": id, "location": "relative/dir", "move": true}); r.Result == "success" {
		t.Errorf("a relative location: %q, want an error", r.Result)
	}

	// The data moved by hand: without move the task follows it, and
	// finds every piece there.
	c.ok("torrent-stop", map[string]any{"ids": id})
	c.waitStatus(id, 0, "stopped")
	elsewhere := filepath.Join(d.Dirs.Download, "elsewhere")
	if err := os.MkdirAll(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(moved, tr.Name), filepath.Join(elsewhere, tr.Name)); err != nil {
		t.Fatal(err)
	}
	c.ok("torrent-set-location", map[string]any{"ids": id, "location": elsewhere, "move": false})
	c.ok("torrent-start", map[string]any{"ids": id})
	waitUntilAPI(t, "seeding from the new place", 60*time.Second, func() bool {
		g := c.one(id)
		return g.DownloadDir == elsewhere && g.Status == 6 && g.PercentDone == 1
	})
	enginetest.SameFiles(t, tr, elsewhere)
}

// TestTransmissionRPCSession: session-set and session-get round trip in
// Transmission's units (kB/s, minutes) with each switch apart from its
// value; unknown keys are ignored; session-stats counts; free-space
// answers inside the download roots only; port-test, blocklist-update and
// session-close are refused with error results, and the daemon goes on.
func TestTransmissionRPCSession(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	ws := d.Client(t)
	ids := []int{}
	for i := range 3 {
		tr := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("s%d.bin", i), Size: 4000, Seed: 80 + uint64(i)})
		ids = append(ids, c.addTR(tr, map[string]any{"paused": true}))
	}

	dl := filepath.Join(d.Dirs.Download, "tv")
	c.ok("session-set", map[string]any{
		"speed-limit-down": 300, "speed-limit-down-enabled": true,
		"speed-limit-up": 40, // its switch is off: kept, not applied
		"seedRatioLimit": 1.5, "seedRatioLimited": true,
		"idle-seeding-limit": 30, "idle-seeding-limit-enabled": true,
		"download-queue-size": 4, "download-queue-enabled": true,
		"seed-queue-enabled": false,
		"download-dir":       dl,
		"peer-port":          51413,
		"alt-speed-enabled":  true, // not Lodestone's: ignored
		"utp-enabled":        false,
	})
	set, err := ws.Settings(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if set.DownloadRateLimit != 300_000 || set.UploadRateLimit != 0 || set.SeedRatioLimit != 1.5 ||
		set.SeedIdleLimit != 30*60 || set.SeedTimeLimit != 0 || set.MaxActiveDownloads != 4 || set.MaxActiveSeeds != 0 ||
		set.DownloadDir != dl || set.PeerPort != 51413 {
		t.Errorf("settings after session-set: %+v", set)
	}
	var sess map[string]any
	if err := json.Unmarshal(c.ok("session-get", nil), &sess); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"speed-limit-down": 300.0, "speed-limit-down-enabled": true,
		"speed-limit-up": 40.0, "speed-limit-up-enabled": false,
		"seedRatioLimit": 1.5, "seedRatioLimited": true,
		"idle-seeding-limit": 30.0, "idle-seeding-limit-enabled": true,
		"download-queue-size": 4.0, "download-queue-enabled": true,
		"download-dir": dl, "peer-port": 51413.0, "rpc-version": float64(transmission.RPCVersion),
		"peer-limit-per-torrent": float64(engine.EstablishedConnsPerTorrent),
		// The tests' daemons run without DHT, uTP and UPnP; the
		// encryption policy is the default (prefer).
		"dht-enabled": false, "utp-enabled": false, "port-forwarding-enabled": false, "pex-enabled": true,
		"encryption": "preferred", // --encryption prefer, the default, on both cores
	} {
		if sess[k] != want {
			t.Errorf("session-get %s = %v, want %v", k, sess[k], want)
		}
	}
	// The upload limit kept while off is applied once switched on; a
	// fields argument (either spelling) narrows the answer.
	c.ok("session-set", map[string]any{"speed_limit_up_enabled": true})
	if set, err = ws.Settings(ctxT(t, 10*time.Second)); err != nil || set.UploadRateLimit != 40_000 {
		t.Errorf("after speed-limit-up-enabled: upload limit %d (%v), want 40000", set.UploadRateLimit, err)
	}
	var few map[string]any
	if err := json.Unmarshal(c.ok("session-get", map[string]any{"fields": []string{"version", "speedLimitUp"}}), &few); err != nil {
		t.Fatal(err)
	}
	if len(few) != 2 || few["speed-limit-up"] != 40.0 || few["version"] != transmission.Version {
		t.Errorf("session-get with fields: %v", few)
	}
	if r := c.call("session-set", map[string]any{"peer-port": 70000}); r.Result == "success" {
		t.Errorf("peer-port 70000: %q, want an error", r.Result)
	}

	// session-stats: three paused tasks of three.
	c.ok("torrent-start", map[string]any{"ids": ids[0]})
	var st struct {
		Active  int   `json:"activeTorrentCount"`
		Paused  int   `json:"pausedTorrentCount"`
		Count   int   `json:"torrentCount"`
		Down    int64 `json:"downloadSpeed"`
		Current struct {
			FilesAdded    int   `json:"filesAdded"`
			SessionCount  int   `json:"sessionCount"`
			SecondsActive int64 `json:"secondsActive"`
		} `json:"current-stats"`
		Cumulative *struct {
			FilesAdded int `json:"filesAdded"`
		} `json:"cumulative-stats"`
	}
	waitUntilAPI(t, "one task started", 30*time.Second, func() bool {
		if err := json.Unmarshal(c.ok("session-stats", nil), &st); err != nil {
			t.Fatal(err)
		}
		return st.Active == 1
	})
	if st.Paused != 2 || st.Count != 3 || st.Current.FilesAdded != 3 || st.Current.SessionCount != 1 ||
		st.Cumulative == nil || st.Cumulative.FilesAdded != 3 {
		t.Errorf("session-stats: %+v", st)
	}

	// free-space: inside the roots only.
	var fsr map[string]any
	if err := json.Unmarshal(c.ok("free-space", map[string]any{"path": d.Dirs.Download}), &fsr); err != nil {
		t.Fatal(err)
	}
	free, _ := fsr["size-bytes"].(float64)
	total, _ := fsr["total_size"].(float64)
	if fsr["path"] != d.Dirs.Download || free <= 0 || total < free {
		t.Errorf("free-space of the download dir: %v", fsr)
	}
	for _, p := range []string{"/", d.Dirs.Data, filepath.Join(d.Dirs.Download, ".."), "relative"} {
		if r := c.call("free-space", map[string]any{"path": p}); r.Result == "success" {
			t.Errorf("free-space %s: %q, want a refusal", p, r.Result)
		}
	}
	for _, m := range []string{"port-test", "blocklist-update", "session-close"} {
		if r := c.call(m, nil); r.Result == "success" || r.Result == "method name not recognized" {
			t.Errorf("%s: %q, want an error result", m, r.Result)
		}
	}
	if _, err := ws.ServerInfo(ctxT(t, 10*time.Second)); err != nil {
		t.Errorf("the daemon after session-close: %v", err)
	}
}

// rpcResp is a JSON-RPC 2.0 response.
type rpcResp struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			ErrorString string `json:"error_string"`
		} `json:"data"`
	} `json:"error"`
	ID json.RawMessage `json:"id"`
}

// TestTransmissionJSONRPC: Transmission 4.1's JSON-RPC 2.0 on the same
// endpoint: snake_case methods and names in and out, error objects with
// Transmission's codes, batches in order, notifications without replies.
func TestTransmissionJSONRPC(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	tr := enginetest.Generate(t, enginetest.MultiFile(73))
	id := c.addTR(tr, map[string]any{"paused": true, "labels": []string{"Keep-Case"}})

	one := func(body string) rpcResp {
		t.Helper()
		status, b := c.raw(body)
		var r rpcResp
		if err := json.Unmarshal(b, &r); status != http.StatusOK || err != nil || r.JSONRPC != "2.0" {
			t.Fatalf("%s: HTTP %d %s (%v), want a JSON-RPC 2.0 reply", body, status, b, err)
		}
		return r
	}
	r := one(`{"jsonrpc":"2.0","method":"session_get","params":{"fields":["rpc_version_semver","version","download_dir"]},"id":"s1"}`)
	var sess map[string]any
	if err := json.Unmarshal(r.Result, &sess); err != nil || r.Error != nil || string(r.ID) != `"s1"` {
		t.Fatalf("session_get: %+v, %v", r, err)
	}
	if sess["rpc_version_semver"] != transmission.RPCVersionSemver || sess["version"] != transmission.Version || sess["download_dir"] != d.Dirs.Download || len(sess) != 3 {
		t.Errorf("session_get result %v", sess)
	}

	// torrent_get: snake_case at every depth; values (labels) as they are.
	r = one(fmt.Sprintf(`{"jsonrpc":"2.0","method":"torrent_get","params":{"ids":[%d],"fields":["id","hash_string","percent_done","file_stats","labels","downloadDir"]},"id":7}`, id))
	var got struct {
		Torrents []map[string]json.RawMessage `json:"torrents"`
	}
	if err := json.Unmarshal(r.Result, &got); err != nil || len(got.Torrents) != 1 {
		t.Fatalf("torrent_get: %s, %v", r.Result, err)
	}
	tg := got.Torrents[0]
	if field[string](t, tg, "hash_string") != tr.InfoHash || field[int](t, tg, "id") != id ||
		field[string](t, tg, "download_dir") != d.Dirs.Download || !slices.Equal(field[[]string](t, tg, "labels"), []string{"Keep-Case"}) {
		t.Errorf("torrent_get entry %v", tg)
	}
	if fs := field[[]map[string]any](t, tg, "file_stats"); len(fs) != 5 || fs[0]["bytes_completed"] == nil || fs[0]["wanted"] != true {
		t.Errorf("file_stats %v, want snake_case keys", fs)
	}
	// The table format: the first row names the fields.
	r = one(fmt.Sprintf(`{"jsonrpc":"2.0","method":"torrent_get","params":{"ids":%d,"fields":["hashString","totalSize"],"format":"table"},"id":8}`, id))
	var table struct {
		Torrents [][]any `json:"torrents"`
	}
	if err := json.Unmarshal(r.Result, &table); err != nil || len(table.Torrents) != 2 ||
		fmt.Sprint(table.Torrents[0]) != "[hash_string total_size]" || table.Torrents[1][0] != tr.InfoHash {
		t.Errorf("table format: %s, %v", r.Result, err)
	}

	// Errors carry Transmission 4.1's codes.
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"jsonrpc":"2.0","method":"no_such_method","id":1}`, -32601},
		{`{"jsonrpc":"2.0","method":"torrent-get","params":{"fields":["id"]},"id":1}`, -32601}, // kebab-case is the legacy protocol's
		{`{"jsonrpc":"2.0","method":"torrent_get","params":{},"id":1}`, -32602},
		{`{"jsonrpc":"2.0","method":"torrent_get","params":["id"],"id":1}`, -32602},
		{`{"jsonrpc":"2.0","method":"torrent_add","params":{"metainfo":"bm90IGEgdG9ycmVudA=="},"id":1}`, 9},
		{`{"jsonrpc":"2.0","method":"torrent_set_location","params":{"location":"rel","move":true},"id":1}`, 3},
		{`{"jsonrpc":"2.0","method":"port_test","id":1}`, 8},
		{`{"jsonrpc":"1.0","method":"session_get","id":1}`, -32600},
		{`{"jsonrpc":"2.0","method":"session_get","id":{"x":1}}`, -32600},
		{`{"jsonrpc":"2.0","method":7,"id":1}`, -32600},
		{`{"jsonrpc":"2.0","method":"session_get","id":1`, -32700},
		{`[]`, -32600},
	} {
		r := one(tc.body)
		if r.Error == nil || r.Error.Code != tc.code || r.Error.Message == "" || r.Result != nil {
			t.Errorf("%s: %+v, want error code %d", tc.body, r, tc.code)
		}
	}
	r = one(`{"jsonrpc":"2.0","method":"torrent_get","params":{"fields":"id"},"id":1}`)
	if r.Error == nil || r.Error.Data.ErrorString == "" {
		t.Errorf("invalid params: %+v, want data.error_string", r)
	}

	// A notification gets no reply (204) but runs; a read-only one is
	// not even run.
	status, b := c.raw(fmt.Sprintf(`{"jsonrpc":"2.0","method":"torrent_set","params":{"ids":[%d],"labels":["by-notification"]}}`, id))
	if status != http.StatusNoContent || len(b) != 0 {
		t.Errorf("notification: HTTP %d %q, want 204 and no body", status, b)
	}
	if l := c.one(id).Labels; !slices.Equal(l, []string{"by-notification"}) {
		t.Errorf("labels after the notification: %v", l)
	}

	// A batch: replies in order, the notification left out, a legacy
	// member refused.
	status, b = c.raw(fmt.Sprintf(`[
		{"jsonrpc":"2.0","method":"session_stats","id":1},
		{"jsonrpc":"2.0","method":"torrent_set","params":{"ids":[%d],"labels":["batch"]}},
		{"jsonrpc":"2.0","method":"nope","id":"two"},
		{"method":"session-get","arguments":{}},
		{"jsonrpc":"2.0","method":"torrent_get","params":{"ids":[%d],"fields":["labels"]},"id":3}
	]`, id, id))
	var batch []rpcResp
	if err := json.Unmarshal(b, &batch); status != http.StatusOK || err != nil || len(batch) != 4 {
		t.Fatalf("batch: HTTP %d %s, %v; want 4 replies", status, b, err)
	}
	if string(batch[0].ID) != "1" || batch[0].Error != nil || !strings.Contains(string(batch[0].Result), `"torrent_count":1`) {
		t.Errorf("batch reply 1: %+v %s", batch[0], batch[0].Result)
	}
	if string(batch[1].ID) != `"two"` || batch[1].Error == nil || batch[1].Error.Code != -32601 {
		t.Errorf("batch reply 2: %+v", batch[1])
	}
	if string(batch[2].ID) != "null" || batch[2].Error == nil || batch[2].Error.Code != -32600 {
		t.Errorf("batch reply 3 (a legacy request): %+v", batch[2])
	}
	if string(batch[3].ID) != "3" || !strings.Contains(string(batch[3].Result), `"labels":["batch"]`) {
		t.Errorf("batch reply 4: %+v %s, want the label the batch's notification set", batch[3], batch[3].Result)
	}
	status, b = c.raw(`[{"jsonrpc":"2.0","method":"session_get"},{"jsonrpc":"2.0","method":"torrent_start","params":{}}]`)
	if status != http.StatusNoContent || len(b) != 0 {
		t.Errorf("a batch of notifications: HTTP %d %q, want 204", status, b)
	}

	// The legacy protocol still answers in its own form.
	if r := c.call("session-get", map[string]any{"fields": []string{"rpc-version"}}); r.Result != "success" || !strings.Contains(string(r.Arguments), `"rpc-version":`) {
		t.Errorf("legacy session-get: %+v", r)
	}
}

// TestTransmissionRecentlyActive: ids "recently-active" gives the tasks
// active in the last minute and the ids removed meanwhile, whether
// through the RPC or the WebSocket API.
func TestTransmissionRecentlyActive(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	ws := d.Client(t)
	var ids []int
	var hashes []string
	for i := range 3 {
		tr := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("r%d.bin", i), Size: 3000, Seed: 90 + uint64(i)})
		ids = append(ids, c.addTR(tr, map[string]any{"paused": true}))
		hashes = append(hashes, tr.InfoHash)
	}
	c.ok("torrent-remove", map[string]any{"ids": []int{ids[0]}})
	if err := ws.RemoveTask(ctxT(t, 10*time.Second), hashes[1], false); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Torrents []struct {
			ID int `json:"id"`
		} `json:"torrents"`
		Removed []int `json:"removed"`
	}
	if err := json.Unmarshal(c.ok("torrent-get", map[string]any{"ids": "recently-active", "fields": []string{"id"}}), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Torrents) != 1 || r.Torrents[0].ID != ids[2] || !slices.Equal(r.Removed, []int{ids[0], ids[1]}) {
		t.Errorf("recently-active: %+v, want task %d (just added) and removed %v", r, ids[2], ids[:2])
	}
	// Without "recently-active" there is no removed list.
	var all map[string]json.RawMessage
	if err := json.Unmarshal(c.ok("torrent-get", map[string]any{"fields": []string{"id"}}), &all); err != nil {
		t.Fatal(err)
	}
	if _, ok := all["removed"]; ok {
		t.Errorf("torrent-get without recently-active has a removed list: %v", all)
	}
}

// TestTransmissionIDsMigrated: the id table an older daemon kept in the
// settings moves to its bucket at start, ids kept; a setting that cannot
// be read does not stop the start: the tasks get new ids.
func TestTransmissionIDsMigrated(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	var hashes []string
	for i := range 2 {
		tr := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("m%d.bin", i), Size: 2000, Seed: 100 + uint64(i)})
		addTorrent(t, d.Client(t), tr) // through the WebSocket API: no ids yet
		hashes = append(hashes, tr.InfoHash)
	}
	dirs := d.Dirs
	d.Stop(t)

	putOld := func(v string) {
		t.Helper()
		st, err := store.Open(dirs.Data)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.PutSetting(store.LegacyTransmissionIDsKey, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	putOld(fmt.Sprintf(`{"next":12,"ids":{%q:7,%q:11}}`, hashes[0], hashes[1]))
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c := newTRPC(t, d)
	if a, b := c.one(7), c.one(11); a.HashString != hashes[0] || b.HashString != hashes[1] {
		t.Errorf("after the move: id 7 is %s, id 11 is %s", a.HashString, b.HashString)
	}
	tr := enginetest.Generate(t, enginetest.Content{Name: "m2.bin", Size: 2000, Seed: 102})
	if id := c.addTR(tr, map[string]any{"paused": true}); id != 12 {
		t.Errorf("a new task's id: %d, want 12, the counter moved", id)
	}
	d.Stop(t)

	// Readable JSON of the wrong shape: the daemon starts, the old key is
	// dropped and the ids in the bucket stay.
	putOld(`{"next":"twelve","ids":[7,11]}`)
	d = daemontest.Start(t, daemontest.Options{Dirs: dirs})
	c = newTRPC(t, d)
	if got := c.get(nil); len(got) != 3 || got[0].ID != 7 || got[1].ID != 11 || got[2].ID != 12 {
		t.Errorf("after an unreadable old setting: %+v, want ids 7, 11, 12 kept", got)
	}
	d.Stop(t)
	st, err := store.Open(dirs.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.Setting(store.LegacyTransmissionIDsKey); err != nil || v != nil {
		t.Errorf("the old setting: %q, %v; want it gone", v, err)
	}
}

// TestTransmissionAddr: serve --transmission-addr is a second listener
// with the RPC alone (404 elsewhere), behind the same gates: Basic auth
// with the token, the Host check (its own host:port passes), the
// handshake; Sonarr's GET for the session id gets the 409.
func TestTransmissionAddr(t *testing.T) {
	cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
	cfg.TransmissionAddr = "127.0.0.1:0"
	d := runDaemon(t, cfg)
	addr := d.TransmissionAddr()
	if addr == "" || addr == d.APIAddr() {
		t.Fatalf("transmission addr %q (api %s)", addr, d.APIAddr())
	}
	c := &trpc{t: t, url: "http://" + addr + transmission.Path, pass: daemontest.Token}

	// Sonarr's first request: a GET, answered with the session id.
	resp := c.post("", func(r *http.Request) { r.Method = http.MethodGet })
	if resp.StatusCode != http.StatusConflict || resp.Header.Get(transmission.SessionIDHeader) == "" {
		t.Fatalf("GET without a session id: HTTP %d, want 409 with the id", resp.StatusCode)
	}
	c.session = resp.Header.Get(transmission.SessionIDHeader)
	if resp := c.post("", func(r *http.Request) { r.Method = http.MethodGet }); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET with the session id: HTTP %d, want 405", resp.StatusCode)
	}
	var sess struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(c.ok("session-get", nil), &sess); err != nil || sess.Version != transmission.Version {
		t.Errorf("session-get on the transmission listener: %+v, %v", sess, err)
	}
	if resp := c.post(`{"method":"session-get"}`, func(r *http.Request) { r.URL.Path = transmission.Path + "/" }); resp.StatusCode != http.StatusOK {
		t.Errorf("POST %s/: HTTP %d, want 200", transmission.Path, resp.StatusCode)
	}
	for _, p := range []string{"/", api.Path, "/metrics", "/transmission/web/"} {
		if resp := c.post("", func(r *http.Request) { r.Method, r.URL.Path = http.MethodGet, p }); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the transmission listener: HTTP %d, want 404", p, resp.StatusCode)
		}
	}
	if resp := c.post(`{"method":"session-get"}`, func(r *http.Request) { r.Header.Del("Authorization") }); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no credentials: HTTP %d, want 401", resp.StatusCode)
	}
	if resp := c.post(`{"method":"session-get"}`, func(r *http.Request) { r.Host = "rebound.example:9091" }); resp.StatusCode != http.StatusForbidden {
		t.Errorf("rebound Host: HTTP %d, want 403", resp.StatusCode)
	}
	if resp := c.post(`{"method":"session-get"}`, func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }); resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: HTTP %d, want 403", resp.StatusCode)
	}
	// The same RPC as on the API address: one id table, one session id.
	viaAPI := &trpc{t: t, url: "http://" + d.APIAddr() + transmission.Path, pass: daemontest.Token, session: c.session}
	viaAPI.ok("session-get", nil)
}

// runDaemon runs a daemon of cfg until the test ends.
func runDaemon(t *testing.T, cfg daemon.Config) *daemon.Daemon {
	t.Helper()
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon run: %v", err)
		}
	})
	return d
}

// TestTransmissionAddrTLS: with --tls-cert the Transmission listener
// speaks HTTPS only, as the API does.
func TestTransmissionAddrTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	cfg.TransmissionAddr = "127.0.0.1:0"
	d := runDaemon(t, cfg)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(hc.CloseIdleConnections)
	post := func(url, session string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodPost, url, strings.NewReader(`{"method":"session-get"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("x", daemontest.Token)
		req.Header.Set(transmission.SessionIDHeader, session)
		return hc.Do(req)
	}
	url := "https://" + d.TransmissionAddr() + transmission.Path
	resp, err := post(url, "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("HTTPS without a session id: HTTP %d, want 409", resp.StatusCode)
	}
	if resp, err = post(url, resp.Header.Get(transmission.SessionIDHeader)); err != nil {
		t.Fatal(err)
	}
	var r trpcReply
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil || r.Result != "success" {
		t.Errorf("session-get over HTTPS: %+v, %v", r, err)
	}
	// Plain HTTP gets no RPC answer.
	if resp, err := post("http://"+d.TransmissionAddr()+transmission.Path, ""); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the TLS listener: HTTP %d", resp.StatusCode)
		}
	}
}

// TestTransmissionAddrConfig: --transmission-addr is checked like
// --api-addr: a malformed address, or one reachable from other machines
// without an explicit token, is refused before anything starts.
func TestTransmissionAddrConfig(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:0", "", true},
		{"localhost:9091", "", true},
		{"no-port", daemontest.Token, false},
		{"0.0.0.0:9091", "", false},
		{"0.0.0.0:9091", daemontest.Token, true},
	} {
		cfg := daemontest.Config(t, daemontest.NewDirs(t), false)
		cfg.TransmissionAddr, cfg.Token = tc.addr, tc.token
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("transmission-addr %q, token %v: %v, want ok %v", tc.addr, tc.token != "", err, tc.ok)
		}
	}
}

// TestTransmissionRPCMalformed gives every argument of every method each
// wrong type (and some wrong values), in both protocols: each is an error
// result (invalid params in JSON-RPC), never a success, never a panic
// (recovered as "internal error"), and the daemon answers on.
func TestTransmissionRPCMalformed(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	tr := enginetest.Generate(t, enginetest.MultiFile(74))
	id := c.addTR(tr, map[string]any{"paused": true})
	meta := base64.StdEncoding.EncodeToString(tr.MetaInfo)
	// A torrent not added yet: an add refused for its file choices must
	// leave nothing behind.
	meta2 := base64.StdEncoding.EncodeToString(enginetest.Generate(t, enginetest.MultiFile(75)).MetaInfo)

	wrong := map[string][]any{
		"bool": {"yes", 2, []any{}, map[string]any{}},
		"int":  {"1", true, 1.5, []any{1}, map[string]any{}},
		"num":  {"1", true, []any{}, map[string]any{}},
		"str":  {1, true, []any{"a"}, map[string]any{}},
		"ints": {1, "x", []any{"a"}, []any{1.5}, map[string]any{}, []any{true}},
		"strs": {"a", []any{1}, map[string]any{}, []any{nil, 2}},
		"ids":  {true, map[string]any{}, []any{true}, []any{1.5}, []any{[]any{1}}},
	}
	files := map[string]string{"files-wanted": "ints", "files-unwanted": "ints", "priority-high": "ints", "priority-low": "ints", "priority-normal": "ints"}
	with := func(m map[string]string, more map[string]string) map[string]string {
		out := maps.Clone(m)
		maps.Copy(out, more)
		return out
	}
	type method struct {
		name string
		base map[string]any    // valid arguments the wrong one joins
		args map[string]string // argument → kind
	}
	ids := map[string]string{"ids": "ids"}
	methods := []method{
		{"torrent-add", map[string]any{"metainfo": meta, "paused": true}, with(files, map[string]string{
			"filename": "str", "metainfo": "str", "download-dir": "str", "paused": "bool", "labels": "strs",
			"cookies": "str", "peer-limit": "int", "bandwidthPriority": "int", "sequentialDownload": "bool"})},
		{"torrent-get", map[string]any{"fields": []string{"id"}}, map[string]string{"fields": "strs", "format": "str", "ids": "ids"}},
		{"torrent-set", map[string]any{"ids": []int{id}}, with(files, map[string]string{
			"ids": "ids", "labels": "strs", "downloadLimit": "int", "downloadLimited": "bool", "uploadLimit": "int",
			"uploadLimited": "bool", "seedRatioLimit": "num", "seedRatioMode": "int", "seedIdleLimit": "int",
			"seedIdleMode": "int", "trackerAdd": "strs", "trackerRemove": "ints", "trackerReplace": "strs",
			"trackerList": "str", "sequentialDownload": "bool", "queuePosition": "int", "bandwidthPriority": "int",
			"peer-limit": "int", "honorsSessionLimits": "bool", "group": "str", "location": "str"})},
		{"torrent-start", nil, ids}, {"torrent-start-now", nil, ids}, {"torrent-stop", nil, ids},
		{"torrent-verify", nil, ids}, {"torrent-reannounce", nil, ids},
		{"torrent-remove", map[string]any{"ids": []int{-1}}, map[string]string{"ids": "ids", "delete-local-data": "bool"}},
		{"torrent-set-location", map[string]any{"ids": []int{-1}, "location": d.Dirs.Download}, map[string]string{"ids": "ids", "location": "str", "move": "bool"}},
		{"queue-move-top", nil, ids}, {"queue-move-up", nil, ids}, {"queue-move-down", nil, ids}, {"queue-move-bottom", nil, ids},
		{"session-get", nil, map[string]string{"fields": "strs"}},
		{"session-set", nil, map[string]string{
			"speed-limit-down": "int", "speed-limit-down-enabled": "bool", "speed-limit-up": "int", "speed-limit-up-enabled": "bool",
			"download-dir": "str", "seedRatioLimit": "num", "seedRatioLimited": "bool", "idle-seeding-limit": "int",
			"idle-seeding-limit-enabled": "bool", "download-queue-size": "int", "download-queue-enabled": "bool",
			"seed-queue-size": "int", "seed-queue-enabled": "bool", "peer-port": "int"}},
		{"free-space", nil, map[string]string{"path": "str"}},
		{"port-test", nil, map[string]string{"ipProtocol": "str"}},
	}
	// Right types, wrong values.
	badValues := []struct {
		method string
		args   map[string]any
	}{
		{"torrent-get", map[string]any{"fields": []string{"id"}, "format": "rows"}},
		{"torrent-set", map[string]any{"ids": id, "downloadLimit": -5}},
		{"torrent-set", map[string]any{"ids": id, "seedRatioMode": 3}},
		{"torrent-set", map[string]any{"ids": id, "seedIdleMode": -1}},
		{"torrent-set", map[string]any{"ids": id, "seedRatioLimit": -1}},
		{"torrent-set", map[string]any{"ids": id, "queuePosition": -1}},
		{"torrent-set", map[string]any{"ids": id, "trackerReplace": []any{0}}},
		{"torrent-set", map[string]any{"ids": id, "files-wanted": []int{99}}},
		{"torrent-set", map[string]any{"ids": id, "priority-low": []int{-1}}},
		{"torrent-add", map[string]any{"metainfo": meta2, "files-unwanted": []int{99}}},
		{"session-set", map[string]any{"speed-limit-down": -1}},
		{"session-set", map[string]any{"peer-port": 0}},
		{"session-set", map[string]any{"download-queue-size": 1e300}},
		{"port-test", map[string]any{"ipProtocol": "ipx"}},
		{"free-space", map[string]any{}},
	}

	n := 0
	check := func(method string, args map[string]any) {
		t.Helper()
		n++
		r := c.call(method, args)
		if r.Result == "success" || r.Result == "internal error" {
			t.Errorf("%s %v: result %q, want an error", method, args, r.Result)
		}
		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": strings.ReplaceAll(method, "-", "_"), "params": args, "id": n})
		_, b := c.raw(string(body))
		var rr rpcResp
		if err := json.Unmarshal(b, &rr); err != nil || rr.Error == nil || rr.Error.Code == -32603 {
			t.Errorf("JSON-RPC %s %v: %s, want an error object", method, args, b)
		}
	}
	for _, m := range methods {
		for arg, kind := range m.args {
			for _, v := range wrong[kind] {
				args := maps.Clone(m.base)
				if args == nil {
					args = map[string]any{}
				}
				args[arg] = v
				check(m.name, args)
			}
		}
	}
	for _, b := range badValues {
		check(b.method, b.args)
	}
	// Arguments that are not an object at all.
	for _, body := range []string{`{"method":"torrent-get","arguments":"fields"}`, `{"method":"session-set","arguments":[1]}`, `{"method":5}`} {
		status, b := c.raw(body)
		var r trpcReply
		if err := json.Unmarshal(b, &r); status != http.StatusOK || err != nil || r.Result == "success" || r.Result == "internal error" {
			t.Errorf("%s: HTTP %d %s, want an error result", body, status, b)
		}
	}
	// Still answering, the task unchanged, nothing added.
	if got := c.get(nil); len(got) != 1 || got[0].HashString != tr.InfoHash || got[0].Status != 0 {
		t.Errorf("the tasks after the malformed calls: %+v, want only %s, stopped", got, tr.InfoHash)
	}
}

// TestTransmissionRPCQueueAndSeedLimits: queue-move-* and torrent-set's
// queuePosition reorder the queue as Transmission does (several tasks
// keep their relative order, whatever the order of the ids given);
// torrent-set's seed limits and modes are the task's own limits
// (seed_ratio_limit, seed_idle_limit) and read back in Transmission's
// terms.
func TestTransmissionRPCQueueAndSeedLimits(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	ws := d.Client(t)
	var ids []int
	for i := range 4 {
		tr := enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("q%d.bin", i), Size: 3000, Seed: 110 + uint64(i)})
		ids = append(ids, c.addTR(tr, map[string]any{"paused": true}))
	}
	a, b, cc, dd := ids[0], ids[1], ids[2], ids[3]
	order := func() []int {
		t.Helper()
		ts := c.torrents(nil, "id", "queuePosition")
		out := make([]int, len(ts))
		for _, m := range ts {
			p := field[int](t, m, "queuePosition")
			if p < 0 || p >= len(out) || out[p] != 0 {
				t.Fatalf("queue positions %v", ts)
			}
			out[p] = field[int](t, m, "id")
		}
		return out
	}
	if got := order(); !slices.Equal(got, []int{a, b, cc, dd}) {
		t.Fatalf("queue after adding: %v, want %v", got, []int{a, b, cc, dd})
	}
	for _, step := range []struct {
		method string
		ids    []int
		want   []int
	}{
		{"queue-move-bottom", []int{b, a}, []int{cc, dd, a, b}},
		{"queue-move-top", []int{b, a}, []int{a, b, cc, dd}},
		{"queue-move-down", []int{a}, []int{b, a, cc, dd}},
		{"queue-move-up", []int{cc}, []int{b, cc, a, dd}},
		{"queue-move-down", []int{b, cc}, []int{a, b, cc, dd}},
		{"queue-move-up", []int{dd, cc}, []int{a, cc, dd, b}},
	} {
		c.ok(step.method, map[string]any{"ids": step.ids})
		if got := order(); !slices.Equal(got, step.want) {
			t.Errorf("%s %v: queue %v, want %v", step.method, step.ids, got, step.want)
		}
	}
	c.ok("torrent-set", map[string]any{"ids": []int{a}, "queuePosition": 2})
	if got := order(); !slices.Equal(got, []int{cc, dd, a, b}) {
		t.Errorf("torrent-set queuePosition 2: %v, want %v", got, []int{cc, dd, a, b})
	}

	// Seed limits, as Sonarr sets them: a value with mode 1.
	hash := c.one(a).HashString
	c.ok("session-set", map[string]any{"seedRatioLimit": 3, "seedRatioLimited": true})
	c.ok("torrent-set", map[string]any{"ids": []string{hash}, "seedRatioLimit": 2.5, "seedRatioMode": 1, "seedIdleLimit": 30, "seedIdleMode": 1})
	task, err := ws.GetTask(ctxT(t, 10*time.Second), hash)
	if err != nil {
		t.Fatal(err)
	}
	if task.SeedRatioLimit != 2.5 || task.SeedIdleLimit != 30*60 {
		t.Errorf("task limits after torrent-set: ratio %v, idle %d; want 2.5 and 1800", task.SeedRatioLimit, task.SeedIdleLimit)
	}
	seed := func() (int, float64, int, int64) {
		m := c.torrents(a, "seedRatioMode", "seedRatioLimit", "seedIdleMode", "seedIdleLimit")[0]
		return field[int](t, m, "seedRatioMode"), field[float64](t, m, "seedRatioLimit"), field[int](t, m, "seedIdleMode"), field[int64](t, m, "seedIdleLimit")
	}
	if rm, rl, im, il := seed(); rm != 1 || rl != 2.5 || im != 1 || il != 30 {
		t.Errorf("read back: ratio mode %d limit %v, idle mode %d limit %d; want 1 2.5 1 30", rm, rl, im, il)
	}
	// Mode 2 is no limit, mode 0 the session's (its value reported); a
	// value alone under mode 0 changes nothing, as in Transmission.
	c.ok("torrent-set", map[string]any{"ids": a, "seedRatioMode": 2, "seedIdleMode": 0})
	c.ok("torrent-set", map[string]any{"ids": a, "seedIdleLimit": 99})
	if task, err = ws.GetTask(ctxT(t, 10*time.Second), hash); err != nil {
		t.Fatal(err)
	}
	if task.SeedRatioLimit != -1 || task.SeedIdleLimit != -2 {
		t.Errorf("after modes 2 and 0: ratio %v, idle %d; want -1 and -2", task.SeedRatioLimit, task.SeedIdleLimit)
	}
	if rm, rl, im, _ := seed(); rm != 2 || im != 0 || rl != 3 {
		t.Errorf("read back: ratio mode %d limit %v, idle mode %d; want 2 (3, the session's) 0", rm, rl, im)
	}
	// Mode 1 without a value takes the session's.
	c.ok("torrent-set", map[string]any{"ids": a, "seedRatioMode": 1})
	if task, err = ws.GetTask(ctxT(t, 10*time.Second), hash); err != nil || task.SeedRatioLimit != 3 {
		t.Errorf("mode 1 without a value: ratio %v (%v), want the session's 3", task.SeedRatioLimit, err)
	}
}

// TestTransmissionIDsConcurrent: adds and listings running side by side
// keep every task's id: the id torrent-add gives is the one torrent-get
// shows afterwards, and no two tasks share one.
func TestTransmissionIDsConcurrent(t *testing.T) {
	d := daemontest.Start(t, daemontest.Options{})
	c := newTRPC(t, d)
	c.ok("session-get", nil) // learns the session id
	const n = 12
	trs := make([]*enginetest.Torrent, n)
	for i := range trs {
		trs[i] = enginetest.Generate(t, enginetest.Content{Name: fmt.Sprintf("c%d.bin", i), Size: 1000, Seed: 120 + uint64(i)})
	}
	// A client of its own, its idle connections closed before the daemon
	// stops: a connection dialled but never used would hold up the
	// daemon's shutdown.
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	do := func(ctx context.Context, method string, args any) (json.RawMessage, error) {
		b, _ := json.Marshal(map[string]any{"method": method, "arguments": args})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth("x", c.pass)
		req.Header.Set(transmission.SessionIDHeader, c.session)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var r trpcReply
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Result != "success" {
			return nil, fmt.Errorf("%s: HTTP %d %+v %v", method, resp.StatusCode, r, err)
		}
		return r.Arguments, nil
	}
	added := make([]int, n)
	eachConcurrently(t, 2*n, func(ctx context.Context, i int) error {
		if i%2 == 1 {
			for range 5 {
				if _, err := do(ctx, "torrent-get", map[string]any{"fields": []string{"id", "hashString"}}); err != nil {
					return err
				}
			}
			return nil
		}
		raw, err := do(ctx, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(trs[i/2].MetaInfo), "paused": true})
		if err != nil {
			return err
		}
		var r struct {
			Added struct {
				ID int `json:"id"`
			} `json:"torrent-added"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		added[i/2] = r.Added.ID
		return nil
	})
	seen := map[int]bool{}
	for i, tr := range trs {
		got := c.one([]string{tr.InfoHash})
		if got.ID != added[i] || seen[got.ID] {
			t.Errorf("%s: torrent-add gave id %d, torrent-get shows %d (seen before: %v)", tr.Name, added[i], got.ID, seen[got.ID])
		}
		seen[got.ID] = true
	}
}
