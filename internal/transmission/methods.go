package transmission

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
	"github.com/lodestone-bt/lodestone/internal/service"
)

func (h *Handler) sessionGet(_ context.Context, _ json.RawMessage) (any, error) {
	set, err := h.svc.Settings()
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"rpc-version":              RPCVersion,
		"rpc-version-minimum":      RPCVersionMinimum,
		"rpc-version-semver":       "5.3.0",
		"version":                  Version,
		"session-id":               h.session,
		"download-dir":             set.DownloadDir,
		"peer-port":                set.PeerPort,
		"speed-limit-down":         set.DownloadRateLimit / 1000,
		"speed-limit-down-enabled": set.DownloadRateLimit > 0,
		"speed-limit-up":           set.UploadRateLimit / 1000,
		"speed-limit-up-enabled":   set.UploadRateLimit > 0,
		"seedRatioLimit":           set.SeedRatioLimit,
		"seedRatioLimited":         set.SeedRatioLimit > 0,
		// Lodestone's seed time limit stops a task after that long
		// seeding, where Transmission's idle limit stops it after that
		// long without upload: the nearest key, and what Sonarr reads
		// to know a stopped task has done seeding.
		"idle-seeding-limit":         minutes(set.SeedTimeLimit),
		"idle-seeding-limit-enabled": set.SeedTimeLimit > 0,
		"download-queue-size":        set.MaxActiveDownloads,
		"download-queue-enabled":     set.MaxActiveDownloads > 0,
		"seed-queue-size":            set.MaxActiveSeeds,
		"seed-queue-enabled":         set.MaxActiveSeeds > 0,
	}, nil
}

// addArgs are torrent-add's arguments.
type addArgs struct {
	Filename    string   `json:"filename"`
	Metainfo    string   `json:"metainfo"`
	DownloadDir string   `json:"download-dir"`
	Paused      bool     `json:"paused"`
	Labels      []string `json:"labels"`
}

func (h *Handler) torrentAdd(ctx context.Context, raw json.RawMessage) (any, error) {
	var a addArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, badArgs("torrent-add: invalid arguments: %v", err)
	}
	p := api.TaskAddParams{Paused: a.Paused, Labels: a.Labels, DownloadDir: a.DownloadDir}
	switch {
	case a.Metainfo != "":
		p.Type, p.Data = api.TaskTypeTorrent, a.Metainfo
	case strings.HasPrefix(strings.ToLower(a.Filename), "magnet:"):
		p.Type, p.Data = api.TaskTypeMagnet, a.Filename
	case strings.HasPrefix(strings.ToLower(a.Filename), "http://"), strings.HasPrefix(strings.ToLower(a.Filename), "https://"):
		p.Type, p.Data = api.TaskTypeURL, a.Filename
	case a.Filename != "":
		// Transmission also reads a file on its own disk; an RPC client
		// must not make the daemon read its local files.
		return nil, badArgs("torrent-add: filename must be a magnet link or an http(s) URL")
	default:
		return nil, badArgs("no filename or metainfo specified")
	}
	// The service answers a duplicate add with the task it has; whether
	// it had it is told by the tasks before the add (a task added through
	// the WebSocket API may have no id yet, so the id table cannot tell).
	before := h.svc.List(service.ListFilter{})
	res, err := h.svc.Add(ctx, p)
	if err != nil {
		return nil, err
	}
	dup := slices.ContainsFunc(before, func(t api.Task) bool { return t.TaskID == res.TaskID })
	ids, err := h.ids.assign([]string{res.TaskID}, nil)
	if err != nil {
		return nil, err
	}
	key := "torrent-added"
	if dup {
		key = "torrent-duplicate"
	}
	return map[string]any{key: map[string]any{
		"id": ids[res.TaskID], "hashString": res.TaskID, "name": res.Name,
	}}, nil
}

// idsArgs are the ids argument shared by the torrent methods.
type idsArgs struct {
	IDs json.RawMessage `json:"ids"`
}

// selected returns the tasks named by an ids argument (absent: all; a
// number; a hash; "recently-active"; an array of numbers and hashes),
// with their ids, oldest first.
func (h *Handler) selected(raw json.RawMessage) ([]api.Task, map[string]int, error) {
	var a idsArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, nil, badArgs("invalid arguments: %v", err)
	}
	all := h.svc.List(service.ListFilter{})
	names := make([]string, len(all))
	live := make(map[string]bool, len(all))
	for i, t := range all {
		names[i] = t.TaskID
		live[t.TaskID] = true
	}
	ids, err := h.ids.assign(names, func(task string) bool { return live[task] })
	if err != nil {
		return nil, nil, err
	}
	if len(a.IDs) == 0 || string(a.IDs) == "null" {
		return all, ids, nil
	}
	var list []json.RawMessage
	if a.IDs[0] == '[' {
		if err := json.Unmarshal(a.IDs, &list); err != nil {
			return nil, nil, badArgs("invalid ids: %v", err)
		}
	} else {
		list = []json.RawMessage{a.IDs}
	}
	wantID := map[int]bool{}
	wantHash := map[string]bool{}
	for _, v := range list {
		var n int
		var s string
		switch {
		case json.Unmarshal(v, &n) == nil:
			wantID[n] = true
		case json.Unmarshal(v, &s) == nil:
			if s == "recently-active" {
				// Transmission picks tasks active in the last minute;
				// every task is a superset a client handles the same.
				return all, ids, nil
			}
			wantHash[strings.ToLower(s)] = true
		default:
			return nil, nil, badArgs("invalid ids: %s", v)
		}
	}
	var out []api.Task
	for _, t := range all {
		if wantID[ids[t.TaskID]] || wantHash[t.TaskID] {
			out = append(out, t)
		}
	}
	return out, ids, nil
}

// each runs op on every selected task. A task removed meanwhile is
// skipped, as Transmission skips ids it does not know.
func (h *Handler) each(raw json.RawMessage, op func(id string) error) (any, error) {
	ts, _, err := h.selected(raw)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if err := op(t.TaskID); err != nil && !errors.Is(err, service.ErrTaskNotFound) {
			return nil, err
		}
	}
	return nil, nil
}

func (h *Handler) torrentStart(ctx context.Context, raw json.RawMessage) (any, error) {
	return h.each(raw, func(id string) error { return h.svc.Resume(ctx, id) })
}

func (h *Handler) torrentStop(ctx context.Context, raw json.RawMessage) (any, error) {
	return h.each(raw, func(id string) error { return h.svc.Pause(ctx, id) })
}

func (h *Handler) torrentVerify(ctx context.Context, raw json.RawMessage) (any, error) {
	return h.each(raw, func(id string) error { return h.svc.Recheck(ctx, id) })
}

func (h *Handler) torrentRemove(ctx context.Context, raw json.RawMessage) (any, error) {
	var a struct {
		DeleteLocalData bool `json:"delete-local-data"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, badArgs("invalid arguments: %v", err)
	}
	return h.each(raw, func(id string) error { return h.svc.Remove(ctx, id, a.DeleteLocalData) })
}

func (h *Handler) torrentGet(_ context.Context, raw json.RawMessage) (any, error) {
	var a struct {
		Fields []string `json:"fields"`
		Format string   `json:"format"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, badArgs("invalid arguments: %v", err)
	}
	if len(a.Fields) == 0 {
		return nil, badArgs("no fields specified")
	}
	ts, ids, err := h.selected(raw)
	if err != nil {
		return nil, err
	}
	set, err := h.svc.Settings()
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ts))
	for _, t := range ts {
		out = append(out, h.fields(t, ids[t.TaskID], set, a.Fields))
	}
	return map[string]any{"torrents": out}, nil
}

// Transmission's status codes (tr_torrent_activity).
const (
	statusStopped      = 0
	statusCheckWait    = 1
	statusChecking     = 2
	statusDownloadWait = 3
	statusDownloading  = 4
	statusSeedWait     = 5
	statusSeeding      = 6
)

// status maps a Lodestone state to Transmission's status. A magnet
// fetching its metadata is downloading, as in Transmission; a finished,
// paused or failed task is stopped (the failure is in error).
func status(t api.Task) int {
	switch t.State {
	case api.StateChecking:
		return statusChecking
	case api.StateMetadata, api.StateDownloading:
		return statusDownloading
	case api.StateSeeding:
		return statusSeeding
	case api.StateQueued:
		if t.Size > 0 && t.Completed == t.Size {
			return statusSeedWait
		}
		return statusDownloadWait
	}
	return statusStopped
}

// Transmission's error codes (tr_stat_errtype): Lodestone's task errors
// are all the daemon's own, so "local error".
const errLocal = 3

func unix(ts string) int64 {
	if ts == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return 0
	}
	return t.Unix()
}

// fields returns the asked fields of t that Lodestone has; others are
// left out, as Transmission leaves out names it does not know.
func (h *Handler) fields(t api.Task, id int, set api.Settings, names []string) map[string]any {
	m := make(map[string]any, len(names))
	for _, n := range names {
		var v any
		switch n {
		case "id":
			v = id
		case "hashString":
			v = t.TaskID
		case "name":
			v = t.Name
		case "downloadDir":
			v = t.DownloadDir
		case "totalSize", "sizeWhenDone":
			v = t.Size
		case "leftUntilDone":
			v = t.Size - t.Completed
		case "haveValid":
			v = t.Completed
		case "percentDone":
			p := 0.0
			if t.Size > 0 {
				p = float64(t.Completed) / float64(t.Size)
			}
			v = p
		case "isFinished":
			v = t.State == api.StateFinished
		case "eta":
			// Transmission: -1 not available, -2 unknown.
			e := t.ETASeconds
			if e < 0 {
				e = -1
				if t.State == api.StateDownloading {
					e = -2
				}
			}
			v = e
		case "status":
			v = status(t)
		case "error":
			e := 0
			if t.State == api.StateError {
				e = errLocal
			}
			v = e
		case "errorString":
			v = t.Error
		case "rateDownload":
			v = t.DownloadRate
		case "rateUpload":
			v = t.UploadRate
		case "uploadedEver":
			v = t.Uploaded
		case "downloadedEver":
			v = t.Downloaded
		case "uploadRatio":
			v = t.Ratio
		case "addedDate":
			v = unix(t.AddedAt)
		case "doneDate":
			v = unix(t.FinishedAt)
		case "labels":
			l := t.Labels
			if l == nil {
				l = []string{}
			}
			v = l
		case "peersConnected":
			v = t.Peers
		case "pieceCount":
			v = t.Pieces
		case "pieceSize":
			v = t.PieceSize
		case "queuePosition":
			v = id
		case "isStalled":
			v = false
		case "magnetLink":
			v = "magnet:?xt=urn:btih:" + t.TaskID
		case "downloadLimit":
			v = t.DownloadRateLimit / 1000
		case "downloadLimited":
			v = t.DownloadRateLimit > 0
		case "uploadLimit":
			v = t.UploadRateLimit / 1000
		case "uploadLimited":
			v = t.UploadRateLimit > 0
		case "seedRatioMode", "seedIdleMode":
			// Lodestone's seed limits are the session's: Transmission's
			// mode 0, "follow the session".
			v = 0
		case "seedRatioLimit":
			v = set.SeedRatioLimit
		case "seedIdleLimit":
			v = minutes(set.SeedTimeLimit)
		case "fileCount", "file-count", "files", "fileStats":
			fs, err := h.svc.Files(t.TaskID)
			if err != nil {
				continue
			}
			v = fileField(n, fs.Files)
		default:
			continue
		}
		m[n] = v
	}
	return m
}

// fileField renders a task's files as Transmission's files, fileStats or
// fileCount.
func fileField(name string, fs []api.TaskFile) any {
	if name == "fileCount" || name == "file-count" {
		return len(fs)
	}
	out := make([]map[string]any, len(fs))
	for i, f := range fs {
		prio := 0
		if f.Priority == "high" {
			prio = 1
		}
		e := map[string]any{"bytesCompleted": f.Completed, "wanted": f.Priority != "skip", "priority": prio}
		if name == "files" {
			e = map[string]any{"bytesCompleted": f.Completed, "length": f.Size, "name": f.Path}
		}
		out[i] = e
	}
	return out
}

// minutes rounds seconds up to whole minutes, Transmission's unit of seed
// limits, so that a limit is never reported shorter than it is.
func minutes(seconds int64) int64 { return (seconds + 59) / 60 }
