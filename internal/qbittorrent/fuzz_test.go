package qbittorrent

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
)

// FuzzParams feeds the parsers of untrusted request parameters:
// torrents/info's query (filters, sort, paging), app/setPreferences'
// json and the hashes list. None may panic, and paging never returns
// more torrents than it was given.
func FuzzParams(f *testing.F) {
	f.Add("filter=active&sort=name&reverse=true&limit=2&offset=-1", `{"dl_limit":1}`, "all")
	f.Add("category=&tag=tv&hashes=A|b|&private=true&offset=-99", `{"max_ratio":"x"}`, "a|B| |")
	f.Add("sort=progress&limit=-5&offset=9999999999999", `{"queueing_enabled":false,"max_seeding_time":-1}`, "")
	f.Add("sort=eta&offset=-2147483648", `[1,2]`, "|||")
	f.Fuzz(func(t *testing.T, query, prefs, hashes string) {
		r := httptest.NewRequest("GET", "/api/v2/torrents/info", nil)
		r.URL.RawQuery = query
		if r.ParseForm() != nil {
			return
		}
		q := parseInfoQuery(r)
		objs := []map[string]any{
			{"name": "a", "state": stateDownloading, "dlspeed": int64(1), "upspeed": int64(0), "category": "", "private": false, "progress": 0.5, "eta": int64(3)},
			{"name": "b", "state": stateStoppedUP, "dlspeed": int64(0), "upspeed": int64(0), "category": "tv", "private": false, "progress": 1.0, "eta": int64(maxETA)},
		}
		var list []map[string]any
		for i, o := range objs {
			if q.match(api.Task{TaskID: string(rune('a' + i)), Labels: []string{"tv"}}, o) {
				list = append(list, o)
			}
		}
		n := len(list)
		if out, err := q.apply(list); err == nil && len(out) > n {
			t.Fatalf("apply returned %d of %d", len(out), n)
		}
		var raw map[string]json.RawMessage
		if json.Unmarshal([]byte(prefs), &raw) == nil {
			prefsParams(raw)
		}
		hashList(hashes)
	})
}
