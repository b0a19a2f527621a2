package transmission

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/lodestone-bt/lodestone/api"
)

func decodeJSON(raw json.RawMessage, v any) error { return json.Unmarshal(raw, v) }

func (h *Handler) torrentGet(_ context.Context, a args) (map[string]any, error) {
	fields, ok, err := a.strs("fields")
	if err != nil {
		return nil, err
	}
	if !ok || len(fields) == 0 {
		return nil, badArgs("no fields specified")
	}
	format, _, err := a.str("format")
	if err != nil {
		return nil, err
	}
	switch format {
	case "", "objects", "table":
	default:
		return nil, invalid("format", `"objects" or "table"`)
	}
	sel, err := h.selected(a)
	if err != nil {
		return nil, err
	}
	set, err := h.svc.Settings()
	if err != nil {
		return nil, err
	}
	// Each name as it was asked (the reply's key in the legacy
	// protocol, so "fileCount" and "file-count" both answer; JSON-RPC's
	// keys are turned into snake_case). Names Lodestone does not serve are left out, as
	// Transmission leaves out names it does not know.
	var names, keys []string
	seen := map[string]bool{}
	for _, f := range fields {
		n := snake(f)
		if !servedFields[n] || seen[f] {
			continue
		}
		seen[f] = true
		names, keys = append(names, n), append(keys, f)
	}
	out := map[string]any{}
	if format == "table" {
		rows := []any{keyRow(keys)}
		for _, t := range sel.tasks {
			tv := h.view(t, sel.ids[t.TaskID], set)
			row := make([]any, len(names))
			for i, n := range names {
				row[i] = tv.field(n)
			}
			rows = append(rows, row)
		}
		out["torrents"] = rows
	} else {
		ts := make([]map[string]any, 0, len(sel.tasks))
		for _, t := range sel.tasks {
			tv := h.view(t, sel.ids[t.TaskID], set)
			m := make(map[string]any, len(names))
			for i, n := range names {
				m[keys[i]] = tv.field(n)
			}
			ts = append(ts, m)
		}
		out["torrents"] = ts
	}
	if sel.recent {
		out["removed"] = sel.removed
	}
	return out, nil
}

// servedFields are the torrent-get fields served, in snake_case.
var servedFields = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`activity_date added_date bandwidth_priority comment corrupt_ever
		creator date_created desired_available done_date download_dir downloaded_ever download_limit
		download_limited edit_date error error_string eta eta_idle file_count files file_stats group
		hash_string have_unchecked have_valid honors_session_limits id is_finished is_private is_stalled
		labels left_until_done magnet_link manual_announce_time max_connected_peers metadata_percent_complete name peer_limit peers
		peers_connected peers_from peers_getting_from_us peers_sending_to_us percent_complete percent_done
		pieces piece_count piece_size priorities primary_mime_type queue_position rate_download rate_upload
		recheck_progress seconds_downloading seconds_seeding seed_idle_limit seed_idle_mode seed_ratio_limit
		seed_ratio_mode sequential_download size_when_done start_date status torrent_file total_size
		trackers tracker_list tracker_stats uploaded_ever upload_limit upload_limited upload_ratio wanted
		webseeds webseeds_sending_to_us`) {
		servedFields[n] = true
	}
}

// taskView computes the fields of one task, fetching its files, peers,
// trackers and pieces from the service only when a field needs them.
type taskView struct {
	h   *Handler
	t   api.Task
	id  int
	set api.Settings

	files    *[]api.TaskFile
	peers    *[]api.TaskPeer
	trackers *[]api.TaskTracker
}

func (h *Handler) view(t api.Task, id int, set api.Settings) *taskView {
	return &taskView{h: h, t: t, id: id, set: set}
}

func (v *taskView) fileList() []api.TaskFile {
	if v.files == nil {
		fs, _ := v.h.svc.Files(v.t.TaskID) // a task removed meanwhile has none
		v.files = &fs.Files
	}
	return *v.files
}

func (v *taskView) peerList() []api.TaskPeer {
	if v.peers == nil {
		ps, _ := v.h.svc.Peers(v.t.TaskID)
		v.peers = &ps.Peers
	}
	return *v.peers
}

func (v *taskView) trackerList() []api.TaskTracker {
	if v.trackers == nil {
		ts, _ := v.h.svc.Trackers(v.t.TaskID)
		v.trackers = &ts.Trackers
	}
	return *v.trackers
}

// wantedBytes returns the size of the wanted files and how much of them
// is verified: Transmission's sizeWhenDone and haveValid.
func (v *taskView) wantedBytes() (size, have int64) {
	fs := v.fileList()
	if len(fs) == 0 {
		return v.t.Size, v.t.Completed
	}
	for _, f := range fs {
		if f.Priority != api.PrioritySkip {
			size += f.Size
			have += f.Completed
		}
	}
	return size, have
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

// priority is Transmission's priority number of a Lodestone priority
// (tr_priority_t: -1 low, 0 normal, 1 high); Lodestone has no low.
func priority(p string) int {
	if p == api.PriorityHigh {
		return 1
	}
	return 0
}

// field returns the value of the field named n (snake_case, served).
func (v *taskView) field(n string) any {
	t := v.t
	switch n {
	case "id":
		return v.id
	case "hash_string":
		return t.TaskID
	case "name":
		return t.Name
	case "download_dir":
		return t.DownloadDir
	case "total_size":
		return t.Size
	case "size_when_done":
		size, _ := v.wantedBytes()
		return size
	case "left_until_done":
		size, have := v.wantedBytes()
		return max(size-have, 0)
	case "desired_available":
		// What is left of the wanted files; Lodestone does not count
		// which of it the connected peers have, so this assumes all.
		size, have := v.wantedBytes()
		return max(size-have, 0)
	case "have_valid":
		return t.Completed
	case "have_unchecked", "corrupt_ever", "webseeds_sending_to_us", "bandwidth_priority",
		"date_created", "manual_announce_time", "start_date", "edit_date":
		// Facts Lodestone does not keep: Transmission's "none".
		return 0
	case "comment", "creator", "group", "torrent_file":
		return ""
	case "percent_done":
		size, have := v.wantedBytes()
		if size <= 0 {
			return 0.0
		}
		return float64(have) / float64(size)
	case "percent_complete":
		if t.Size <= 0 {
			return 0.0
		}
		return float64(t.Completed) / float64(t.Size)
	case "metadata_percent_complete":
		if t.State == api.StateMetadata || t.Pieces == 0 {
			return 0.0
		}
		return 1.0
	case "recheck_progress":
		if t.State != api.StateChecking || t.Size <= 0 {
			return 0.0
		}
		return float64(t.Completed) / float64(t.Size)
	case "is_finished":
		return t.State == api.StateFinished
	case "is_stalled":
		return false
	case "is_private":
		return isPrivate(t)
	case "eta":
		// Transmission: -1 not available, -2 unknown.
		e := t.ETASeconds
		if e < 0 {
			e = -1
			if t.State == api.StateDownloading {
				e = -2
			}
		}
		return e
	case "eta_idle":
		return -1
	case "status":
		return status(t)
	case "error":
		if t.State == api.StateError {
			return errLocal
		}
		return 0
	case "error_string":
		return t.Error
	case "rate_download":
		return t.DownloadRate
	case "rate_upload":
		return t.UploadRate
	case "uploaded_ever":
		return t.Uploaded
	case "downloaded_ever":
		return t.Downloaded
	case "upload_ratio":
		return t.Ratio
	case "added_date":
		return unix(t.AddedAt)
	case "done_date":
		return unix(t.FinishedAt)
	case "activity_date":
		return unix(activeAt(t))
	case "seconds_downloading":
		return secondsDownloading(t)
	case "seconds_seeding":
		return secondsSeeding(t)
	case "labels":
		if t.Labels == nil {
			return []string{}
		}
		return t.Labels
	case "piece_count":
		return t.Pieces
	case "piece_size":
		return t.PieceSize
	case "pieces":
		p, _ := v.h.svc.Pieces(t.TaskID)
		return p.Have
	case "queue_position":
		return queuePosition(t)
	case "magnet_link":
		return "magnet:?xt=urn:btih:" + t.TaskID + "&dn=" + url.QueryEscape(t.Name)
	case "download_limit":
		return v.h.limitKB("task_down/"+t.TaskID, t.DownloadRateLimit)
	case "download_limited":
		return t.DownloadRateLimit > 0
	case "upload_limit":
		return v.h.limitKB("task_up/"+t.TaskID, t.UploadRateLimit)
	case "upload_limited":
		return t.UploadRateLimit > 0
	case "honors_session_limits":
		return true
	case "peer_limit", "max_connected_peers":
		return v.h.peers
	case "sequential_download":
		return t.Sequential
	case "seed_ratio_mode":
		return seedRatioMode(t)
	case "seed_ratio_limit":
		return seedRatioLimit(t, v.set)
	case "seed_idle_mode":
		return seedIdleMode(t)
	case "seed_idle_limit":
		return seedIdleLimit(t, v.set)
	case "file_count":
		return len(v.fileList())
	case "files":
		fs := v.fileList()
		out := make([]map[string]any, len(fs))
		for i, f := range fs {
			out[i] = map[string]any{"bytesCompleted": f.Completed, "length": f.Size, "name": f.Path}
		}
		return out
	case "file_stats":
		fs := v.fileList()
		out := make([]map[string]any, len(fs))
		for i, f := range fs {
			out[i] = map[string]any{"bytesCompleted": f.Completed, "wanted": f.Priority != api.PrioritySkip, "priority": priority(f.Priority)}
		}
		return out
	case "wanted":
		fs := v.fileList()
		out := make([]int, len(fs))
		for i, f := range fs {
			if f.Priority != api.PrioritySkip {
				out[i] = 1
			}
		}
		return out
	case "priorities":
		fs := v.fileList()
		out := make([]int, len(fs))
		for i, f := range fs {
			out[i] = priority(f.Priority)
		}
		return out
	case "primary_mime_type":
		return primaryMIME(v.fileList())
	case "webseeds":
		return []string{}
	case "peers":
		return peersField(v.peerList())
	case "peers_connected":
		return t.Peers
	case "peers_getting_from_us":
		n := 0
		for _, p := range v.peerList() {
			if p.UploadRate > 0 {
				n++
			}
		}
		return n
	case "peers_sending_to_us":
		n := 0
		for _, p := range v.peerList() {
			if p.DownloadRate > 0 {
				n++
			}
		}
		return n
	case "peers_from":
		return peersFrom(v.peerList())
	case "trackers":
		ts := v.trackerList()
		out := make([]map[string]any, len(ts))
		for i, tr := range ts {
			out[i] = map[string]any{"id": i, "announce": tr.URL, "scrape": scrapeURL(tr.URL), "tier": i, "sitename": sitename(tr.URL)}
		}
		return out
	case "tracker_list":
		var b strings.Builder
		for i, tr := range v.trackerList() {
			if i > 0 {
				b.WriteString("\n\n") // each its own tier
			}
			b.WriteString(tr.URL)
		}
		return b.String()
	case "tracker_stats":
		return trackerStats(v.trackerList())
	}
	return nil
}
