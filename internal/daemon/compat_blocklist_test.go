package daemon_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/daemon"
	"github.com/lodestone-bt/lodestone/internal/daemon/daemontest"
)

// TestCompatBlocklist: Transmission's blocklist-enabled, blocklist-url,
// blocklist-size and blocklist-update, and qBittorrent's
// ip_filter_enabled and ip_filter_path, all act on the daemon's one
// blocklists setting, as the native API's session.get sees it: a URL list
// set through Transmission and a file set through qBittorrent are in
// force together, each client's switch turns both off and back on, and
// blocklist-update fetches the URL again.
func TestCompatBlocklist(t *testing.T) {
	var list atomic.Value
	list.Store("127.0.0.2\n")
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		fmt.Fprint(w, list.Load().(string))
	}))
	defer srv.Close()
	listURL := srv.URL + "/list.txt"
	file := filepath.Join(t.TempDir(), "filter.p2p")
	if err := os.WriteFile(file, []byte("A:127.0.0.5-127.0.0.5\nB:127.0.0.7-127.0.0.7\nC:127.0.0.9-127.0.0.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	d := daemontest.Start(t, daemontest.Options{Configure: func(cfg *daemon.Config) { cfg.AllowPrivateURLs = true }})
	c := d.Client(t)
	tr := newTRPC(t, d)
	qb := newQB(t, d)
	qb.login()

	native := func(want ...string) int {
		t.Helper()
		set, err := c.Settings(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(set.Blocklists, want) {
			t.Fatalf("session.get blocklists %q, want %q", set.Blocklists, want)
		}
		return set.BlocklistRules
	}
	type tget struct {
		Enabled bool   `json:"blocklist-enabled"`
		URL     string `json:"blocklist-url"`
		Size    int    `json:"blocklist-size"`
	}
	transmissionGet := func() tget {
		t.Helper()
		var g tget
		if err := json.Unmarshal(tr.ok("session-get", map[string]any{"fields": []string{"blocklist-enabled", "blocklist-url", "blocklist-size"}}), &g); err != nil {
			t.Fatal(err)
		}
		return g
	}
	type qprefs struct {
		Enabled bool   `json:"ip_filter_enabled"`
		Path    string `json:"ip_filter_path"`
	}
	qbGet := func() qprefs {
		t.Helper()
		var p qprefs
		qb.query("app/preferences", nil, &p)
		return p
	}
	qbSet := func(prefs map[string]any) (int, string) {
		t.Helper()
		b, err := json.Marshal(prefs)
		if err != nil {
			t.Fatal(err)
		}
		return qb.do("app/setPreferences", url.Values{"json": {string(b)}}, nil)
	}

	if g := transmissionGet(); g != (tget{}) {
		t.Fatalf("Transmission before any list: %+v", g)
	}
	if p := qbGet(); p != (qprefs{}) {
		t.Fatalf("qBittorrent before any list: %+v", p)
	}

	// Transmission sets a URL list: fetched at once.
	tr.ok("session-set", map[string]any{"blocklist-url": listURL, "blocklist-enabled": true})
	if n := native(listURL); n != 1 {
		t.Fatalf("rules after blocklist-url: %d, want 1", n)
	}
	if g := transmissionGet(); g != (tget{true, listURL, 1}) {
		t.Fatalf("Transmission after blocklist-url: %+v", g)
	}
	// The same settings sent back fetch nothing.
	before := fetches.Load()
	tr.ok("session-set", map[string]any{"blocklist-url": listURL, "blocklist-enabled": true, "speed-limit-down-enabled": false})
	if n := fetches.Load(); n != before {
		t.Errorf("an unchanged blocklist-url fetched the list again (%d fetches, was %d)", n, before)
	}

	// blocklist-update fetches it again and answers the new size.
	list.Store("127.0.0.2\n127.0.0.3\n")
	var upd struct {
		Size int `json:"blocklist-size"`
	}
	if err := json.Unmarshal(tr.ok("blocklist-update", nil), &upd); err != nil || upd.Size != 2 {
		t.Fatalf("blocklist-update: %+v, %v; want size 2", upd, err)
	}

	// qBittorrent adds a file; the URL stays.
	if code, body := qbSet(map[string]any{"ip_filter_enabled": true, "ip_filter_path": file}); code != http.StatusOK {
		t.Fatalf("setPreferences ip_filter_path: %d %q", code, body)
	}
	if n := native(listURL, file); n != 5 {
		t.Fatalf("rules with the URL and the file: %d, want 5", n)
	}
	if p := qbGet(); p != (qprefs{true, file}) {
		t.Fatalf("qBittorrent after ip_filter_path: %+v", p)
	}
	if g := transmissionGet(); g != (tget{true, listURL, 5}) {
		t.Fatalf("Transmission with both lists: %+v", g)
	}
	// A missing file is refused, and nothing changes.
	if code, _ := qbSet(map[string]any{"ip_filter_path": file + ".missing"}); code != http.StatusBadRequest {
		t.Errorf("a missing ip_filter_path: HTTP %d, want 400", code)
	}
	native(listURL, file)

	// qBittorrent's switch off: no list; qBittorrent still shows its
	// path (Transmission, which did not turn them off, has no URL to
	// show); on again: both back.
	if code, body := qbSet(map[string]any{"ip_filter_enabled": false}); code != http.StatusOK {
		t.Fatalf("setPreferences ip_filter_enabled false: %d %q", code, body)
	}
	if n := native(); n != 0 {
		t.Fatalf("rules with the filter off: %d", n)
	}
	if p := qbGet(); p != (qprefs{false, file}) {
		t.Fatalf("qBittorrent with the filter off: %+v", p)
	}
	if g := transmissionGet(); g != (tget{false, "", 0}) {
		t.Fatalf("Transmission with the filter off: %+v", g)
	}
	if code, body := qbSet(map[string]any{"ip_filter_enabled": true}); code != http.StatusOK {
		t.Fatalf("setPreferences ip_filter_enabled true: %d %q", code, body)
	}
	native(listURL, file)

	// Transmission's switch does the same; a URL that is not http(s) is
	// refused.
	tr.ok("session-set", map[string]any{"blocklist-enabled": false})
	native()
	if g := transmissionGet(); g != (tget{false, listURL, 0}) {
		t.Fatalf("Transmission with its switch off: %+v", g)
	}
	if r := tr.call("blocklist-update", nil); r.Result == "success" {
		t.Error("blocklist-update with no list in force succeeded")
	}
	tr.ok("session-set", map[string]any{"blocklist-enabled": true})
	native(listURL, file)
	if r := tr.call("session-set", map[string]any{"blocklist-url": "ftp://example.invalid/list"}); r.Result == "success" {
		t.Error("an ftp blocklist-url was accepted")
	}
	// An empty URL removes the URL list only.
	tr.ok("session-set", map[string]any{"blocklist-url": ""})
	if n := native(file); n != 3 {
		t.Fatalf("rules with the file only: %d, want 3", n)
	}
	if g := transmissionGet(); g != (tget{true, "", 3}) {
		t.Fatalf("Transmission with the file only: %+v", g)
	}
}
