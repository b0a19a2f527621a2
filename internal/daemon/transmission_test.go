package daemon_test

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
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
