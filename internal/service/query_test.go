package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/engine"
)

func TestAddErrors(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name string
		p    api.TaskAddParams
		want error
	}{
		{"no type", api.TaskAddParams{Data: "x"}, ErrInvalidParams},
		{"unknown type", api.TaskAddParams{Type: "ftp", Data: "x"}, ErrInvalidParams},
		{"empty torrent", api.TaskAddParams{Type: api.TaskTypeTorrent}, ErrBadTorrent},
		{"not base64", api.TaskAddParams{Type: api.TaskTypeTorrent, Data: "%%%"}, ErrBadTorrent},
		{"not a torrent", api.TaskAddParams{Type: api.TaskTypeTorrent, Data: "aGVsbG8="}, ErrBadTorrent},
		{"bad magnet", api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:zz"}, ErrBadMagnet},
		{"URL tasks disabled", api.TaskAddParams{Type: api.TaskTypeURL, Data: "http://example.com/a.torrent"}, ErrInvalidParams},
		{"URL not http", api.TaskAddParams{Type: api.TaskTypeURL, Data: "file:///etc/passwd"}, ErrInvalidParams},
		{"empty label", api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:4444444444444444444444444444444444444444", Labels: []string{" "}}, ErrInvalidParams},
		{"dir outside the roots", api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:4444444444444444444444444444444444444444", DownloadDir: "/"}, ErrInvalidParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.svc.Add(context.Background(), tt.p); !errors.Is(err, tt.want) {
				t.Errorf("add: %v, want %v", err, tt.want)
			}
		})
	}
	if tasks, _ := h.st.Tasks(); len(tasks) != 0 {
		t.Errorf("refused adds stored %d tasks", len(tasks))
	}
	// An add the store refuses is not acknowledged.
	h.st.failNext(errors.New("disk on fire"))
	if _, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:4444444444444444444444444444444444444444"}); err == nil {
		t.Error("add acknowledged though the store failed")
	}
	if got := h.svc.List(ListFilter{}); len(got) != 0 {
		t.Errorf("a refused add is listed: %v", got)
	}
}

func TestAddTwiceReturnsTheTask(t *testing.T) {
	h := newHarness(t)
	id, _ := h.addTorrent("d.bin", 1<<20, api.TaskAddParams{})
	res, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:" + id + "&tr=http://127.0.0.1:1/announce"})
	if err != nil || res.TaskID != id || res.Name != "d.bin" {
		t.Fatalf("second add: %+v, %v", res, err)
	}
	if evs := h.drain(); slices.Contains(names(evs[1:]), api.EventTaskAdded) {
		t.Errorf("a second task.added: %v", names(evs))
	}
}

func TestListFilesAndPriorities(t *testing.T) {
	h := newHarness(t)
	a, _ := h.addTorrent("a.bin", 1<<20, api.TaskAddParams{Labels: []string{"tv", "tv", " hd "}})
	b, _ := h.addTorrent("b.bin", 1<<20, api.TaskAddParams{Paused: true})
	if got := h.svc.List(ListFilter{}); len(got) != 2 || got[0].TaskID != a || got[1].TaskID != b {
		t.Errorf("list: %v", got)
	}
	if got := h.svc.List(ListFilter{Label: "hd"}); len(got) != 1 || got[0].TaskID != a || !slices.Equal(got[0].Labels, []string{"tv", "hd"}) {
		t.Errorf("list by label: %+v", got)
	}
	if got := h.svc.List(ListFilter{State: api.StatePaused}); len(got) != 1 || got[0].TaskID != b {
		t.Errorf("list paused: %+v", got)
	}
	if _, err := h.svc.SetCategory(api.Category{Name: "films"}); err != nil {
		t.Fatal(err)
	}
	film := "films"
	if _, err := h.svc.Set(b, api.TaskSetParams{Category: &film}); err != nil {
		t.Fatal(err)
	}
	if got := h.svc.List(ListFilter{Category: "films"}); len(got) != 1 || got[0].TaskID != b {
		t.Errorf("list by category: %+v", got)
	}
	if got := h.svc.List(ListFilter{Category: "films", Label: "tv"}); len(got) != 0 {
		t.Errorf("list by category and label: %+v", got)
	}
	// A magnet with a file selection gets it once the metadata arrives.
	res, err := h.svc.Add(context.Background(), api.TaskAddParams{Type: api.TaskTypeMagnet, Data: "magnet:?xt=urn:btih:5555555555555555555555555555555555555555", Files: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	ft := h.eng.torrent(res.TaskID)
	if files, _ := h.svc.Files(res.TaskID); len(files.Files) != 0 {
		t.Errorf("files before the metadata: %v", files)
	}
	ft.giveInfo(engine.FileStat{Path: "m/a", Size: 10}, engine.FileStat{Path: "m/b", Size: 20}, engine.FileStat{Path: "m/c", Size: 30})
	waitFor(h, func() bool { return h.state(res.TaskID) == api.StateDownloading })
	files, err := h.svc.Files(res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	var prios []string
	for _, f := range files.Files {
		prios = append(prios, f.Priority)
	}
	if !slices.Equal(prios, []string{api.PrioritySkip, api.PriorityNormal, api.PrioritySkip}) {
		t.Errorf("priorities %v", prios)
	}
	got := ft.prios
	if got[0] != engine.PrioritySkip || got[2] != engine.PrioritySkip {
		t.Errorf("engine priorities %v", got)
	}
	// Only the wanted file counts for done.
	ft.complete(1)
	h.poll()
	if s := h.state(res.TaskID); s != api.StateSeeding {
		t.Errorf("state %s with its one wanted file done, want seeding", s)
	}
	// Wanting another file makes it download again.
	h.drain()
	if _, err := h.svc.Set(res.TaskID, api.TaskSetParams{FilePriorities: map[int]string{0: api.PriorityNormal}}); err != nil {
		t.Fatal(err)
	}
	if got := stateEvents(t, h.drain(), res.TaskID); !slices.Equal(got, []string{"seeding>downloading"}) {
		t.Errorf("wanting more sent %v, want seeding>downloading at once", got)
	}
	if p, err := h.svc.Pieces(res.TaskID); err != nil || p.Pieces != 0 {
		t.Errorf("pieces: %+v, %v", p, err)
	}
	if _, err := h.svc.Files("nope"); !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("files of no task: %v", err)
	}
	if _, err := h.svc.Get(""); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("get without id: %v", err)
	}
}

func TestTrackers(t *testing.T) {
	h := newHarness(t)
	id, ft := h.addTorrent("tr.bin", 1<<20, api.TaskAddParams{})
	if _, err := h.svc.AddTrackers(id, []string{"http://tracker.example/announce", " udp://tracker.example:80 "}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.AddTrackers(id, []string{"ftp://x"}); !errors.Is(err, ErrInvalidParams) {
		t.Errorf("bad tracker: %v", err)
	}
	res, err := h.svc.RemoveTrackers(id, []string{"http://tracker.example/announce"})
	if err != nil || len(res.Trackers) != 1 || res.Trackers[0].URL != "udp://tracker.example:80" || res.Trackers[0].Status != "not_contacted" {
		t.Fatalf("after remove: %+v, %v", res, err)
	}
	rec, _ := h.st.task(id)
	if !slices.Equal(rec.Trackers, []string{"udp://tracker.example:80"}) || !slices.Equal(ft.trackers, rec.Trackers) {
		t.Errorf("stored %v, engine %v", rec.Trackers, ft.trackers)
	}
	if peers, err := h.svc.Peers(id); err != nil || len(peers.Peers) != 0 {
		t.Errorf("peers: %v %v", peers, err)
	}
}

func TestSettingsErrors(t *testing.T) {
	h := newHarness(t)
	for _, p := range []api.SessionSetParams{
		{DownloadRateLimit: ptr(int64(-1))},
		{MaxActiveSeeds: ptr(-1)},
		{SeedRatioLimit: ptr(-0.5)},
		{SeedTimeLimit: ptr(int64(-1))},
		{PeerPort: ptr(70000)},
		{DownloadDir: ptr("/")},
	} {
		if _, err := h.svc.SetSettings(p); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("session.set %+v: %v, want ErrInvalidParams", p, err)
		}
	}
	got, err := h.svc.SetSettings(api.SessionSetParams{PeerPort: ptr(51413), DownloadDir: ptr("sub")})
	if err != nil || got.PeerPort != 51413 || got.DownloadDir != filepath.Join(h.dir, "sub") {
		t.Fatalf("session.set: %+v, %v", got, err)
	}
	// New tasks go to the new default dir.
	id, _ := h.addTorrent("n.bin", 1<<20, api.TaskAddParams{})
	if tk, _ := h.svc.Get(id); tk.DownloadDir != filepath.Join(h.dir, "sub") {
		t.Errorf("new task in %s", tk.DownloadDir)
	}
	info, err := h.svc.Info()
	if err != nil || info.APIVersion != api.Version || info.LastEventID == "" {
		t.Errorf("info %+v, %v", info, err)
	}
}

// TestRunPublishesAlertsAndPolls runs the service's own loop.
func TestRunPublishesAlertsAndPolls(t *testing.T) {
	h := newHarness(t)
	h.svc.tick = 10 * time.Millisecond
	id, ft := h.addTorrent("run.bin", 1<<20, api.TaskAddParams{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	h.eng.alerts <- engine.Alert{TaskID: id, Level: api.LevelWarning, Message: "tracker says no"}
	ft.complete()
	waitFor(h, func() bool { return h.state(id) == api.StateSeeding })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if evs := h.drain(); !slices.Contains(names(evs), api.EventEngineAlert) || !slices.Contains(names(evs), api.EventTaskFinished) {
		t.Errorf("events %v", names(evs))
	}
}

func TestMoveFilesAndCopy(t *testing.T) {
	from, to := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(from, "d", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"d/a", "d/e/b"} {
		if err := os.WriteFile(filepath.Join(from, p), []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var moved []string
	rel := []string{"d/a", "d/e/b", "d/missing"}
	err := moveFiles(context.Background(), rel, from, to, false, func(n int) { moved = append(moved, rel[n-1]) })
	if err != nil || !slices.Equal(moved, rel) {
		t.Fatalf("moved %v, %v", moved, err)
	}
	removeEmptyParents(moved, from)
	if _, err := os.Stat(filepath.Join(from, "d")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty dirs left behind: %v", err)
	}
	// A file in the way stops the move.
	if err := moveFiles(context.Background(), []string{"d/a"}, to, to, false, nil); err == nil {
		t.Error("moved onto an existing file")
	}
	// A copy (what a move across filesystems does) is whole or absent.
	dst := filepath.Join(from, "copy")
	if err := copyFile(context.Background(), filepath.Join(to, "d/e/b"), dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "d/e/b" {
		t.Errorf("copy holds %q, %v", b, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := copyFile(ctx, filepath.Join(to, "d/a"), filepath.Join(from, "stopped")); err == nil {
		t.Error("a stopped copy succeeded")
	}
	if _, err := os.Stat(filepath.Join(from, "stopped")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a stopped copy left its file: %v", err)
	}
	if err := moveFiles(ctx, []string{"d/a"}, to, from, false, nil); err == nil {
		t.Error("a stopped move succeeded")
	}
	// Nothing outside the root is deleted.
	if err := deleteFiles([]string{"../x"}, to); err == nil {
		t.Error("deleted outside the root")
	}
}
