package qbittorrent

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

// TestTorrentState maps every Lodestone state (and Busy) to
// qBittorrent's state string, with the cases that depend on rates and
// on the selected data being complete.
func TestTorrentState(t *testing.T) {
	half := []api.TaskFile{{Path: "x", Size: 100, Completed: 50, Priority: api.PriorityNormal}}
	full := []api.TaskFile{{Path: "x", Size: 100, Completed: 100, Priority: api.PriorityNormal}}
	// Only the selected file counts: the skipped one is incomplete.
	selectedDone := []api.TaskFile{
		{Path: "d/a", Size: 100, Completed: 100, Priority: api.PriorityNormal},
		{Path: "d/b", Size: 100, Completed: 0, Priority: api.PrioritySkip},
	}
	task := func(st api.TaskState, mod func(*api.Task)) api.Task {
		tk := api.Task{TaskID: "aa", State: st, Pieces: 10, Size: 100}
		if mod != nil {
			mod(&tk)
		}
		return tk
	}
	cases := []struct {
		name  string
		task  api.Task
		files []api.TaskFile
		want  string
	}{
		{"metadata", task(api.StateMetadata, func(t *api.Task) { t.Pieces = 0 }), nil, stateMetaDL},
		{"checking incomplete", task(api.StateChecking, nil), half, stateCheckingDL},
		{"checking complete", task(api.StateChecking, nil), full, stateCheckingUP},
		{"downloading with payload", task(api.StateDownloading, func(t *api.Task) { t.DownloadRate = 1 }), half, stateDownloading},
		{"downloading without payload", task(api.StateDownloading, nil), half, stateStalledDL},
		{"seeding with payload", task(api.StateSeeding, func(t *api.Task) { t.UploadRate = 1 }), full, stateUploading},
		{"seeding without payload", task(api.StateSeeding, nil), full, stateStalledUP},
		{"paused incomplete", task(api.StatePaused, nil), half, stateStoppedDL},
		{"paused complete", task(api.StatePaused, nil), full, stateStoppedUP},
		{"paused, selected files complete", task(api.StatePaused, nil), selectedDone, stateStoppedUP},
		{"paused magnet", task(api.StatePaused, func(t *api.Task) { t.Pieces = 0 }), nil, stateStoppedDL},
		{"queued incomplete", task(api.StateQueued, nil), half, stateQueuedDL},
		{"queued complete", task(api.StateQueued, nil), full, stateQueuedUP},
		{"finished (seed limit reached)", task(api.StateFinished, nil), full, stateStoppedUP},
		{"error", task(api.StateError, func(t *api.Task) { t.Error = "disk full" }), half, stateError},
		{"data dir missing", task(api.StateError, func(t *api.Task) { t.Error = "data dir missing: /x" }), half, stateMissingFiles},
		{"moving", task(api.StateSeeding, func(t *api.Task) { t.Busy = api.BusyMoving }), full, stateMoving},
		{"removing keeps its state", task(api.StateSeeding, func(t *api.Task) { t.Busy = api.BusyRemoving }), full, stateStalledUP},
	}
	covered := map[api.TaskState]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ti := torrentInfo{task: c.task, files: c.files}
			if got := torrentState(&ti); got != c.want {
				t.Errorf("state %s: %q, want %q", c.task.State, got, c.want)
			}
		})
		covered[c.task.State] = true
	}
	for _, st := range api.TaskStates {
		if !covered[st] {
			t.Errorf("state %s has no case", st)
		}
	}
}

// TestTorrentObject checks the computed fields: the selected size and
// progress, amount_left, eta, paths of single- and multi-file torrents,
// tags, times, peer counts and the magnet link.
func TestTorrentObject(t *testing.T) {
	h := &Handler{}
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	ti := torrentInfo{
		task: api.Task{
			TaskID: "0123456789abcdef0123456789abcdef01234567", Name: "show", Size: 300, State: api.StateDownloading,
			Pieces: 3, PieceSize: 100, DownloadDir: "/dl", Labels: []string{"tv", "hd"},
			AddedAt: "2026-12-07T02:00:00Z", DownloadRate: 10, ETASeconds: 20, Peers: 2,
			SeedRatioLimit: api.SeedLimitSession, SeedTimeLimit: api.SeedLimitSession, SeedIdleLimit: 90,
			QueuePosition: 4, SecondsDownloading: 100, SecondsSeeding: 0, Private: true,
		},
		files: []api.TaskFile{
			{Path: "show/a.mkv", Size: 200, Completed: 100, Priority: api.PriorityNormal},
			{Path: "show/b.nfo", Size: 100, Completed: 0, Priority: api.PrioritySkip},
		},
		peers: []api.TaskPeer{
			{Address: "127.0.0.1:1", Progress: 1, Flags: []string{"seed"}},
			{Address: "127.0.0.1:2", Progress: 0.5},
		},
		trackers: []api.TaskTracker{{URL: "http://tr/announce", Status: "working", Seeders: 5, Leechers: 7}},
		settings: api.Settings{SeedRatioLimit: 2, SeedTimeLimit: 3600},
	}
	o := h.torrentObject(&ti, now)
	want := map[string]any{
		"hash": ti.task.TaskID, "infohash_v1": ti.task.TaskID, "infohash_v2": "",
		"size": int64(200), "total_size": int64(300), "progress": 0.5, "amount_left": int64(100), "completed": int64(100),
		"eta": int64(20), "state": stateDownloading, "tags": "tv, hd",
		"save_path": "/dl", "content_path": "/dl/show", "root_path": "/dl/show",
		"added_on": now.Add(-time.Hour).Unix(), "completion_on": int64(-1),
		"num_seeds": int64(1), "num_leechs": int64(1), "num_complete": int64(5), "num_incomplete": int64(7),
		"tracker": "http://tr/announce", "trackers_count": int64(1), "last_activity": now.Unix(),
		"max_ratio": 2.0, "max_seeding_time": int64(60), "ratio_limit": -2.0, "seeding_time_limit": int64(-2),
		"inactive_seeding_time_limit": int64(2), "max_inactive_seeding_time": int64(2),
		"priority": int64(5), "time_active": int64(100), "seeding_time": int64(0), "private": true,
		"auto_tmm": false, "category": "", "download_path": "",
	}
	for k, v := range want {
		if o[k] != v {
			t.Errorf("%s = %#v, want %#v", k, o[k], v)
		}
	}
	if m := o["magnet_uri"].(string); !strings.HasPrefix(m, "magnet:?xt=urn:btih:"+ti.task.TaskID) || !strings.Contains(m, "&tr=http%3A%2F%2Ftr%2Fannounce") {
		t.Errorf("magnet_uri %q", m)
	}
	for k, v := range o {
		switch v.(type) {
		case string, bool, int64, float64:
		default:
			t.Errorf("%s is a %T: sync compares fields with ==, so every value must be a plain scalar", k, v)
		}
	}

	// A single file: content_path is the file, root_path empty; a
	// stalled, finished task has the "infinite" ETA.
	single := torrentInfo{
		task: api.Task{TaskID: "bb", Name: "f.iso", Size: 5, Completed: 5, State: api.StateSeeding, Pieces: 1, DownloadDir: "/dl", FinishedAt: "2026-12-07T02:30:00Z", ETASeconds: -1,
			SeedRatioLimit: api.SeedLimitNone, SeedTimeLimit: api.SeedLimitSession, SeedIdleLimit: api.SeedLimitSession,
			QueuePosition: 7, ActiveAt: "2026-12-07T02:45:00Z", SecondsSeeding: 60},
		files: []api.TaskFile{{Path: "f.iso", Size: 5, Completed: 5, Priority: api.PriorityNormal}},
	}
	o = h.torrentObject(&single, now)
	if o["content_path"] != "/dl/f.iso" || o["root_path"] != "" || o["eta"] != int64(maxETA) || o["progress"] != 1.0 ||
		o["completion_on"] != now.Add(-30*time.Minute).Unix() || o["state"] != stateStalledUP || o["max_ratio"] != -1.0 || o["ratio_limit"] != -1.0 ||
		o["max_seeding_time"] != int64(-1) || o["max_inactive_seeding_time"] != int64(-1) || o["priority"] != int64(0) ||
		o["last_activity"] != now.Add(-15*time.Minute).Unix() || o["seeding_time"] != int64(60) {
		t.Errorf("single file: %v", o)
	}

	// Finished at its time limit: seeding_time counts from finished_at
	// (Lodestone's rule), so Sonarr sees the limit reached.
	single.task.State = api.StateFinished
	single.settings = api.Settings{SeedTimeLimit: 1200}
	o = h.torrentObject(&single, now)
	if o["state"] != stateStoppedUP || o["seeding_time"] != int64(30*60) || o["max_seeding_time"] != int64(20) {
		t.Errorf("finished: state %v seeding_time %v max_seeding_time %v", o["state"], o["seeding_time"], o["max_seeding_time"])
	}
}

// TestInfoQuery checks torrents/info's filters, category and tag
// rules, hashes, sort (and a bad key), reverse, limit and offset.
func TestInfoQuery(t *testing.T) {
	objs := []struct {
		task api.Task
		obj  map[string]any
	}{
		{api.Task{TaskID: "a", Labels: []string{"tv"}}, map[string]any{"name": "c", "state": stateDownloading, "dlspeed": int64(5), "upspeed": int64(0), "category": "", "private": false, "size": int64(3)}},
		{api.Task{TaskID: "b"}, map[string]any{"name": "a", "state": stateStalledUP, "dlspeed": int64(0), "upspeed": int64(0), "category": "", "private": false, "size": int64(1)}},
		{api.Task{TaskID: "c", Labels: []string{"movies"}}, map[string]any{"name": "b", "state": stateStoppedDL, "dlspeed": int64(0), "upspeed": int64(0), "category": "", "private": false, "size": int64(2)}},
		{api.Task{TaskID: "d"}, map[string]any{"name": "d", "state": stateMissingFiles, "dlspeed": int64(0), "upspeed": int64(0), "category": "", "private": false, "size": int64(4)}},
		{api.Task{TaskID: "e"}, map[string]any{"name": "e", "state": stateStoppedUP, "dlspeed": int64(0), "upspeed": int64(7), "category": "", "private": false, "size": int64(5)}},
	}
	run := func(query string) ([]string, error) {
		r := httptest.NewRequest("GET", "/api/v2/torrents/info?"+query, nil)
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}
		q := parseInfoQuery(r)
		var list []map[string]any
		for _, o := range objs {
			if q.match(o.task, o.obj) {
				list = append(list, o.obj)
			}
		}
		list, err := q.apply(list)
		var names []string
		for _, o := range list {
			names = append(names, o["name"].(string))
		}
		return names, err
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"", []string{"c", "a", "b", "d", "e"}},
		{"filter=all", []string{"c", "a", "b", "d", "e"}},
		{"filter=nonsense", []string{"c", "a", "b", "d", "e"}},
		{"filter=downloading", []string{"c", "b"}},
		{"filter=seeding", []string{"a"}},
		{"filter=completed", []string{"a", "e"}},
		{"filter=stopped", []string{"b", "e"}},
		{"filter=paused", []string{"b", "e"}},
		{"filter=running", []string{"c", "a", "d"}},
		{"filter=resumed", []string{"c", "a", "d"}},
		{"filter=active", []string{"c", "e"}},
		{"filter=inactive", []string{"a", "b", "d"}},
		{"filter=stalled", []string{"a"}},
		{"filter=stalled_uploading", []string{"a"}},
		{"filter=stalled_downloading", nil},
		{"filter=errored", []string{"d"}},
		{"filter=checking", nil},
		{"filter=moving", nil},
		{"tag=tv", []string{"c"}},
		{"tag=", []string{"a", "d", "e"}},
		{"category=", []string{"c", "a", "b", "d", "e"}},
		{"category=tv", nil},
		{"hashes=A|c", []string{"c", "b"}},
		{"sort=name", []string{"a", "b", "c", "d", "e"}},
		{"sort=size&reverse=true", []string{"e", "d", "c", "b", "a"}},
		{"sort=name&limit=2", []string{"a", "b"}},
		{"sort=name&limit=2&offset=1", []string{"b", "c"}},
		{"sort=name&offset=-2", []string{"d", "e"}},
		{"sort=name&offset=9", nil},
		{"limit=0&offset=0", []string{"c", "a", "b", "d", "e"}},
	}
	for _, c := range cases {
		got, err := run(c.query)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %v, %v; want %v", c.query, got, err, c.want)
		}
	}
	if _, err := run("sort=nosuchfield"); err == nil || err.Error() != textBadSort {
		t.Errorf("bad sort key: %v, want %q", err, textBadSort)
	}
	// Nothing to sort: no error, as qBittorrent.
	if got, err := run("category=none&sort=nosuchfield"); err != nil || got != nil {
		t.Errorf("bad sort key on an empty list: %v, %v", got, err)
	}
}

// TestMaindataDiff checks what a delta carries: the changed fields of a
// changed torrent only, a new torrent whole, removed torrents and tags,
// added tags, a changed tracker's whole list and removed trackers,
// changed server_state fields; an unchanged torrent (same object) and
// tracker are left out.
func TestMaindataDiff(t *testing.T) {
	same := &tobj{fields: map[string]any{"name": "same", "progress": 1.0}}
	prev := &snapshot{
		torrents: map[string]*tobj{
			"keep": same,
			"chg":  {fields: map[string]any{"name": "chg", "progress": 0.25, "state": stateDownloading}},
			"gone": {fields: map[string]any{"name": "gone"}},
		},
		cats:     map[string]map[string]any{"old": {"name": "old", "savePath": "/o"}},
		tags:     []string{"a", "b"},
		trackers: map[string][]string{"http://t1": {"chg", "keep"}, "http://t2": {"gone"}, "http://t3": {"keep"}},
		server:   map[string]any{"dl_info_speed": int64(1), "connection_status": "connected"},
	}
	cur := &snapshot{
		torrents: map[string]*tobj{
			"keep": same,
			"chg":  {fields: map[string]any{"name": "chg", "progress": 0.5, "state": stateDownloading}},
			"new":  {fields: map[string]any{"name": "new"}},
		},
		cats:     map[string]map[string]any{"tv": {"name": "tv", "savePath": "/tv"}},
		tags:     []string{"b", "c"},
		trackers: map[string][]string{"http://t1": {"chg", "keep", "new"}, "http://t3": {"keep"}},
		server:   map[string]any{"dl_info_speed": int64(2), "connection_status": "connected"},
	}
	out := map[string]any{}
	diffInto(out, prev, cur)
	b, _ := json.Marshal(out)
	want := `{"categories":{"tv":{"name":"tv","savePath":"/tv"}},"categories_removed":["old"],"server_state":{"dl_info_speed":2},"tags":["c"],"tags_removed":["a"],"torrents":{"chg":{"progress":0.5},"new":{"name":"new"}},"torrents_removed":["gone"],"trackers":{"http://t1":["chg","keep","new"]},"trackers_removed":["http://t2"]}`
	if string(b) != want {
		t.Errorf("delta:\n%s\nwant\n%s", b, want)
	}
	// Nothing changed: nothing but what maindata adds (rid).
	out = map[string]any{}
	diffInto(out, cur, cur)
	if len(out) != 0 {
		t.Errorf("delta of a snapshot with itself: %v", out)
	}
}

// TestPrefsParams maps app/setPreferences' keys to session settings:
// units (minutes, bytes/s), the *_enabled switches, queueing, and
// unknown keys ignored; a value of the wrong type is an error.
func TestPrefsParams(t *testing.T) {
	parse := func(js string) (api.SessionSetParams, error) {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(js), &raw); err != nil {
			t.Fatal(err)
		}
		return prefsParams(raw)
	}
	p, err := parse(`{"dl_limit":1024,"up_limit":-1,"max_ratio":1.5,"max_seeding_time":90,"max_inactive_seeding_time":5,"max_active_downloads":3,"max_active_uploads":4,"save_path":"/x","listen_port":6881,"web_ui_password":"ignored"}`)
	if err != nil {
		t.Fatal(err)
	}
	if *p.DownloadRateLimit != 1024 || *p.UploadRateLimit != 0 || *p.SeedRatioLimit != 1.5 || *p.SeedTimeLimit != 90*60 || *p.SeedIdleLimit != 5*60 ||
		*p.MaxActiveDownloads != 3 || *p.MaxActiveSeeds != 4 || *p.DownloadDir != "/x" || *p.PeerPort != 6881 {
		t.Errorf("params: %+v", p)
	}
	p, err = parse(`{"max_ratio_enabled":false,"max_ratio":2,"max_seeding_time_enabled":false,"max_inactive_seeding_time_enabled":false,"queueing_enabled":false}`)
	if err != nil {
		t.Fatal(err)
	}
	if *p.SeedRatioLimit != 0 || *p.SeedTimeLimit != 0 || *p.SeedIdleLimit != 0 || *p.MaxActiveDownloads != 0 || *p.MaxActiveSeeds != 0 {
		t.Errorf("switched off: %+v", p)
	}
	p, err = parse(`{"locale":"en"}`)
	if err != nil || p != (api.SessionSetParams{}) {
		t.Errorf("only unknown keys: %+v, %v", p, err)
	}
	if _, err := parse(`{"dl_limit":"fast"}`); err == nil {
		t.Error("dl_limit as a string: no error")
	}
}

// TestPeerObject checks sync/torrentPeers' peer fields and flags.
func TestPeerObject(t *testing.T) {
	o := peerObject(api.TaskPeer{Address: "[::1]:6881", Client: "Lodestone", Source: "dht", Progress: 1,
		DownloadRate: 3, UploadRate: 4, Downloaded: 5, Uploaded: 6, Flags: []string{"utp", "incoming", "seed"}})
	if o["ip"] != "::1" || o["port"] != 6881 || o["client"] != "Lodestone" || o["connection"] != "μTP" ||
		o["flags"] != "P I H" || o["dl_speed"] != int64(3) || o["up_speed"] != int64(4) || o["progress"] != 1.0 || o["country"] != "" {
		t.Errorf("peer: %v", o)
	}
}

// TestTrackerMap builds maindata's trackers from the torrents' lists.
func TestTrackerMap(t *testing.T) {
	m := trackerMap(map[string]*tobj{
		"b": {trackers: []string{"http://x", "udp://y"}},
		"a": {trackers: []string{"http://x"}},
		"c": {},
	})
	b, _ := json.Marshal(m)
	if want := `{"http://x":["a","b"],"udp://y":["b"]}`; string(b) != want {
		t.Errorf("trackers %s, want %s", b, want)
	}
}
