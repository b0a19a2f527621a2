package transmission_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/internal/engine/enginetest"
	"github.com/lodestone-bt/lodestone/internal/syncbuf"
)

// nodeDir is compat/transmission, where the node client scripts and their
// pinned packages (package-lock.json) are.
func nodeDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the test's own source folder")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "..", "compat", "transmission")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@ctrl", "transmission")); err != nil {
		t.Fatalf("@ctrl/transmission is not installed: run (cd compat/transmission && npm ci) (scripts/test does): %v", err)
	}
	return dir
}

// ctrlStep is one step of compat/transmission/session.mjs.
type ctrlStep struct {
	Name  string          `json:"name"`
	OK    bool            `json:"ok"`
	Error string          `json:"error"`
	Value json.RawMessage `json:"value"`
}

// ctrlConfig is session.mjs's input (see its header).
type ctrlConfig struct {
	BaseURL          string `json:"baseUrl"`
	Username         string `json:"username"`
	Password         string `json:"password"`
	DownloadDir      string `json:"downloadDir"`
	MoveDir          string `json:"moveDir"`
	Torrent          string `json:"torrent"`
	Hash             string `json:"hash"`
	Name             string `json:"name"`
	Magnet           string `json:"magnet"`
	MagnetHash       string `json:"magnetHash"`
	MagnetName       string `json:"magnetName"`
	WaitMagnet       bool   `json:"waitMagnet"`
	NormalizedMagnet string `json:"normalizedMagnet,omitempty"`
	TimeoutMs        int    `json:"timeoutMs"`
}

// runCtrl runs session.mjs against srv and returns its steps by name.
func runCtrl(t *testing.T, srv *server, cfg ctrlConfig) map[string]ctrlStep {
	t.Helper()
	node := needProgram(t, "node", "nodejs")
	dir := nodeDir(t)
	cfg.BaseURL, cfg.Username, cfg.Password = "http://"+srv.host+"/", srv.user, srv.pass
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "session.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TR_COMPAT="+string(b))
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: node session.mjs: %v\n%s", srv.name, err, stderr.String())
	}
	var res struct {
		Steps []ctrlStep `json:"steps"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%s: session.mjs printed no JSON: %v\n%s\n%s", srv.name, err, out, stderr.String())
	}
	steps := map[string]ctrlStep{}
	for _, s := range res.Steps {
		steps[s.Name] = s
	}
	return steps
}

// value decodes a step's value into v, failing the test if the step
// failed.
func (s ctrlStep) value(t *testing.T, srv *server, v any) bool {
	t.Helper()
	if !s.OK {
		t.Errorf("%s: @ctrl/transmission %s: %s", srv.name, s.Name, s.Error)
		return false
	}
	if err := json.Unmarshal(s.Value, v); err != nil {
		t.Errorf("%s: %s: %v in %s", srv.name, s.Name, err, s.Value)
		return false
	}
	return true
}

// stateTrail is what session.mjs saw while polling getTorrent, and the
// files it found on disk then.
type stateTrail struct {
	Seen     []string          `json:"seen"`
	Statuses []int             `json:"statuses"`
	Files    map[string]string `json:"files"`
	Last     struct {
		State    string  `json:"state"`
		Progress float64 `json:"progress"`
		SavePath string  `json:"savePath"`
	} `json:"last"`
}

// TestCtrlTransmission runs a scripted session of npm's
// @ctrl/transmission (pinned in compat/transmission) against Lodestone and
// transmission-daemon 3.00 and asserts the same of both: session, adds
// (.torrent, duplicate, magnet), listing, a real download to seeding,
// pause, verify, torrent-set of limits, labels and seed limits read back,
// the four queue moves, a move of the data on disk, free space, an unknown
// hash, and removal with and without data. Any step that works against
// the reference must work against Lodestone.
func TestCtrlTransmission(t *testing.T) {
	t.Parallel()
	sw := startSwarm(t, 21)
	spare := enginetest.Generate(t, enginetest.Content{Name: "spare.bin", Size: 70_000, Seed: 29})
	results := map[string]map[string]ctrlStep{}
	for _, mk := range []func(testing.TB) *server{startLodestone, startTransmission} {
		srv := mk(t)
		t.Run(srv.name, func(t *testing.T) {
			sw.serve(t, srv)
			cfg := ctrlConfig{
				DownloadDir: filepath.Join(srv.downloadDir, "ctrl"),
				MoveDir:     filepath.Join(srv.downloadDir, "moved"),
				Torrent:     base64.StdEncoding.EncodeToString(sw.multi.MetaInfo),
				Hash:        sw.multi.InfoHash,
				Name:        sw.multi.Name,
				Magnet:      sw.magnet(sw.single),
				MagnetHash:  sw.single.InfoHash,
				MagnetName:  sw.single.Name,
				// The reference is not waited for on the magnet (see
				// remoteSession).
				WaitMagnet: srv.name == lodestone,
				TimeoutMs:  60_000,
			}
			if srv.name == lodestone {
				// Never against the reference: it would create
				// /downloads on this machine.
				cfg.NormalizedMagnet = spare.Magnet(nil)
			}
			steps := runCtrl(t, srv, cfg)
			results[srv.name] = steps
			checkCtrl(t, srv, sw, cfg, steps)
		})
	}
	// Whatever works with the reference works with Lodestone (when both
	// ran: -run may pick one).
	if results[lodestone] == nil {
		return
	}
	for name, ref := range results[transmission] {
		if got, ok := results[lodestone][name]; ref.OK && (!ok || !got.OK) {
			t.Errorf("@ctrl/transmission %s works against transmission-daemon 3.00 but not Lodestone: %s", name, got.Error)
		}
	}
}

func checkCtrl(t *testing.T, srv *server, sw *swarm, cfg ctrlConfig, steps map[string]ctrlStep) {
	var sess struct {
		Result      string   `json:"result"`
		Version     string   `json:"version"`
		RPCVersion  int      `json:"rpcVersion"`
		DownloadDir string   `json:"downloadDir"`
		Keys        []string `json:"keys"`
	}
	if steps["getSession"].value(t, srv, &sess) && (sess.Result != "success" || sess.Version == "" || sess.RPCVersion < 15 || sess.DownloadDir != srv.downloadDir) {
		t.Errorf("%s: getSession: %+v", srv.name, sess)
	}
	type added struct {
		Result    string `json:"result"`
		Arguments map[string]struct {
			ID         int    `json:"id"`
			HashString string `json:"hashString"`
			Name       string `json:"name"`
		} `json:"arguments"`
	}
	for name, want := range map[string]struct{ key, hash string }{
		"addTorrent":       {"torrent-added", cfg.Hash},
		"addTorrent again": {"torrent-duplicate", cfg.Hash},
		"addMagnet":        {"torrent-added", cfg.MagnetHash},
	} {
		var a added
		if steps[name].value(t, srv, &a) && (a.Result != "success" || a.Arguments[want.key].HashString != want.hash || a.Arguments[want.key].ID <= 0) {
			t.Errorf("%s: %s: %+v, want %s of %s", srv.name, name, a, want.key, want.hash)
		}
	}
	if s, ok := steps["normalizedAddTorrent"]; ok && s.OK {
		// It asks for download-dir /downloads, outside Lodestone's
		// download roots: it must be refused, not followed.
		t.Errorf("%s: normalizedAddTorrent into /downloads succeeded: %s", srv.name, s.Value)
	}
	var all struct {
		Hashes []string `json:"hashes"`
	}
	if steps["getAllData"].value(t, srv, &all) && (!slices.Contains(all.Hashes, cfg.Hash) || !slices.Contains(all.Hashes, cfg.MagnetHash)) {
		t.Errorf("%s: getAllData: %+v", srv.name, all)
	}
	var paused struct {
		ID, Name, State, SavePath string
		TotalSize                 int64
		Progress                  float64
	}
	if steps["getTorrent paused"].value(t, srv, &paused) && (paused.ID != cfg.Hash || paused.Name != "multi" ||
		paused.State != "paused" || paused.SavePath != cfg.DownloadDir || paused.TotalSize != 1_400_113 || paused.Progress != 0) {
		t.Errorf("%s: getTorrent of the paused .torrent: %+v", srv.name, paused)
	}
	var dl stateTrail
	if steps["resumeTorrent"].value(t, srv, &dl) && (!slices.Contains(dl.Seen, "downloading") || dl.Last.State != "seeding" || dl.Last.Progress != 1) {
		t.Errorf("%s: resumeTorrent: states %v (statuses %v), want downloading then seeding", srv.name, dl.Seen, dl.Statuses)
	}
	sameHashes(t, srv, "resumeTorrent", sw.multi, dl.Files)
	if cfg.WaitMagnet {
		var m stateTrail
		if steps["magnet download"].value(t, srv, &m) {
			sameHashes(t, srv, "magnet download", sw.single, m.Files)
		}
	}
	var p stateTrail
	if steps["pauseTorrent"].value(t, srv, &p) && p.Last.State != "paused" {
		t.Errorf("%s: pauseTorrent: %+v", srv.name, p)
	}
	var v struct {
		stateTrail
		Result         string `json:"result"`
		DownloadedEver int64  `json:"downloadedEver"`
		HaveValid      int64  `json:"haveValid"`
	}
	// A verify reads the data; it downloads nothing.
	if steps["verifyTorrent"].value(t, srv, &v) && (v.Result != "success" || v.HaveValid != 1_400_113 || v.DownloadedEver > 1_400_113+64<<10) {
		t.Errorf("%s: verifyTorrent: %+v; want haveValid 1400113 and downloadedEver unchanged by the verify", srv.name, v)
	}
	var set struct {
		Result          string   `json:"result"`
		DownloadLimit   int      `json:"downloadLimit"`
		DownloadLimited bool     `json:"downloadLimited"`
		UploadLimit     int      `json:"uploadLimit"`
		UploadLimited   bool     `json:"uploadLimited"`
		Labels          []string `json:"labels"`
		SeedRatioLimit  float64  `json:"seedRatioLimit"`
		SeedRatioMode   int      `json:"seedRatioMode"`
		SeedIdleLimit   int      `json:"seedIdleLimit"`
		Label           string   `json:"label"`
	}
	if steps["setTorrent"].value(t, srv, &set) && (set.Result != "success" || set.DownloadLimit != 100 || !set.DownloadLimited ||
		set.UploadLimit != 50 || !set.UploadLimited || !slices.Equal(set.Labels, []string{"tv", "hd"}) || set.Label != "tv" ||
		set.SeedRatioLimit != 2.5 || set.SeedRatioMode != 1 || set.SeedIdleLimit != 30) {
		t.Errorf("%s: setTorrent read back: %+v", srv.name, set)
	}
	var q map[string]struct {
		Result   string `json:"result"`
		Position int    `json:"position"`
		Other    int    `json:"other"`
	}
	if steps["queue"].value(t, srv, &q) {
		for move, after := range map[string]bool{"bottom": true, "top": false, "down": true, "up": false} {
			m := q[move]
			if m.Result != "success" || (m.Position > m.Other) != after || m.Position == m.Other {
				t.Errorf("%s: queue %s: %+v; want the torrent %s the other", srv.name, move, m, map[bool]string{true: "after", false: "before"}[after])
			}
		}
	}
	var mv struct {
		Result   string            `json:"result"`
		SavePath string            `json:"savePath"`
		Files    map[string]string `json:"files"`
		Left     map[string]string `json:"left"`
	}
	if steps["moveTorrent"].value(t, srv, &mv) {
		if mv.Result != "success" || mv.SavePath != cfg.MoveDir || len(mv.Left) != 0 {
			t.Errorf("%s: moveTorrent: %+v", srv.name, mv)
		}
		sameHashes(t, srv, "moveTorrent", sw.multi, mv.Files)
	}
	var fs struct {
		Result        string `json:"result"`
		Path          string `json:"path"`
		SizeBytesType string `json:"sizeBytesType"`
		Positive      bool   `json:"positive"`
	}
	if steps["freeSpace"].value(t, srv, &fs) && (fs.Result != "success" || fs.Path != cfg.DownloadDir || fs.SizeBytesType != "number" || !fs.Positive) {
		t.Errorf("%s: freeSpace: %+v", srv.name, fs)
	}
	var re string
	if steps["reannounceTorrent"].value(t, srv, &re) && re != "success" {
		t.Errorf("%s: reannounceTorrent: %q", srv.name, re)
	}
	if s := steps["getTorrent unknown"]; s.OK || s.Error != "Torrent not found" {
		t.Errorf("%s: getTorrent of an unknown hash: %+v, want the client's \"Torrent not found\"", srv.name, s)
	}
	var rm struct {
		Results []string `json:"results"`
	}
	if steps["removeTorrent"].value(t, srv, &rm) && !slices.Equal(rm.Results, []string{"success", "success"}) {
		t.Errorf("%s: removeTorrent: %v", srv.name, rm)
	}
	// The session is over: the data removed with the torrent is gone
	// from disk, the magnet's (removed without) is there.
	waitFor(t, srv.name+": removed with data", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(cfg.MoveDir, "multi"))
		return os.IsNotExist(err)
	})
	if cfg.WaitMagnet {
		sameFiles(t, srv, sw.single, cfg.DownloadDir)
	}
}

// sameHashes compares the sha256 (hex) of the files a client script found
// on disk with tr's source, as sameFiles does.
func sameHashes(t *testing.T, srv *server, what string, tr *enginetest.Torrent, got map[string]string) {
	t.Helper()
	want := enginetest.Hashes(t, tr.Root, tr.Name)
	for p, h := range want {
		g, ok := got[p]
		switch {
		case !ok && srv.name == transmission && h == sha256.Sum256(nil):
		case !ok:
			t.Errorf("%s: %s: %s is not on disk", srv.name, what, p)
		case g != hex.EncodeToString(h[:]):
			t.Errorf("%s: %s: %s differs from the source", srv.name, what, p)
		}
	}
	if len(got) > len(want) {
		t.Errorf("%s: %s: files %v, want those of %s", srv.name, what, slices.Sorted(maps.Keys(got)), tr.Name)
	}
}
