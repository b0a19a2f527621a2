package transmission

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/httpguard"
	"github.com/lodestone-bt/lodestone/internal/service"
	"github.com/lodestone-bt/lodestone/internal/store"
)

// twin is an in-memory stand-in for the service with one task, so that
// every method runs its translation past the argument checks. What it
// does is not under test here: only that no body makes the RPC panic.
type twin struct{ task api.Task }

var errTwin = errors.New("twin: refused")

func (s *twin) Add(context.Context, api.TaskAddParams) (api.TaskAddResult, error) {
	return api.TaskAddResult{TaskID: s.task.TaskID, Name: s.task.Name}, nil
}
func (s *twin) Get(id string) (api.Task, error) {
	if id != s.task.TaskID {
		return api.Task{}, service.ErrTaskNotFound
	}
	return s.task, nil
}
func (s *twin) List(service.ListFilter) []api.Task              { return []api.Task{s.task} }
func (s *twin) Pause(context.Context, string) error             { return nil }
func (s *twin) Resume(context.Context, string) error            { return nil }
func (s *twin) Recheck(context.Context, string) error           { return nil }
func (s *twin) Remove(context.Context, string, bool) error      { return nil }
func (s *twin) Reannounce(context.Context, string) error        { return nil }
func (s *twin) QueueMove(string, string) (api.Task, error)      { return s.task, nil }
func (s *twin) Move(string, string) (api.Task, error)           { return api.Task{}, errTwin }
func (s *twin) Set(string, api.TaskSetParams) (api.Task, error) { return s.task, nil }
func (s *twin) Files(string) (api.TaskFilesResult, error) {
	return api.TaskFilesResult{Files: []api.TaskFile{{Index: 0, Path: "a/b", Size: 10, Priority: "normal"}, {Index: 1, Path: "a/c.mkv", Size: 20, Priority: "skip"}}}, nil
}
func (s *twin) Pieces(string) (api.TaskPiecesResult, error) {
	return api.TaskPiecesResult{Pieces: 1, Have: "gA=="}, nil
}
func (s *twin) Peers(string) (api.TaskPeersResult, error) {
	return api.TaskPeersResult{Peers: []api.TaskPeer{{Address: "127.0.0.1:1", Source: "dht", Flags: []string{"utp"}}, {Address: "bad"}}}, nil
}
func (s *twin) Trackers(string) (api.TaskTrackersResult, error) {
	return api.TaskTrackersResult{Trackers: []api.TaskTracker{{URL: "http://t.example.org/announce", Status: "working"}, {URL: "%zz"}}}, nil
}
func (s *twin) AddTrackers(string, []string) (api.TaskTrackersResult, error) { return s.Trackers("") }
func (s *twin) RemoveTrackers(string, []string) (api.TaskTrackersResult, error) {
	return s.Trackers("")
}
func (s *twin) Settings() (api.Settings, error)                        { return api.Settings{SeedRatioLimit: 2}, nil }
func (s *twin) SetSettings(api.SessionSetParams) (api.Settings, error) { return api.Settings{}, nil }
func (s *twin) DiskSpace(string) (int64, int64, error)                 { return 1, 2, nil }
func (s *twin) Stats() api.SessionStats                                { return api.SessionStats{} }
func (s *twin) Info() (api.ServerInfo, error)                          { return api.ServerInfo{UptimeSeconds: 5}, nil }

// FuzzServe feeds request bodies of both protocols through the whole
// dispatch: whatever the bytes, the answer is a reply (or none, for
// notifications), never a panic, and never a recovered one ("internal
// error").
func FuzzServe(f *testing.F) {
	for _, seed := range []string{
		`{"method":"torrent-get","arguments":{"fields":["id","files","peers","trackerStats","fileStats","wanted","priorities","pieces","primary-mime-type","percentDone"],"ids":"recently-active"}}`,
		`{"method":"torrent-set","arguments":{"ids":[1],"files-unwanted":[],"priority-high":[0],"trackerRemove":[1],"trackerReplace":[0,"http://x/announce"],"trackerList":"a\n\nb","downloadLimit":5,"seedRatioMode":1,"queuePosition":3}}`,
		`{"method":"session-set","arguments":{"speed-limit-down":1,"seedRatioLimited":true,"peer-port":1}}`,
		`{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:00","files-unwanted":[1]}}`,
		`{"method":"queue-move-top","arguments":{"ids":["abc",1]}}`,
		`[{"jsonrpc":"2.0","method":"torrent_get","params":{"fields":["id"],"format":"table"},"id":1},{"jsonrpc":"2.0","method":"session_stats"}]`,
		`{"jsonrpc":"2.0","method":"free_space","params":{"path":"/"},"id":"x"}`,
		`{"method":"torrent-set-location","arguments":{"location":"/x","move":false}}`,
		`[]`, `{`, `null`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	st, err := store.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	guard, err := httpguard.New(httpguard.Config{Token: "fuzz-token-fuzz-token-fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	h, err := New(Config{
		Service: &twin{task: api.Task{TaskID: "abc", Name: "a", Size: 30, State: api.StateDownloading, SeedRatioLimit: -2, SeedIdleLimit: 60}},
		IDs:     st, Guard: guard, DownloadDir: f.TempDir(),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reply := h.serve(httpguard.WithPrincipal(context.Background(), httpguard.Principal{ID: httpguard.TokenID, Scope: api.ScopeAdmin}), body)
		if reply == nil {
			return
		}
		b, err := json.Marshal(reply)
		if err != nil {
			t.Fatalf("reply does not encode: %v", err)
		}
		if json.Valid(b) && (bytesContains(b, `"result":"internal error"`) || bytesContains(b, `"code":-32603`)) {
			t.Fatalf("a recovered panic for %q: %s", body, b)
		}
	})
}

func bytesContains(b []byte, s string) bool { return strings.Contains(string(b), s) }
