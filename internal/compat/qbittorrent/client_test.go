package qbittorrent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
)

// clientDir is compat/qbittorrent, where the node script and its locked
// dependencies are.
func clientDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "compat", "qbittorrent"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@ctrl", "qbittorrent", "package.json")); err != nil {
		t.Fatalf("@ctrl/qbittorrent is not installed: run (cd compat/qbittorrent && npm ci) (scripts/test does): %v", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed (Debian package nodejs; scripts/test installs it): %v", err)
	}
	return dir
}

// sessionInput is $QB_INPUT of session.mjs.
type sessionInput struct {
	BaseURL      string `json:"baseUrl"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	TorrentPath  string `json:"torrentPath"`
	TorrentHash  string `json:"torrentHash"`
	Magnet       string `json:"magnet"`
	MagnetHash   string `json:"magnetHash"`
	SavePath     string `json:"savePath"`
	CategoryPath string `json:"categoryPath"`
	MovePath     string `json:"movePath"`
	OutsidePath  string `json:"outsidePath"`
	TimeoutMs    int    `json:"timeoutMs"`
	TotalMs      int    `json:"totalMs"`
}

// answerSeen is the status and body a request got.
type answerSeen struct {
	Status *int   `json:"status"`
	Body   string `json:"body"`
}

func (a answerSeen) String() string {
	if a.Status == nil {
		return fmt.Sprintf("no status, body %q", a.Body)
	}
	return fmt.Sprintf("HTTP %d %q", *a.Status, a.Body)
}

// observation is what session.mjs prints: what the client saw.
type observation struct {
	Steps []struct {
		Name  string          `json:"name"`
		OK    bool            `json:"ok"`
		Error json.RawMessage `json:"error"`
	} `json:"steps"`
	Errors      map[string]answerSeen        `json:"errors"`
	States      map[string][]string          `json:"states"`
	Types       map[string]map[string]string `json:"types"`
	Login       bool                         `json:"login"`
	AppVersion  string                       `json:"appVersion"`
	APIVersion  string                       `json:"apiVersion"`
	Preferences map[string]any               `json:"preferences"`
	Categories  map[string]struct {
		Name     string `json:"name"`
		SavePath string `json:"savePath"`
	} `json:"categories"`
	Normalized    map[string]any `json:"normalized"`
	PausedTorrent map[string]any `json:"pausedTorrent"`
	MagnetTorrent map[string]any `json:"magnetTorrent"`
	AllData       struct {
		Count  int      `json:"count"`
		Labels []string `json:"labels"`
	} `json:"allData"`
	GetTorrent map[string]any `json:"getTorrent"`
	Files      []struct {
		Name     string `json:"name"`
		Size     int64  `json:"size"`
		Priority int    `json:"priority"`
	} `json:"files"`
	Properties    map[string]any `json:"properties"`
	Trackers      []string       `json:"trackers"`
	Moved         map[string]any `json:"moved"`
	Tags          []string       `json:"tags"`
	ByCategory    []string       `json:"byCategory"`
	ByTag         []string       `json:"byTag"`
	Filtered      *int           `json:"filtered"`
	DownloadLimit map[string]any `json:"downloadLimit"`
	Limited       map[string]any `json:"limited"`
	Left          []string       `json:"left"`
	Sync          struct {
		Full struct {
			Keys       []string `json:"keys"`
			FullUpdate bool     `json:"full_update"`
			Rid        string   `json:"rid"`
			Torrent    map[string]string
			Hashes     []string `json:"torrentHashes"`
			Categories map[string]struct {
				Name     string `json:"name"`
				SavePath string `json:"savePath"`
			} `json:"categories"`
			Tags        []string          `json:"tags"`
			ServerState map[string]string `json:"server_state"`
		} `json:"full"`
		Delta struct {
			Keys       []string          `json:"keys"`
			FullUpdate *bool             `json:"full_update"`
			RidGrew    bool              `json:"ridGrew"`
			Torrent    map[string]string `json:"torrent"`
		} `json:"delta"`
		Changes struct {
			FullUpdate *bool    `json:"full_update"`
			Torrent    []string `json:"torrent"`
		} `json:"changes"`
		Removed struct {
			FullUpdate      *bool    `json:"full_update"`
			TorrentsRemoved []string `json:"torrents_removed"`
		} `json:"removed"`
	} `json:"sync"`
}

// paths are where a session puts the .torrent's data.
type paths struct {
	save, category, move string
}

// runSession drives srv with session.mjs over the swarm sw and returns
// what the client observed. The node process is bounded and killed with
// the test.
func runSession(t *testing.T, srv *server, sw *swarm) (*observation, paths) {
	t.Helper()
	dir := clientDir(t)
	// Under the default save path: Lodestone keeps every download under
	// its download roots (a path outside is refused; the session tries
	// one, OutsidePath).
	p := paths{
		save:     filepath.Join(srv.download, "save"),
		category: filepath.Join(srv.download, "tv"),
		move:     filepath.Join(srv.download, "moved"),
	}
	in, err := json.Marshal(sessionInput{
		BaseURL: srv.base, Username: srv.user, Password: srv.pass,
		TorrentPath: sw.torrentFile(t, srv.scratch), TorrentHash: sw.multi.InfoHash,
		Magnet: sw.magnet(), MagnetHash: sw.single.InfoHash,
		SavePath: p.save, CategoryPath: p.category, MovePath: p.move,
		OutsidePath: filepath.Join(srv.scratch, "outside"),
		TimeoutMs:   45_000, TotalMs: 100_000,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(dir, "session.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "QB_INPUT="+string(in))
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node session.mjs against %s: %v\nstderr:\n%s\nstdout:\n%s", srv.name, err, stderr.String(), stdout.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("what the client observed of %s: %s", srv.name, stdout.String())
		}
	})
	var o observation
	if err := json.Unmarshal(stdout.Bytes(), &o); err != nil {
		t.Fatalf("session.mjs against %s printed no observation: %v\n%s\nstderr:\n%s", srv.name, err, stdout.String(), stderr.String())
	}
	return &o, p
}

// qbStates are the torrent states qBittorrent 4.x and 5.x report.
var qbStates = []string{"error", "missingFiles", "uploading", "pausedUP", "stoppedUP", "queuedUP", "stalledUP",
	"checkingUP", "forcedUP", "allocating", "downloading", "metaDL", "forcedMetaDL", "pausedDL", "stoppedDL",
	"queuedDL", "stalledDL", "checkingDL", "forcedDL", "checkingResumeData", "moving", "unknown"}

// checkSession asserts what one server must show the client, on its own
// (the comparison between the servers is compareObservations'), and
// that the data really moved on disk.
func checkSession(t *testing.T, srv *server, sw *swarm, o *observation, p paths) {
	t.Helper()
	for _, s := range o.Steps {
		if !s.OK {
			t.Errorf("%s: %s failed: %s", srv.name, s.Name, s.Error)
		}
	}
	if !o.Login {
		t.Errorf("%s: login failed", srv.name)
	}
	if v := parseVersion(o.APIVersion); len(v) < 2 || v[0] != 2 {
		t.Errorf("%s: webapiVersion %q, want 2.x", srv.name, o.APIVersion)
	}
	if c := o.Categories["tv-sonarr"]; c.Name != "tv-sonarr" || c.SavePath != p.category {
		t.Errorf("%s: categories %+v, want tv-sonarr at %s", srv.name, o.Categories, p.category)
	}
	if _, ok := o.Categories["movies"]; !ok {
		t.Errorf("%s: categories %+v, want movies", srv.name, o.Categories)
	}

	var size int64
	for _, f := range enginetest.MultiFile(0).Files {
		size += f.Size
	}
	pt := o.PausedTorrent
	if !slices.Contains([]any{"pausedDL", "stoppedDL"}, pt["state"]) || pt["category"] != "movies" || pt["tags"] != "compat, first" ||
		num(pt["size"]) != float64(size) || num(pt["progress"]) != 0 || num(pt["amount_left"]) != float64(size) ||
		num(pt["eta"]) != 8640000 || pt["name"] != "multi" || trimSlash(pt["save_path"]) != p.save {
		t.Errorf("%s: the paused .torrent: %v; want pausedDL/stoppedDL, category movies, tags \"compat, first\", size %d, "+
			"progress 0, eta 8640000, save_path %s", srv.name, pt, size, p.save)
	}
	mt := o.MagnetTorrent
	// Where the magnet is saved differs (compareObservations): the
	// default save path, or the category's.
	magnetDir := trimSlash(mt["save_path"])
	if mt["category"] != "tv-sonarr" || num(mt["progress"]) != 1 || num(mt["amount_left"]) != 0 || mt["name"] != "single.bin" ||
		mt["content_path"] != filepath.Join(magnetDir, "single.bin") || num(mt["completion_on"]) <= 0 ||
		(magnetDir != srv.download && magnetDir != p.category) {
		t.Errorf("%s: the magnet once done: %v; want category tv-sonarr, progress 1, content_path in save_path", srv.name, mt)
	}
	if o.AllData.Count != 2 || !slices.Equal(o.AllData.Labels, []string{"movies", "tv-sonarr"}) {
		t.Errorf("%s: getAllData: %+v, want 2 torrents labelled movies and tv-sonarr", srv.name, o.AllData)
	}
	var names []string
	for _, f := range o.Files {
		names = append(names, f.Name)
	}
	if want := []string{"multi/a.bin", "multi/dir/b.bin", "multi/dir/empty", "multi/dir/sub/c.txt", "multi/z.bin"}; !slices.Equal(names, want) {
		t.Errorf("%s: torrents/files names %v, want %v", srv.name, names, want)
	}
	if num(o.Properties["total_size"]) != float64(size) || trimSlash(o.Properties["save_path"]) != p.save {
		t.Errorf("%s: torrents/properties %v, want total_size %d, save_path %s", srv.name, o.Properties, size, p.save)
	}
	if !slices.Contains(o.Trackers, sw.tracker.URL) {
		t.Errorf("%s: torrents/trackers %v, want %s", srv.name, o.Trackers, sw.tracker.URL)
	}
	for hash, seq := range o.States {
		for _, s := range seq {
			if !slices.Contains(qbStates, s) {
				t.Errorf("%s: torrent %s in state %q, which qBittorrent does not have (states seen: %v)", srv.name, hash, s, seq)
			}
		}
	}
	if seq := o.States[sw.multi.InfoHash]; !slices.ContainsFunc(seq, func(s string) bool { return s == "pausedUP" || s == "stoppedUP" }) {
		t.Errorf("%s: the .torrent never paused once done; states %v", srv.name, seq)
	}

	full := o.Sync.Full
	for _, k := range []string{"rid", "full_update", "torrents", "categories", "tags", "server_state"} {
		if !slices.Contains(full.Keys, k) {
			t.Errorf("%s: sync/maindata full update has keys %v, want %s", srv.name, full.Keys, k)
		}
	}
	if !full.FullUpdate || full.Rid != "number" || !slices.Equal(full.Hashes, sorted(sw.multi.InfoHash, sw.single.InfoHash)) ||
		full.Categories["tv-sonarr"].SavePath != p.category || !slices.Contains(full.Tags, "compat") || !slices.Contains(full.Tags, "first") {
		t.Errorf("%s: sync/maindata full update: %+v", srv.name, full)
	}
	if d := o.Sync.Delta; (d.FullUpdate != nil && *d.FullUpdate) || !d.RidGrew || !slices.Contains(d.Keys, "rid") {
		t.Errorf("%s: sync/maindata with the last rid: %+v, want a delta with a greater rid", srv.name, d)
	}
	if c := o.Sync.Changes; (c.FullUpdate != nil && *c.FullUpdate) || !slices.Contains(c.Torrent, "category") || !slices.Contains(c.Torrent, "tags") {
		t.Errorf("%s: sync/maindata after setCategory and tags: %+v, want a delta naming category and tags", srv.name, c)
	}
	if r := o.Sync.Removed; !slices.Equal(r.TorrentsRemoved, sorted(sw.multi.InfoHash, sw.single.InfoHash)) {
		t.Errorf("%s: sync/maindata after the removes: %+v, want both in torrents_removed", srv.name, r)
	}

	if trimSlash(o.Moved["save_path"]) != p.move {
		t.Errorf("%s: after setLocation: %v, want save_path %s", srv.name, o.Moved, p.move)
	}
	if !slices.Contains(o.Tags, "compat") || !slices.Contains(o.Tags, "extra") {
		t.Errorf("%s: torrents/tags %v, want compat and extra", srv.name, o.Tags)
	}
	if !slices.Equal(o.ByCategory, sorted(sw.multi.InfoHash, sw.single.InfoHash)) || !slices.Equal(o.ByTag, []string{sw.multi.InfoHash}) {
		t.Errorf("%s: torrents/info by category %v, by tag %v", srv.name, o.ByCategory, o.ByTag)
	}
	if o.Filtered == nil || *o.Filtered != 2 {
		t.Errorf("%s: torrents/info?filter=completed: %v torrents, want 2", srv.name, fmt.Sprint(deref(o.Filtered)))
	}
	l := o.Limited
	if l["category"] != "tv-sonarr" || l["tags"] != "compat, extra" || num(l["ratio_limit"]) != 2 || num(l["seeding_time_limit"]) != 60 ||
		num(l["dl_limit"]) != 1048576 || num(l["up_limit"]) != 524288 {
		t.Errorf("%s: after setCategory, tags and limits: %v", srv.name, l)
	}
	if num(o.DownloadLimit[sw.multi.InfoHash]) != 1048576 {
		t.Errorf("%s: torrents/downloadLimit %v, want 1048576", srv.name, o.DownloadLimit)
	}
	if len(o.Left) != 0 {
		t.Errorf("%s: torrents left after removing both: %v", srv.name, o.Left)
	}

	// On disk: the magnet's file stays (removed without its data) and is
	// the seeder's; the .torrent's files left its first save path when
	// moved and are gone from the second, deleted with the torrent.
	enginetest.SameFiles(t, sw.single, magnetDir)
	if !gone(filepath.Join(p.save, "multi", "z.bin")) {
		t.Errorf("%s: %s still holds the moved .torrent's data", srv.name, p.save)
	}
	waitUntil(t, srv.name+": the .torrent's files deleted", 10*time.Second, func() bool {
		return gone(filepath.Join(p.move, "multi", "z.bin")) && gone(filepath.Join(p.move, "multi", "a.bin"))
	})
}

// TestClientSession runs @ctrl/qbittorrent's scripted session against
// qbittorrent-nox 4.5.2 and Lodestone side by side over one loopback
// swarm: each must pass checkSession (the data really downloads, moves
// and is deleted), and what the client observes of the two must agree
// but for the allow-listed differences (compare_test.go).
func TestClientSession(t *testing.T) {
	t.Parallel()
	sw := startSwarm(t, 160)
	var mu sync.Mutex
	seen := map[string]*observation{}
	t.Run("servers", func(t *testing.T) {
		for name, start := range map[string]func(*testing.T) *server{referenceName: startReference, lodestoneName: startLodestone} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				srv := start(t)
				o, p := runSession(t, srv, sw)
				mu.Lock()
				seen[srv.name] = o
				mu.Unlock()
				checkSession(t, srv, sw, o, p)
			})
		}
	})
	ref, lod := seen[referenceName], seen[lodestoneName]
	if ref == nil || lod == nil {
		t.Fatal("a session did not finish; nothing to compare")
	}
	// Issue 16: Lodestone reports a webapi version of at least 2.11, so
	// clients use the torrents/stop and start names and "stopped".
	if v := parseVersion(lod.APIVersion); len(v) < 2 || v[0] < 2 || v[0] == 2 && v[1] < 11 {
		t.Errorf("lodestone: webapiVersion %q, want >= 2.11", lod.APIVersion)
	}
	compareObservations(t, ref, lod)
}

func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case json.Number:
		f, _ := n.Float64()
		return f
	}
	return -1e18
}

func trimSlash(v any) string {
	s, _ := v.(string)
	if len(s) > 1 {
		s = strings.TrimSuffix(s, "/")
	}
	return s
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// parseVersion splits "2.8.19" into its numbers.
func parseVersion(s string) []int {
	var v []int
	for _, p := range strings.Split(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
