package qbittorrent

// The requests Sonarr and Radarr send to a qBittorrent download client,
// replayed from their source, read at Sonarr 49df353 (2026-06-21) and
// Radarr 1b9662d (2025-11-14), src/NzbDrone.Core/Download/Clients/
// QBittorrent/:
//   - QBittorrentProxySelector.cs: which API (FetchProxy: v2 if
//     IsApiSupported, then its GetApiVersion);
//   - QBittorrentProxyV2.cs: each request (the endpoint, its parameters,
//     how the answer is read, which statuses are swallowed) and the
//     session (AuthenticateClient, ProcessRequest: log in when no cookie
//     is cached, and again on a 403);
//   - QBittorrent.cs: the order (Test, AddFromMagnetLink,
//     AddFromTorrentFile, WaitForTorrent, GetItems, GetStatus,
//     GetImportItem, MarkItemAsImported, RemoveItem) and how the answers
//     become Sonarr's download status.
// Radarr's proxy sends the same requests with MovieCategory for
// TvCategory, and has no AddTags. Both build requests with
// HttpRequestBuilder (src/NzbDrone.Common/Http): form values are
// Convert.ToString(value, InvariantCulture), so booleans are "True" and
// "False"; a form goes url-encoded unless it holds a file (or a value
// over 1024 bytes), then multipart; and the credentials go as HTTP Basic
// on every request (BasicNetworkCredential, which ManagedHttpDispatcher
// sends without waiting for a challenge).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sonarrSettings are the download client's settings in Sonarr
// (QBittorrentSettings.cs) that change what it sends.
type sonarrSettings struct {
	TvCategory, TvImportedCategory string
}

// initialState is QBittorrentState: what "Initial State" asks of an add.
type initialState int

const (
	stateStart initialState = iota
	stateForceStart
	stateStop
)

// seedConfig is TorrentSeedConfiguration: an indexer's seed ratio and
// seed time (minutes), each optional.
type seedConfig struct {
	ratio   *float64
	minutes *int64
}

// sonarr replays QBittorrentProxyV2 against one server, keeping the
// transcript of what it sent and got.
type sonarr struct {
	t        *testing.T
	s        *session
	settings sonarrSettings
	// cached is _authCookieCache: whether a login's cookie is held.
	cached bool
	// transcript lists each request and its answer, but the polls.
	transcript []string
	quiet      bool
}

// httpError is Sonarr's HttpException: a status it does not swallow.
type httpError struct{ r reply }

func (e *httpError) Error() string { return e.r.String() }

// send builds and sends one request as HttpRequestBuilder does: the
// query, then the form (url-encoded, or multipart with a file), always
// with Basic credentials.
func (c *sonarr) send(method, path string, query url.Values, form []formPart) reply {
	c.t.Helper()
	var r reply
	switch {
	case method == http.MethodGet:
		r = c.s.do(method, path, query, nil, "", nil)
	case slices.ContainsFunc(form, func(p formPart) bool { return p.file != "" || len(p.data) > 1024 }):
		body, ct := multipartForm(c.t, form)
		r = c.s.do(method, path, query, body, ct, nil)
	default:
		var enc []string
		for _, p := range form {
			// Uri.EscapeDataString: RFC 3986 unreserved characters stay.
			enc = append(enc, p.name+"="+strings.ReplaceAll(url.QueryEscape(string(p.data)), "+", "%20"))
		}
		r = c.s.do(method, path, query, strings.NewReader(strings.Join(enc, "&")), "application/x-www-form-urlencoded", nil)
	}
	if !c.quiet {
		body := r.body
		switch {
		case path == "app/webapiVersion" && r.status == http.StatusOK:
			body = "<version>" // compared on its own: >= 2.0, and Lodestone's >= 2.11
		case len(body) > 60 || strings.HasPrefix(body, "{") || strings.HasPrefix(body, "["):
			body = "…"
		}
		c.transcript = append(c.transcript, fmt.Sprintf("%s %s → %d %q", method, path, r.status, body))
	}
	return r
}

// field is AddFormParameter(name, value): Convert.ToString with the
// invariant culture.
func field(name string, v any) formPart {
	var s string
	switch x := v.(type) {
	case bool:
		s = "False"
		if x {
			s = "True"
		}
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		s = fmt.Sprint(x)
	}
	return formPart{name: name, data: []byte(s)}
}

// authenticate is AuthenticateClient: POST /api/v2/auth/login with
// username and password unless a cookie is cached (or reauthenticate);
// a non-empty answer other than "Ok." is a failed login.
func (c *sonarr) authenticate(reauthenticate bool) error {
	if c.cached && !reauthenticate {
		return nil
	}
	c.cached = false
	c.s.sid = ""
	r := c.send(http.MethodPost, "auth/login", nil, []formPart{field("username", c.s.srv.user), field("password", c.s.srv.pass)})
	if r.status >= 400 {
		return &httpError{r}
	}
	if r.body != "" && r.body != "Ok." {
		return fmt.Errorf("failed to authenticate with qBittorrent: %q", r.body)
	}
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == "SID" {
			c.s.sid = ck.Value
		}
	}
	c.cached = true
	return nil
}

// process is ProcessRequest: authenticate, send; on 403 log in again and
// send once more; any other error status fails.
func (c *sonarr) process(method, path string, query url.Values, form []formPart) (string, error) {
	if err := c.authenticate(false); err != nil {
		return "", err
	}
	r := c.send(method, path, query, form)
	if r.status == http.StatusForbidden {
		if err := c.authenticate(true); err != nil {
			return "", err
		}
		r = c.send(method, path, query, form)
	}
	if r.status >= 300 {
		return "", &httpError{r}
	}
	return r.body, nil
}

func (c *sonarr) mustProcess(method, path string, query url.Values, form []formPart) string {
	c.t.Helper()
	body, err := c.process(method, path, query, form)
	if err != nil {
		c.t.Fatalf("%s: %s %s: %v", c.s.srv.name, method, path, err)
	}
	return body
}

func decode[T any](t *testing.T, srv, what, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("%s: %s: %v in %q", srv, what, err, body)
	}
	return v
}

// isAPISupported is IsApiSupported: GET /api/v2/app/webapiVersion
// without the cookie (but with Basic credentials); 404 is no v2, 403 is
// v2 before login, 401 or another error status fails.
func (c *sonarr) isAPISupported() bool {
	c.t.Helper()
	saved := c.s.sid
	c.s.sid = ""
	r := c.send(http.MethodGet, "app/webapiVersion", nil, nil)
	c.s.sid = saved
	switch {
	case r.status == http.StatusNotFound:
		return false
	case r.status == http.StatusForbidden:
		return true
	case r.status >= 400:
		c.t.Fatalf("%s: Sonarr fails to connect: app/webapiVersion: %v", c.s.srv.name, r)
	}
	return true
}

// apiVersion is GetApiVersion: GET /api/v2/app/webapiVersion, parsed as
// a .NET Version.
func (c *sonarr) apiVersion() []int {
	c.t.Helper()
	body := c.mustProcess(http.MethodGet, "app/webapiVersion", nil, nil)
	v := parseVersion(body)
	if len(v) < 2 {
		c.t.Fatalf("%s: webapiVersion %q is no Version", c.s.srv.name, body)
	}
	return v
}

// sonarrPrefs is QBittorrentPreferences.
type sonarrPrefs struct {
	SavePath                      string  `json:"save_path"`
	MaxRatioEnabled               bool    `json:"max_ratio_enabled"`
	MaxRatio                      float64 `json:"max_ratio"`
	MaxSeedingTimeEnabled         bool    `json:"max_seeding_time_enabled"`
	MaxSeedingTime                int64   `json:"max_seeding_time"`
	MaxInactiveSeedingTimeEnabled bool    `json:"max_inactive_seeding_time_enabled"`
	MaxInactiveSeedingTime        int64   `json:"max_inactive_seeding_time"`
	MaxRatioAction                int     `json:"max_ratio_act"`
	QueueingEnabled               *bool   `json:"queueing_enabled"`
	DHT                           bool    `json:"dht"`
}

// config is GetConfig: GET /api/v2/app/preferences.
func (c *sonarr) config() sonarrPrefs {
	c.t.Helper()
	return decode[sonarrPrefs](c.t, c.s.srv.name, "app/preferences", c.mustProcess(http.MethodGet, "app/preferences", nil, nil))
}

// removesCompletedDownloads is QBittorrent.RemovesCompletedDownloads:
// Sonarr refuses a client that removes torrents at their limits.
func removesCompletedDownloads(p sonarrPrefs) bool {
	return (p.MaxRatioEnabled || (p.MaxSeedingTimeEnabled && p.MaxSeedingTime < 60*24*14)) && (p.MaxRatioAction == 1 || p.MaxRatioAction == 3)
}

// sonarrTorrent is QBittorrentTorrent.
type sonarrTorrent struct {
	Hash                     string   `json:"hash"`
	Name                     string   `json:"name"`
	Size                     int64    `json:"size"`
	Progress                 float64  `json:"progress"`
	Eta                      *float64 `json:"eta"`
	State                    string   `json:"state"`
	Label                    string   `json:"label"`
	Category                 string   `json:"category"`
	SavePath                 string   `json:"save_path"`
	ContentPath              string   `json:"content_path"`
	Ratio                    float64  `json:"ratio"`
	RatioLimit               *float64 `json:"ratio_limit"`
	SeedingTime              *int64   `json:"seeding_time"`
	SeedingTimeLimit         *int64   `json:"seeding_time_limit"`
	InactiveSeedingTimeLimit *int64   `json:"inactive_seeding_time_limit"`
	LastActivity             int64    `json:"last_activity"`
}

// torrents is GetTorrents: GET /api/v2/torrents/info?category=TvCategory.
func (c *sonarr) torrents() []sonarrTorrent {
	c.t.Helper()
	q := url.Values{}
	if c.settings.TvCategory != "" {
		q.Set("category", c.settings.TvCategory)
	}
	return decode[[]sonarrTorrent](c.t, c.s.srv.name, "torrents/info", c.mustProcess(http.MethodGet, "torrents/info", q, nil))
}

// isTorrentLoaded is IsTorrentLoaded: GET /api/v2/torrents/properties
// ?hash=…; any failure is "not loaded".
func (c *sonarr) isTorrentLoaded(hash string) bool {
	_, err := c.process(http.MethodGet, "torrents/properties", url.Values{"hash": {hash}}, nil)
	return err == nil
}

// waitForTorrent is QBittorrent.WaitForTorrent: up to 10 tries, 100 ms
// apart; Sonarr skips the steps after an add if the torrent never shows.
func (c *sonarr) waitForTorrent(hash string) bool {
	// How many tries it takes is timing: the transcript has the outcome.
	quiet := c.quiet
	c.quiet = true
	defer func() { c.quiet = quiet }()
	for range 10 {
		if c.isTorrentLoaded(hash) {
			c.transcript = append(c.transcript, "(WaitForTorrent: loaded)")
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	// qBittorrent adds in the background, and a CI machine under load
	// can take longer than Sonarr's second: the reference gets more time
	// (bounded), so its transcript stays comparable. Lodestone adds
	// before it answers, and gets exactly Sonarr's tries.
	if c.s.srv.name == referenceName {
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if c.isTorrentLoaded(hash) {
				c.transcript = append(c.transcript, "(WaitForTorrent: loaded)")
				return true
			}
		}
	}
	return false
}

// seedingParams is AddTorrentSeedingFormParameters: ratioLimit and
// seedingTimeLimit (minutes), -2 for "not set", sent when set or always.
func seedingParams(sc seedConfig, always bool) []formPart {
	var parts []formPart
	ratio, minutes := -2.0, int64(-2)
	if sc.ratio != nil {
		ratio = *sc.ratio
	}
	if sc.minutes != nil {
		minutes = *sc.minutes
	}
	if ratio != -2 || always {
		parts = append(parts, field("ratioLimit", ratio))
	}
	if minutes != -2 || always {
		parts = append(parts, field("seedingTimeLimit", minutes))
	}
	return parts
}

// downloadParams is AddTorrentDownloadFormParameters: the category, then
// for Start or Stop "stopped" (webapi >= 2.11) or "paused" (older) as
// True/False, asking GetApiVersion for it.
func (c *sonarr) downloadParams(state initialState) []formPart {
	var parts []formPart
	if c.settings.TvCategory != "" {
		parts = append(parts, field("category", c.settings.TvCategory))
	}
	if state == stateStart || state == stateStop {
		name := "paused"
		if v := c.apiVersion(); v[0] > 2 || v[0] == 2 && v[1] >= 11 {
			name = "stopped"
		}
		parts = append(parts, field(name, state == stateStop))
	}
	return parts
}

// addTorrent is AddTorrentFromUrl (urls) or AddTorrentFromFile (an
// upload named "torrents"): POST /api/v2/torrents/add; "Fails." is a
// failure, anything else (older servers answer nothing) a success.
func (c *sonarr) addTorrent(first formPart, sc *seedConfig, state initialState) {
	c.t.Helper()
	form := append([]formPart{first}, c.downloadParams(state)...)
	if sc != nil {
		form = append(form, seedingParams(*sc, false)...)
	}
	if body := c.mustProcess(http.MethodPost, "torrents/add", nil, form); body == "Fails." {
		c.t.Fatalf("%s: torrents/add answered Fails.", c.s.srv.name)
	}
}

// afterAdd is the tail of AddFromMagnetLink and AddFromTorrentFile once
// the torrent is loaded: share limits (for webapi < 2.8.1 only), top of
// the queue (a 409, queueing off, is swallowed), force start, tags.
func (c *sonarr) afterAdd(hash string, moveToTop, forceStart bool, tags []string) {
	c.t.Helper()
	if !c.waitForTorrent(hash) {
		c.t.Fatalf("%s: torrent %s not loaded within 1 s of its add (Sonarr skips its settings)", c.s.srv.name, hash)
	}
	if moveToTop {
		// MoveTorrentToTopInQueue: POST /api/v2/torrents/topPrio hashes.
		if _, err := c.process(http.MethodPost, "torrents/topPrio", nil, []formPart{field("hashes", hash)}); err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.r.status != http.StatusConflict {
				c.t.Errorf("%s: topPrio: %v (Sonarr swallows only 409)", c.s.srv.name, err)
			}
		}
	}
	if forceStart {
		// SetForceStart: POST /api/v2/torrents/setForceStart hashes, value.
		c.mustProcess(http.MethodPost, "torrents/setForceStart", nil, []formPart{field("hashes", hash), field("value", "true")})
	}
	if len(tags) > 0 {
		// AddTags: POST /api/v2/torrents/addTags hashes, tags (comma-joined).
		c.mustProcess(http.MethodPost, "torrents/addTags", nil, []formPart{field("hashes", hash), field("tags", strings.Join(tags, ","))})
	}
}

// labels is GetLabels: GET /api/v2/torrents/categories.
func (c *sonarr) labels() map[string]struct {
	Name     string `json:"name"`
	SavePath string `json:"savePath"`
} {
	c.t.Helper()
	return decode[map[string]struct {
		Name     string `json:"name"`
		SavePath string `json:"savePath"`
	}](c.t, c.s.srv.name, "torrents/categories", c.mustProcess(http.MethodGet, "torrents/categories", nil, nil))
}

// itemStatus is Sonarr's DownloadItemStatus of a torrent, by
// QBittorrent.GetItems' switch on its state ("" for a state Sonarr does
// not know, which it logs and treats as downloading).
func itemStatus(state string) string {
	switch state {
	case "error", "stalledDL", "missingFiles":
		return "Warning"
	case "stoppedDL", "pausedDL":
		return "Paused"
	case "queuedDL", "checkingDL", "checkingUP", "checkingResumeData":
		return "Queued"
	case "pausedUP", "stoppedUP", "uploading", "stalledUP", "queuedUP", "forcedUP":
		return "Completed"
	case "metaDL", "forcedMetaDL":
		return "Metadata"
	case "forcedDL", "moving", "downloading":
		return "Downloading"
	}
	return ""
}

// hasReachedSeedLimit is QBittorrent.HasReachedSeedLimit for a torrent
// with its own ratio limit or the session's; the time limits are checked
// by the caller where they matter.
func hasReachedSeedLimit(tr sonarrTorrent, p sonarrPrefs) bool {
	switch {
	case tr.RatioLimit != nil && *tr.RatioLimit >= 0:
		return *tr.RatioLimit-tr.Ratio <= 0.001
	case tr.RatioLimit != nil && *tr.RatioLimit == -2 && p.MaxRatioEnabled:
		return p.MaxRatio-tr.Ratio <= 0.001
	}
	return false
}

// TestSonarrSequence replays Sonarr's requests against qbittorrent-nox
// 4.5.2 and Lodestone: the Test button (detection, login, preferences,
// categories created, priority support, the list), three grabs (a magnet
// with a seed ratio of 0, started, to the top, tagged; a .torrent upload
// force-started with a seed time; a magnet added stopped), GetItems
// polling until Sonarr sees the first two Completed with their output
// path on disk, GetStatus, the import (files, properties, the imported
// category), the seed limit that lets Sonarr remove the first, and the
// removes with data. Both servers must give Sonarr the same transcript,
// but for the allow-listed differences.
func TestSonarrSequence(t *testing.T) {
	t.Parallel()
	sw := startSwarm(t, 170)
	seen := map[string]*sonarr{}
	complete := true
	for _, start := range []func(*testing.T) *server{startReference, startLodestone} {
		srv := start(t)
		c := &sonarr{s: &session{srv: srv, basic: true},
			settings: sonarrSettings{TvCategory: "tv-sonarr", TvImportedCategory: "tv-imported"}}
		seen[srv.name] = c
		complete = t.Run(srv.name, func(t *testing.T) {
			c.t, c.s.t = t, t
			replaySonarr(t, c, sw)
		}) && complete
	}
	ref, lod := seen[referenceName].transcript, seen[lodestoneName].transcript
	defer func() {
		if t.Failed() {
			t.Logf("qbittorrent-nox transcript:\n%s\n\nLodestone transcript:\n%s", strings.Join(ref, "\n"), strings.Join(lod, "\n"))
		}
	}()
	if !complete {
		t.Fatal("a replay did not finish; the transcripts are not compared")
	}
	diff := map[string]string{}
	for i := range max(len(ref), len(lod)) {
		r, l := "(none)", "(none)"
		if i < len(ref) {
			r = ref[i]
		}
		if i < len(lod) {
			l = lod[i]
		}
		if r != l {
			diff[fmt.Sprintf("sonarr %s", r)] = l
		}
	}
	checkDiffs(t, diff, func(id string) bool { return strings.HasPrefix(id, "sonarr ") })
}

// replaySonarr drives c through Sonarr's sequence; c.transcript keeps
// what was sent and answered, even when the replay fails.
func replaySonarr(t *testing.T, c *sonarr, sw *swarm) {
	srv := c.s.srv

	// Test(): TestConnection (GetProxy(force): FetchProxy, then
	// GetApiVersion again), its GetConfig; TestCategory (GetProxy(force)
	// again, GetLabels, AddLabel and GetLabels for each missing
	// category); TestPrioritySupport (GetConfig); TestGetTorrents.
	if !c.isAPISupported() {
		t.Fatalf("%s: Sonarr finds no API v2", srv.name)
	}
	c.apiVersion()
	if v := c.apiVersion(); v[0] < 2 {
		t.Fatalf("%s: webapi %v, Sonarr wants >= 2.0 for categories", srv.name, v)
	}
	if p := c.config(); removesCompletedDownloads(p) {
		t.Errorf("%s: Sonarr refuses: removes completed downloads (%+v)", srv.name, p)
	}
	c.isAPISupported()
	c.apiVersion()
	labels := c.labels()
	for _, cat := range []string{c.settings.TvCategory, c.settings.TvImportedCategory} {
		if _, ok := labels[cat]; ok {
			continue
		}
		// AddLabel: POST /api/v2/torrents/createCategory category.
		c.mustProcess(http.MethodPost, "torrents/createCategory", nil, []formPart{field("category", cat)})
		if labels = c.labels(); labels[cat].Name != cat {
			t.Errorf("%s: category %s not listed after createCategory: %v", srv.name, cat, labels)
		}
	}
	if p := c.config(); p.QueueingEnabled == nil || *p.QueueingEnabled {
		t.Errorf("%s: queueing_enabled %v, want false (both servers run without queueing)", srv.name, p.QueueingEnabled)
	}
	if got := c.torrents(); len(got) != 0 {
		t.Errorf("%s: torrents/info before any grab: %v", srv.name, got)
	}

	// Grab 1: AddFromMagnetLink with a seed ratio of 0, Initial State
	// Start, recent priority First, series tags. GetConfig first (a
	// magnet without &tr= is refused with DHT off); the share limits go
	// with the add (webapi >= 2.8.1).
	ratio := 0.0
	if p := c.config(); !p.DHT && !strings.Contains(sw.magnet(), "&tr=") {
		t.Fatalf("%s: Sonarr refuses a magnet without trackers with DHT off", srv.name)
	}
	c.addTorrent(field("urls", sw.magnet()), &seedConfig{ratio: &ratio}, stateStart)
	c.afterAdd(sw.single.InfoHash, true, false, []string{"sonarr", "hd"})

	// Grab 2: AddFromTorrentFile, a seed time of 1440 minutes, Initial
	// State Force Start.
	minutes := int64(1440)
	c.addTorrent(formPart{name: "torrents", file: "multi.torrent", data: sw.multi.MetaInfo}, &seedConfig{minutes: &minutes}, stateForceStart)
	c.afterAdd(sw.multi.InfoHash, true, true, nil)

	// Grab 3: a magnet added with Initial State Stop.
	c.addTorrent(field("urls", sw.magnetOf(sw.held)), nil, stateStop)
	c.afterAdd(sw.held.InfoHash, true, false, nil)

	// GetItems, polled (the transcript keeps the first round): the
	// version, the preferences, the category's torrents.
	var items map[string]sonarrTorrent
	var prefs sonarrPrefs
	poll := func() {
		c.apiVersion()
		prefs = c.config()
		items = map[string]sonarrTorrent{}
		for _, tr := range c.torrents() {
			items[tr.Hash] = tr
			if itemStatus(tr.State) == "" {
				t.Errorf("%s: state %q of %s is unknown to Sonarr", srv.name, tr.State, tr.Name)
			}
		}
		c.quiet = true
	}
	completed := func(h string) bool { tr, ok := items[h]; return ok && itemStatus(tr.State) == "Completed" }
	waitUntil(t, srv.name+": Sonarr sees both grabs Completed", 60*time.Second, func() bool {
		poll()
		return completed(sw.single.InfoHash) && completed(sw.multi.InfoHash)
	})
	c.quiet = false
	for _, tr := range []struct {
		hash, name string
		tags       bool
	}{{sw.single.InfoHash, "single.bin", true}, {sw.multi.InfoHash, "multi", false}} {
		got := items[tr.hash]
		// API >= 2.6.1: a completed item's output path is content_path,
		// which must differ from save_path (else Sonarr warns).
		if got.ContentPath == got.SavePath || got.ContentPath != filepath.Join(got.SavePath, tr.name) ||
			got.Category != c.settings.TvCategory || got.Size <= 0 || got.Progress != 1 {
			t.Errorf("%s: Sonarr's item of %s: %s", srv.name, tr.name, asJSON(got))
		}
		if _, err := os.Stat(got.ContentPath); err != nil {
			t.Errorf("%s: Sonarr would import %s: %v", srv.name, got.ContentPath, err)
		}
	}
	if h := items[sw.held.InfoHash]; itemStatus(h.State) != "Paused" || h.Progress != 0 {
		t.Errorf("%s: the grab added stopped: %s, want Sonarr's Paused", srv.name, asJSON(h))
	}
	if f := items[sw.multi.InfoHash]; f.SeedingTimeLimit == nil || *f.SeedingTimeLimit != minutes {
		t.Errorf("%s: the force-started grab: %s, want seeding_time_limit %d", srv.name, asJSON(f), minutes)
	}
	// What Sonarr saw of the three, in the transcript: its status of
	// each, and whether the force-started one shows as forced.
	c.transcript = append(c.transcript, fmt.Sprintf("(GetItems: %s %s, %s %s, %s %s; force-started one forced: %v)",
		"single.bin", itemStatus(items[sw.single.InfoHash].State), "multi", itemStatus(items[sw.multi.InfoHash].State),
		"held.bin", itemStatus(items[sw.held.InfoHash].State), strings.HasPrefix(items[sw.multi.InfoHash].State, "forced")))
	if m := items[sw.single.InfoHash]; m.RatioLimit == nil || *m.RatioLimit != 0 {
		t.Errorf("%s: the grab with a seed ratio of 0: %s, want ratio_limit 0", srv.name, asJSON(m))
	}

	// GetStatus: version, preferences (save_path), the category's path.
	c.apiVersion()
	if p := c.config(); filepath.Clean(p.SavePath) != srv.download {
		t.Errorf("%s: preferences save_path %q, want %s", srv.name, p.SavePath, srv.download)
	}
	if l := c.labels()[c.settings.TvCategory]; l.SavePath != "" {
		t.Errorf("%s: category %s has save path %q, created without one", srv.name, c.settings.TvCategory, l.SavePath)
	}

	// GetImportItem, as Sonarr does when content_path is missing (webapi
	// < 2.6.1): torrents/files, torrents/properties; the first path
	// component under save_path is the output.
	files := decode[[]struct {
		Name string `json:"name"`
	}](t, srv.name, "torrents/files", c.mustProcess(http.MethodGet, "torrents/files", url.Values{"hash": {sw.multi.InfoHash}}, nil))
	props := decode[struct {
		SavePath    string `json:"save_path"`
		SeedingTime *int64 `json:"seeding_time"`
	}](t, srv.name, "torrents/properties", c.mustProcess(http.MethodGet, "torrents/properties", url.Values{"hash": {sw.multi.InfoHash}}, nil))
	if len(files) != 5 || strings.Split(files[0].Name, "/")[0] != "multi" || filepath.Clean(props.SavePath) != srv.download || props.SeedingTime == nil {
		t.Errorf("%s: import of the .torrent: files %v, properties %+v", srv.name, files, props)
	}

	// The seed ratio of 0 is reached: the server stops the torrent, and
	// Sonarr may remove it once it is pausedUP/stoppedUP at its limit.
	c.quiet = true
	waitUntil(t, srv.name+": the grab with ratio 0 stopped at its limit", 60*time.Second, func() bool {
		poll()
		tr := items[sw.single.InfoHash]
		return (tr.State == "pausedUP" || tr.State == "stoppedUP") && hasReachedSeedLimit(tr, prefs)
	})
	c.quiet = false
	c.transcript = append(c.transcript, "(the grab with ratio 0 stopped: Sonarr can remove it)")

	// MarkItemAsImported: POST /api/v2/torrents/setCategory with the
	// imported category; the item leaves the category's list.
	c.mustProcess(http.MethodPost, "torrents/setCategory", nil, []formPart{field("hashes", sw.single.InfoHash), field("category", c.settings.TvImportedCategory)})
	for _, tr := range c.torrents() {
		if tr.Hash == sw.single.InfoHash {
			t.Errorf("%s: still in %s after setCategory: %s", srv.name, c.settings.TvCategory, asJSON(tr))
		}
	}

	// SetTorrentSeedingConfiguration (for webapi < 2.8.1): POST
	// /api/v2/torrents/setShareLimits with both limits always.
	c.mustProcess(http.MethodPost, "torrents/setShareLimits", nil, append([]formPart{field("hashes", sw.multi.InfoHash)}, seedingParams(seedConfig{ratio: &ratio}, true)...))

	// RemoveItem: POST /api/v2/torrents/delete hashes (lower case), and
	// deleteFiles=true when Sonarr deletes the data.
	for _, h := range []string{sw.single.InfoHash, sw.multi.InfoHash} {
		c.mustProcess(http.MethodPost, "torrents/delete", nil, []formPart{field("hashes", h), field("deleteFiles", "true")})
	}
	// Without its data, Sonarr leaves deleteFiles out, which qBittorrent
	// 4.5.2 refuses (400: the parameter is required); the transcript
	// keeps what the server answers.
	c.process(http.MethodPost, "torrents/delete", nil, []formPart{field("hashes", sw.held.InfoHash)})
	waitUntil(t, srv.name+": data deleted", 15*time.Second, func() bool {
		return gone(filepath.Join(srv.download, "single.bin")) && gone(filepath.Join(srv.download, "multi"))
	})
	c.quiet = true
	waitUntil(t, srv.name+": the grabs removed with their data gone", 15*time.Second, func() bool {
		r := c.mustProcess(http.MethodGet, "torrents/info", nil, nil)
		return !strings.Contains(r, sw.single.InfoHash) && !strings.Contains(r, sw.multi.InfoHash)
	})
}

// asJSON shows v as the server sent it, for failure messages.
func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
