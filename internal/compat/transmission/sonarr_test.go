package transmission_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The requests Sonarr and Radarr make of a Transmission server, replayed.
// Read from Sonarr at commit 49df353fa14c (2026-06-21) and Radarr at
// 1b9662d58823 (2025-11-14), src/NzbDrone.Core/Download/Clients/Transmission/:
// TransmissionProxy.cs (the wire), TransmissionBase.cs and Transmission.cs
// (what is asked when, and how answers are judged), TransmissionConfig.cs
// and TransmissionTorrent.cs (the fields read, with their C# types).
// Radarr's files differ only in names (MovieCategory for TvCategory):
// the requests are the same. Nothing here is their code; each step says
// which of their methods it stands for.

// sonarrFields is the field list of TransmissionProxy.GetTorrentStatus,
// the only torrent-get Sonarr and Radarr send.
var sonarrFields = []string{
	"id", "hashString", "name", "downloadDir", "totalSize", "leftUntilDone", "isFinished", "eta", "status",
	"secondsDownloading", "secondsSeeding", "errorString", "uploadedEver", "downloadedEver",
	"seedRatioLimit", "seedRatioMode", "seedIdleLimit", "seedIdleMode", "fileCount", "file-count", "labels",
}

// sonarrTorrent is TransmissionTorrent: Newtonsoft fills these C# types,
// so an integer field sent as 1.5 or a string would fail there as here.
type sonarrTorrent struct {
	ID                 int      `json:"id"`
	HashString         string   `json:"hashString"`
	Name               string   `json:"name"`
	DownloadDir        string   `json:"downloadDir"`
	TotalSize          int64    `json:"totalSize"`
	LeftUntilDone      int64    `json:"leftUntilDone"`
	IsFinished         bool     `json:"isFinished"`
	Labels             []string `json:"labels"`
	Eta                int64    `json:"eta"`
	Status             int      `json:"status"`
	SecondsDownloading int64    `json:"secondsDownloading"`
	SecondsSeeding     int64    `json:"secondsSeeding"`
	ErrorString        string   `json:"errorString"`
	DownloadedEver     int64    `json:"downloadedEver"`
	UploadedEver       int64    `json:"uploadedEver"`
	SeedRatioLimit     float64  `json:"seedRatioLimit"`
	SeedRatioMode      int      `json:"seedRatioMode"`
	SeedIdleLimit      int64    `json:"seedIdleLimit"`
	SeedIdleMode       int      `json:"seedIdleMode"`
	TransmissionCount  *int     `json:"file-count"`
	VuzeCount          *int     `json:"fileCount"`
}

// sonarrConfig is TransmissionConfig, what Sonarr reads of session-get.
type sonarrConfig struct {
	RPCVersion              json.Number `json:"rpc-version"` // a string property in C#
	Version                 string      `json:"version"`
	DownloadDir             string      `json:"download-dir"`
	SeedRatioLimit          float64     `json:"seedRatioLimit"`
	SeedRatioLimited        bool        `json:"seedRatioLimited"`
	IdleSeedingLimit        int64       `json:"idle-seeding-limit"`
	IdleSeedingLimitEnabled bool        `json:"idle-seeding-limit-enabled"`
}

// sonarrClient behaves as TransmissionProxy with its settings: UrlBase
// "/transmission/", user and password, TvCategory "tv-sonarr",
// TvImportedCategory "sonarr-imported", AddPaused false, priority
// "First".
type sonarrClient struct {
	t       *testing.T
	srv     *server
	session string
}

const (
	tvCategory         = "tv-sonarr"
	tvImportedCategory = "sonarr-imported"
)

// send is one request as Sonarr's ManagedHttpDispatcher sends it: Basic
// credentials set up front (BasicNetworkCredential), Accept:
// application/json, no redirects followed.
func (c *sonarrClient) send(method string, body []byte) *http.Response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.srv.host+"/transmission/rpc", bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.srv.user, c.srv.pass)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.session != "" {
		req.Header.Set("X-Transmission-Session-Id", c.session)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %v", c.srv.name, err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// authenticate is AuthenticateClient: a GET of the RPC URL, with no body,
// whose 409 carries the session id. Any other answer is an error to
// Sonarr ("Failed to authenticate with Transmission").
func (c *sonarrClient) authenticate() {
	c.t.Helper()
	resp := c.send(http.MethodGet, nil)
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Transmission-Session-Id") == "" {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("%s: Sonarr's authentication (GET /transmission/rpc): HTTP %d, session id %q, %.200s; want 409 with the id",
			c.srv.name, resp.StatusCode, resp.Header.Get("X-Transmission-Session-Id"), b)
	}
	c.session = resp.Header.Get("X-Transmission-Session-Id")
}

// process is ProcessRequest: authenticate if no session id is cached,
// POST {"method", "arguments" (left out when null)}, authenticate again
// and repeat once on a 409, give up on a 401; the result must be
// "success".
func (c *sonarrClient) process(action string, args map[string]any) map[string]json.RawMessage {
	c.t.Helper()
	if c.session == "" {
		c.authenticate()
	}
	data := map[string]any{"method": action}
	if args != nil {
		data["arguments"] = args
	}
	body, err := json.Marshal(data)
	if err != nil {
		c.t.Fatal(err)
	}
	resp := c.send(http.MethodPost, body)
	if resp.StatusCode == http.StatusConflict {
		c.authenticate()
		resp = c.send(http.MethodPost, body)
	} else if resp.StatusCode == http.StatusUnauthorized {
		c.t.Fatalf("%s: %s: User authentication failed.", c.srv.name, action)
	}
	var r struct {
		Result    string                     `json:"result"`
		Arguments map[string]json.RawMessage `json:"arguments"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		c.t.Fatalf("%s: %s: Unexpected response: HTTP %d %.200s", c.srv.name, action, resp.StatusCode, b)
	}
	if r.Result != "success" {
		c.t.Fatalf("%s: %s: %s", c.srv.name, action, r.Result)
	}
	return r.Arguments
}

// getConfig is GetConfig (session-get, no arguments).
func (c *sonarrClient) getConfig() sonarrConfig {
	c.t.Helper()
	args := c.process("session-get", nil)
	var cfg sonarrConfig
	b, _ := json.Marshal(args)
	if err := json.Unmarshal(b, &cfg); err != nil {
		c.t.Fatalf("%s: session-get as TransmissionConfig: %v", c.srv.name, err)
	}
	for k, typ := range map[string]string{"version": "string", "download-dir": "string", "seedRatioLimit": "number",
		"seedRatioLimited": "boolean", "idle-seeding-limit": "number", "idle-seeding-limit-enabled": "boolean", "rpc-version": "number"} {
		if got := jsonType(args[k], args[k] != nil); got != typ {
			c.t.Errorf("%s: session-get %s is %s, want %s", c.srv.name, k, got, typ)
		}
	}
	return cfg
}

// getTorrents is GetTorrents (torrent-get with sonarrFields; ids only when
// asked for some).
func (c *sonarrClient) getTorrents(hashes []string) []sonarrTorrent {
	c.t.Helper()
	args := map[string]any{"fields": sonarrFields}
	if hashes != nil {
		args["ids"] = hashes
	}
	var out []sonarrTorrent
	if err := json.Unmarshal(c.process("torrent-get", args)["torrents"], &out); err != nil {
		c.t.Fatalf("%s: torrent-get as TransmissionTorrent: %v", c.srv.name, err)
	}
	return out
}

// sonarrVersion is the version regex of Transmission.ValidateVersion and
// TransmissionBase.HasClientVersion, which .NET reads with lookarounds:
// the first run of digits and dots that is not in parentheses. Go's
// regexp has no lookarounds: parenthesised parts are dropped first.
var (
	sonarrParens  = regexp.MustCompile(`\([^)]*\)`)
	sonarrVersion = regexp.MustCompile(`[\d.]+`)
)

// version parses a session-get version as Sonarr does (System.Version:
// two to four numbers).
func version(t *testing.T, s string) [2]int {
	t.Helper()
	v := sonarrVersion.FindString(sonarrParens.ReplaceAllString(s, ""))
	parts := strings.Split(v, ".")
	if len(parts) < 2 || len(parts) > 4 {
		t.Fatalf("version %q: %q is not a System.Version", s, v)
	}
	var out [2]int
	for i := range 2 {
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			t.Fatalf("version %q: %v", s, err)
		}
		out[i] = n
	}
	return out
}

// sonarrItem is the part of DownloadClientItem that GetItems computes.
type sonarrItem struct {
	hash, outputPath, status string
	remaining                int64
	canBeRemoved             bool
}

// getItems is TransmissionBase.GetItems: every torrent, filtered by label
// (when labels are supported and the torrent has some) or else by the
// category as a folder of its download dir, judged as Sonarr judges it.
func (c *sonarrClient) getItems(supportsLabels bool) []sonarrItem {
	c.t.Helper()
	var cfg *sonarrConfig // Lazy<TransmissionConfig>
	var items []sonarrItem
	for _, tr := range c.getTorrents(nil) {
		if supportsLabels && len(tr.Labels) > 0 {
			if !slices.ContainsFunc(tr.Labels, func(l string) bool { return strings.EqualFold(l, tvCategory) }) {
				continue
			}
		} else if !slices.Contains(strings.Split(tr.DownloadDir, "/"), tvCategory) {
			continue
		}
		it := sonarrItem{hash: strings.ToUpper(tr.HashString), outputPath: filepath.Join(tr.DownloadDir, strings.ReplaceAll(tr.Name, ":", "_")), remaining: tr.LeftUntilDone}
		switch {
		case tr.ErrorString != "":
			it.status = "Warning"
		case tr.TotalSize == 0:
			it.status = "Queued"
		case tr.LeftUntilDone == 0 && (tr.Status == 0 || tr.Status == 6 || tr.Status == 5):
			it.status = "Completed"
		case tr.IsFinished && tr.Status != 2 && tr.Status != 1:
			it.status = "Completed"
		case tr.Status == 3:
			it.status = "Queued"
		default:
			it.status = "Downloading"
		}
		ratio := 0.0
		if tr.DownloadedEver > 0 {
			ratio = float64(tr.UploadedEver) / float64(tr.DownloadedEver)
		}
		// HasReachedSeedLimit.
		stopped, seeding := tr.Status == 0, tr.Status == 6
		switch tr.SeedRatioMode {
		case 1:
			it.canBeRemoved = stopped && ratio >= tr.SeedRatioLimit
		case 0:
			if cfg == nil {
				got := c.getConfig()
				cfg = &got
			}
			it.canBeRemoved = stopped && cfg.SeedRatioLimited && ratio >= cfg.SeedRatioLimit
		}
		switch tr.SeedIdleMode {
		case 1:
			it.canBeRemoved = it.canBeRemoved || (stopped || seeding) && tr.SecondsSeeding > tr.SeedIdleLimit*60
		case 0:
			if cfg == nil {
				got := c.getConfig()
				cfg = &got
			}
			it.canBeRemoved = it.canBeRemoved || stopped && cfg.IdleSeedingLimitEnabled
		}
		items = append(items, it)
	}
	return items
}

// TestSonarrSequence replays against Lodestone, and against
// transmission-daemon 3.00 to prove the replay, what Sonarr (and Radarr)
// do with a Transmission download client: the connection test, the
// download folder, an add of a .torrent with its category label, seed
// limits and queue top, the polling of GetItems until Completed, the data
// on disk at the output path, the seed limit reached, the post-import
// label, and the removal with data.
func TestSonarrSequence(t *testing.T) {
	t.Parallel()
	sw := startSwarm(t, 41)
	for _, mk := range []func(testing.TB) *server{startLodestone, startTransmission} {
		srv := mk(t)
		t.Run(srv.name, func(t *testing.T) {
			sw.serve(t, srv)
			sonarrSession(t, sw, srv)
		})
	}
}

func sonarrSession(t *testing.T, sw *swarm, srv *server) {
	c := &sonarrClient{t: t, srv: srv}

	// Test(): TestConnection → ValidateVersion → GetClientVersion(force)
	// → session-get; the version must be at least 2.40. Then
	// TestGetTorrents → torrent-get of everything.
	cfg := c.getConfig()
	v := version(t, cfg.Version)
	if v[0]*100+v[1] < 240 {
		t.Fatalf("%s: version %q: Sonarr requires 2.40", srv.name, cfg.Version)
	}
	c.getTorrents(nil)
	// SupportsLabels is HasClientVersion(4, 0).
	supportsLabels := v[0] >= 4

	// GetStatus → GetConfig: the output root is download-dir/TvCategory.
	// GetDownloadDirectory, at every add, is the same with the trailing
	// slash of download-dir trimmed.
	if cfg.DownloadDir != srv.downloadDir {
		t.Errorf("%s: session-get download-dir %q, want %q", srv.name, cfg.DownloadDir, srv.downloadDir)
	}
	dir := strings.TrimRight(c.getConfig().DownloadDir, "/") + "/" + tvCategory

	// AddFromTorrentFile: AddTorrentFromData (torrent-add with metainfo,
	// paused = AddPaused, download-dir, labels [TvCategory]), then
	// SetTorrentSeedingConfiguration (torrent-set of the indexer's seed
	// ratio and seed time as the idle limit, each with its mode 1), then
	// MoveTorrentToTopInQueue (queue-move-top) for priority First.
	hash := sw.multi.InfoHash
	c.process("torrent-add", map[string]any{
		"metainfo": base64.StdEncoding.EncodeToString(sw.multi.MetaInfo), "paused": false,
		"download-dir": dir, "labels": []string{tvCategory},
	})
	// The indexer's seed ratio is 0 and it has no seed time: so only
	// seedRatioLimit and its mode are sent, and the download stops as
	// soon as it is done. (A seed time of 0 minutes would be sent as
	// seedIdleLimit 0, which Transmission 3.00 ignores.)
	c.process("torrent-set", map[string]any{"ids": []string{hash}, "seedRatioLimit": 0.0, "seedRatioMode": 1})
	c.process("queue-move-top", map[string]any{"ids": []string{hash}})

	// GetItems, polled until the item is Completed; the fields read
	// must decode as TransmissionTorrent's types, and file-count or
	// fileCount must be there.
	var item sonarrItem
	waitFor(t, srv.name+": Sonarr sees the download Completed", 60*time.Second, func() bool {
		items := c.getItems(supportsLabels)
		if len(items) != 1 {
			t.Fatalf("%s: GetItems: %+v, want the one download (labels kept?)", srv.name, items)
		}
		item = items[0]
		return item.status == "Completed"
	})
	ts := c.getTorrents([]string{hash})
	if len(ts) != 1 {
		t.Fatalf("%s: torrent-get of ids [hash]: %d torrents", srv.name, len(ts))
	}
	tr := ts[0]
	if item.hash != strings.ToUpper(hash) || item.remaining != 0 || item.outputPath != filepath.Join(dir, "multi") ||
		tr.TotalSize != 1_400_113 || tr.SeedRatioMode != 1 || tr.SeedRatioLimit != 0 {
		t.Errorf("%s: Completed item %+v from %+v", srv.name, item, tr)
	}
	if n := tr.TransmissionCount; srv.name == lodestone && (n == nil || *n != 5) {
		t.Errorf("%s: file-count %v, want 5", srv.name, n)
	}
	sameFiles(t, srv, sw.multi, dir)

	// The seed limit: with seedRatioMode 1 and a limit of 0, the
	// download stops (status 0) when done, and CanBeRemoved.
	waitFor(t, srv.name+": Sonarr sees the seed limit reached", 30*time.Second, func() bool {
		items := c.getItems(supportsLabels)
		return len(items) == 1 && items[0].canBeRemoved
	})
	if tr := c.getTorrents([]string{hash})[0]; tr.Status != 0 || !tr.IsFinished {
		t.Errorf("%s: after the seed ratio: status %d, isFinished %v; want 0 and true", srv.name, tr.Status, tr.IsFinished)
	}

	// MarkItemAsImported (only when SupportsLabels): the torrent's
	// labels, plus TvImportedCategory, minus TvCategory, by torrent-set.
	if supportsLabels {
		labels := []string{tvImportedCategory}
		for _, l := range c.getTorrents([]string{hash})[0].Labels {
			if !strings.EqualFold(l, tvCategory) && !strings.EqualFold(l, tvImportedCategory) {
				labels = append(labels, l)
			}
		}
		c.process("torrent-set", map[string]any{"ids": []string{hash}, "labels": labels})
		if got := c.getTorrents([]string{hash})[0].Labels; !slices.Equal(got, []string{tvImportedCategory}) {
			t.Errorf("%s: labels after the import %v, want [%s]", srv.name, got, tvImportedCategory)
		}
		// Imported: GetItems leaves it out now.
		if items := c.getItems(supportsLabels); len(items) != 0 {
			t.Errorf("%s: GetItems after the import: %+v, want none", srv.name, items)
		}
	}

	// RemoveItem(deleteData): torrent-remove of the lowercase hash with
	// delete-local-data.
	c.process("torrent-remove", map[string]any{"ids": []string{strings.ToLower(item.hash)}, "delete-local-data": true})
	waitFor(t, srv.name+": removed with its data", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "multi"))
		return len(c.getTorrents(nil)) == 0 && os.IsNotExist(err)
	})

	// A magnet goes through AddTorrentFromUrl (filename), the rest
	// alike; it is removed again without data.
	c.process("torrent-add", map[string]any{"filename": sw.magnet(sw.single), "paused": false, "download-dir": dir, "labels": []string{tvCategory}})
	if items := c.getItems(supportsLabels); len(items) != 1 || items[0].hash != strings.ToUpper(sw.single.InfoHash) {
		t.Errorf("%s: GetItems after a magnet: %+v", srv.name, items)
	}
	c.process("torrent-remove", map[string]any{"ids": []string{sw.single.InfoHash}, "delete-local-data": false})
}
