package transmission

import (
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/store"
)

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		task api.Task
		want int
	}{
		{api.Task{State: api.StatePaused}, statusStopped},
		{api.Task{State: api.StateFinished, Size: 10, Completed: 10}, statusStopped},
		{api.Task{State: api.StateError}, statusStopped},
		{api.Task{State: api.StateChecking}, statusChecking},
		{api.Task{State: api.StateMetadata}, statusDownloading},
		{api.Task{State: api.StateDownloading, Size: 10}, statusDownloading},
		{api.Task{State: api.StateQueued, Size: 10, Completed: 3}, statusDownloadWait},
		{api.Task{State: api.StateQueued}, statusDownloadWait},
		{api.Task{State: api.StateQueued, Size: 10, Completed: 10}, statusSeedWait},
		{api.Task{State: api.StateSeeding, Size: 10, Completed: 10}, statusSeeding},
	} {
		if got := status(tc.task); got != tc.want {
			t.Errorf("status(%s, %d/%d) = %d, want %d", tc.task.State, tc.task.Completed, tc.task.Size, got, tc.want)
		}
	}
}

// TestIDsKeptInStore: ids survive reopening the store, a removed task's
// id is dropped and never handed out again.
func TestIDsKeptInStore(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := loadIDs(st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ids.assign([]string{"a", "b", "c"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got["a"] != 1 || got["b"] != 2 || got["c"] != 3 {
		t.Fatalf("first ids: %v", got)
	}
	// "a" is gone; "d" is new.
	live := map[string]bool{"b": true, "c": true, "d": true}
	if got, err = ids.assign([]string{"b", "c", "d"}, func(k string) bool { return live[k] }); err != nil {
		t.Fatal(err)
	}
	if got["b"] != 2 || got["c"] != 3 || got["d"] != 4 {
		t.Fatalf("after a removal: %v", got)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids, err = loadIDs(st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ids.lookup("a"); ok {
		t.Error("the removed task still has an id after reopening")
	}
	if got, err = ids.assign([]string{"a", "b", "d"}, nil); err != nil {
		t.Fatal(err)
	}
	if got["b"] != 2 || got["d"] != 4 || got["a"] != 5 {
		t.Errorf("after reopening: %v, want b 2, d 4 and a new 5 for a", got)
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"downloadDir":          "download_dir",
		"download-dir":         "download_dir",
		"download_dir":         "download_dir",
		"hashString":           "hash_string",
		"file-count":           "file_count",
		"fileCount":            "file_count",
		"isUTP":                "is_utp",
		"seedRatioLimited":     "seed_ratio_limited",
		"torrent-set-location": "torrent_set_location",
		"recently-active":      "recently_active",
		"peer-limit":           "peer_limit",
		"primary-mime-type":    "primary_mime_type",
		"rpc-version-semver":   "rpc_version_semver",
		"webseedsSendingToUs":  "webseeds_sending_to_us",
		"cumulative-stats":     "cumulative_stats",
		"uploadedBytes":        "uploaded_bytes",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestToJSONRPC: every object key, at any depth, and the names of a
// table's first row turn snake_case; values (labels, paths) stay.
func TestToJSONRPC(t *testing.T) {
	in := map[string]any{
		"torrents": []map[string]any{{
			"hashString": "ab",
			"labels":     []string{"tv-Sonarr", "keep-Me"},
			"peers":      []map[string]any{{"isUTP": true, "rateToClient": 1}},
			"peersFrom":  map[string]any{"fromDht": 2},
		}},
		"table":   []any{keyRow{"hashString", "file-count"}, []any{"ab", 3}},
		"removed": []int{4},
	}
	got, err := json.Marshal(toJSONRPC(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"removed":[4],"table":[["hash_string","file_count"],["ab",3]],"torrents":[{"hash_string":"ab","labels":["tv-Sonarr","keep-Me"],"peers":[{"is_utp":true,"rate_to_client":1}],"peers_from":{"from_dht":2}}]}`
	if string(got) != want {
		t.Errorf("toJSONRPC:\n got %s\nwant %s", got, want)
	}
}

// TestFilePriorities: Transmission's wanted flags and priorities folded
// into Lodestone's one priority per file.
func TestFilePriorities(t *testing.T) {
	files := func(p ...string) []api.TaskFile {
		out := make([]api.TaskFile, len(p))
		for i, x := range p {
			out[i] = api.TaskFile{Index: i, Priority: x}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		c    fileChoices
		cur  []api.TaskFile
		want map[int]string
		err  bool
	}{
		{"unwanted", fileChoices{unwanted: []int{1}, hasUnwant: true}, files("normal", "normal", "high"), map[int]string{1: "skip"}, false},
		{"unwanted all", fileChoices{hasUnwant: true}, files("normal", "high"), map[int]string{0: "skip", 1: "skip"}, false},
		{"wanted keeps a priority", fileChoices{wanted: []int{0, 1}, hasWanted: true}, files("skip", "high"), map[int]string{0: "normal"}, false},
		{"high on a wanted file", fileChoices{high: []int{0, 1}, hasHigh: true}, files("normal", "skip"), map[int]string{0: "high"}, false},
		{"low is normal", fileChoices{low: []int{0}, hasLow: true}, files("high"), map[int]string{0: "normal"}, false},
		{"unwanted then wanted", fileChoices{unwanted: []int{0}, hasUnwant: true, wanted: []int{0}, hasWanted: true}, files("high"), map[int]string{0: "normal"}, false},
		{"out of range", fileChoices{wanted: []int{2}, hasWanted: true}, files("normal"), nil, true},
		{"negative", fileChoices{high: []int{-1}, hasHigh: true}, files("normal"), nil, true},
	} {
		got, err := tc.c.priorities(tc.cur)
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.err)
			continue
		}
		if !tc.err && !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestScrapeAndSitename: the derived tracker fields.
func TestScrapeAndSitename(t *testing.T) {
	for _, tc := range []struct{ announce, scrape, site string }{
		{"http://tracker.example.org:6969/announce", "http://tracker.example.org:6969/scrape", "example"},
		{"https://t.example.com/a/announce.php?k=1", "https://t.example.com/a/scrape.php?k=1", "example"},
		{"http://127.0.0.1:80/x", "", "127.0.0.1"},
		{"udp://open.example.net:1337", "udp://open.example.net:1337", "example"},
	} {
		if got := scrapeURL(tc.announce); got != tc.scrape {
			t.Errorf("scrapeURL(%s) = %q, want %q", tc.announce, got, tc.scrape)
		}
		if got := sitename(tc.announce); got != tc.site {
			t.Errorf("sitename(%s) = %q, want %q", tc.announce, got, tc.site)
		}
	}
}

// TestIDsMigrated: the table kept in the old settings key moves to its
// bucket once, ids kept; a value of the old key that cannot be read
// (valid JSON, wrong shape) is dropped with a warning and the table
// starts afresh, never failing the start.
func TestIDsMigrated(t *testing.T) {
	for _, tc := range []struct {
		name, old string
		want      map[string]int
		next      string // the task given the next id
		nextID    int
	}{
		{"readable", `{"next":7,"ids":{"aa":1,"bb":6}}`, map[string]int{"aa": 1, "bb": 6}, "cc", 7},
		{"counter below an id", `{"next":2,"ids":{"aa":5}}`, map[string]int{"aa": 5}, "cc", 6},
		{"wrong shape", `{"next":"seven","ids":[1,2]}`, map[string]int{}, "cc", 1},
		{"not an object", `[1,2,3]`, map[string]int{}, "cc", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.PutSetting(store.LegacyTransmissionIDsKey, []byte(tc.old)); err != nil {
				t.Fatal(err)
			}
			ids, err := loadIDs(st, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("loadIDs: %v", err)
			}
			for task, id := range tc.want {
				if got, ok := ids.lookup(task); !ok || got != id {
					t.Errorf("id of %s: %d %v, want %d", task, got, ok, id)
				}
			}
			got, err := ids.assign([]string{tc.next}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got[tc.next] != tc.nextID {
				t.Errorf("new task's id %d, want %d", got[tc.next], tc.nextID)
			}
			if v, err := st.Setting(store.LegacyTransmissionIDsKey); err != nil || v != nil {
				t.Errorf("old setting after the move: %q, %v; want it gone", v, err)
			}
			// A second load reads the bucket alone.
			again, err := loadIDs(st, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if id, ok := again.lookup(tc.next); !ok || id != tc.nextID {
				t.Errorf("after reloading, %s has %d %v, want %d", tc.next, id, ok, tc.nextID)
			}
		})
	}
}

// TestResolveNum: a limit's value and switch folded into Lodestone's one
// number (0: off), a value set while off remembered for the switch.
func TestResolveNum(t *testing.T) {
	h := &Handler{off: map[string]float64{}}
	steps := []struct {
		n       numArg
		cur     float64
		want    float64
		changed bool
	}{
		{numArg{}, 5, 5, false},                                       // nothing asked
		{numArg{v: 40, hasV: true}, 0, 0, true},                       // value while off: kept, stays off
		{numArg{on: true, hasOn: true}, 0, 40, true},                  // switched on: the kept value
		{numArg{v: 70, hasV: true}, 40, 70, true},                     // value while on: applied
		{numArg{on: false, hasOn: true}, 70, 0, true},                 // off: remembered
		{numArg{v: 9, hasV: true, on: true, hasOn: true}, 0, 9, true}, // both
		{numArg{on: true, hasOn: true}, 9, 9, true},                   // already on
	}
	for i, s := range steps {
		got, changed := h.resolveNum(s.n, "x", s.cur)
		if got != s.want || changed != s.changed {
			t.Errorf("step %d (%+v from %v): %v %v, want %v %v", i, s.n, s.cur, got, changed, s.want, s.changed)
		}
	}
	if h.remembered("x", 0) != 0 {
		// After "both", nothing is remembered: the value is in force.
		t.Errorf("remembered after the limit is on: %v", h.remembered("x", 0))
	}
	h.resolveNum(numArg{on: false, hasOn: true}, "x", 9)
	if got := h.remembered("x", 0); got != 9 {
		t.Errorf("remembered after switching off: %v, want 9", got)
	}
}

// TestArgs: the argument readers take Transmission's types and refuse
// the others with invalid params.
func TestArgs(t *testing.T) {
	a, err := parseArgs(json.RawMessage(`{"downloadDir":"/d","paused":1,"seedRatioLimit":1.5,"peer-port":7,"files-wanted":[1,2],"labels":["x"],"gone":null,"bad":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := a.str("download_dir"); v != "/d" || !ok || err != nil {
		t.Errorf("str: %q %v %v", v, ok, err)
	}
	if v, ok, err := a.boolean("paused"); !v || !ok || err != nil {
		t.Errorf("boolean 1: %v %v %v", v, ok, err)
	}
	if v, ok, err := a.number("seed_ratio_limit"); v != 1.5 || !ok || err != nil {
		t.Errorf("number: %v %v %v", v, ok, err)
	}
	if _, _, err := a.integer("seed_ratio_limit"); err == nil {
		t.Error("integer of 1.5: no error")
	}
	if v, ok, err := a.integer("peer_port"); v != 7 || !ok || err != nil {
		t.Errorf("integer: %v %v %v", v, ok, err)
	}
	if v, ok, err := a.ints("files_wanted"); len(v) != 2 || !ok || err != nil {
		t.Errorf("ints: %v %v %v", v, ok, err)
	}
	if a.has("gone") {
		t.Error("a null argument counts as given")
	}
	for _, f := range []func() error{
		func() error { _, _, err := a.boolean("bad"); return err },
		func() error { _, _, err := a.number("bad"); return err },
		func() error { _, _, err := a.ints("bad"); return err },
		func() error { _, _, err := a.strs("bad"); return err },
		func() error { _, _, err := a.str("peer_port"); return err },
	} {
		var re *rpcError
		if err := f(); !errors.As(err, &re) || re.code != codeInvalidParams {
			t.Errorf("wrong type: %v, want invalid params", err)
		}
	}
	if _, err := parseArgs(json.RawMessage(`[1]`)); err == nil {
		t.Error("arguments that are an array: no error")
	}
}
